import { readFile, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { digestHex, isDigest, type Digest } from "../image/digest.js";
import { familiarString, formatReference, normalizeTag, parseReference, repositoryName } from "../image/reference.js";
import { matchesAny, narrowIndex, platformOfConfig } from "../image/platform.js";
import type { ImageConfig, ImageManifest, Platform } from "../image/types.js";
import type { Store } from "./store.js";
import { PlatformMismatchError, StoreError } from "./errors.js";
import type { IndexRecord } from "./indexes.js";
import { tagKey } from "./refs.js";

/**
 * Garbage collection: layers and blobs that no image, cache entry or snapshot needs.
 * Unreferenced things younger than `graceMs` are kept unless named as candidates: another
 * process may be between committing a layer and creating the image that uses it.
 */
export interface GcResult {
  removedLayers: Digest[];
  removedBlobs: Digest[];
  reclaimedBytes: number;
}

export const GC_GRACE_MS = 10 * 60 * 1000;

interface Referenced { layers: Set<Digest>; blobs: Set<Digest> }

export async function referencedContent(store: Store): Promise<Referenced> {
  const layers = new Set<Digest>();
  const blobs = new Set<Digest>();
  for (const id of await store.images.listIds()) {
    try {
      const entry = JSON.parse(await readFile(store.images.entryPath(id), "utf8")) as { manifestDigest: Digest };
      blobs.add(id);
      blobs.add(entry.manifestDigest);
      const config = JSON.parse((await store.blobs.read(id)).toString("utf8")) as ImageConfig;
      for (const d of config.rootfs?.diff_ids ?? []) layers.add(d);
      const manifest = JSON.parse((await store.blobs.read(entry.manifestDigest)).toString("utf8")) as ImageManifest;
      for (const l of manifest.layers ?? []) blobs.add(l.digest);
    } catch {
      // a broken image keeps nothing alive; system check reports it
    }
  }
  // a multi-platform image's index (its images are image records, kept above)
  for (const index of (await store.indexes.list()).values()) blobs.add(index.digest);
  for (const c of await store.buildCache.list()) for (const d of c.entry.layers ?? []) layers.add(d);
  // a snapshot without owner.json is being created or half-removed
  for (const s of await store.snapshots.list()) for (const d of s.owner?.parents ?? []) layers.add(d);
  for (const l of await store.layers.listRecords()) if (layers.has(l.diffId)) for (const b of l.blobs) blobs.add(b.digest);
  return { layers, blobs };
}

export async function collectGarbage(store: Store, opts: { candidates?: Set<Digest>; graceMs?: number } = {}): Promise<GcResult> {
  const grace = opts.graceMs ?? GC_GRACE_MS;
  const candidates = opts.candidates ?? new Set<Digest>();
  const result: GcResult = { removedLayers: [], removedBlobs: [], reclaimedBytes: 0 };
  await store.locks.with("gc", async () => {
    const ref = await referencedContent(store);
    const now = Date.now();
    const old = async (path: string): Promise<boolean> => {
      const st = await stat(path).catch(() => undefined);
      return st === undefined || now - st.mtimeMs > grace;
    };
    await store.locks.with("layers", async () => {
      for (const l of await store.layers.listRecords()) {
        if (ref.layers.has(l.diffId)) continue;
        const recordPath = store.layers.recordPath(l.diffId);
        if (!candidates.has(l.diffId) && !(await old(recordPath))) {
          for (const b of l.blobs) ref.blobs.add(b.digest);
          continue;
        }
        await store.layers.remove(l);
        await store.buildCache.forgetPlaced(l.diffId);
        result.removedLayers.push(l.diffId);
        result.reclaimedBytes += l.size;
        for (const b of l.blobs) candidates.add(b.digest);
      }
    });
    for (const f of await readdir(store.blobs.dir)) {
      const d = `sha256:${f}`;
      if (!isDigest(d) || ref.blobs.has(d)) continue;
      const path = join(store.blobs.dir, f);
      if (!candidates.has(d) && !(await old(path))) continue;
      const st = await stat(path).catch(() => undefined);
      await rm(path, { force: true });
      result.removedBlobs.push(d);
      result.reclaimedBytes += st?.size ?? 0;
    }
  });
  return result;
}

export interface RemoveImageResult { untagged: string[]; deleted: Digest[] }

/**
 * `docker rmi` semantics: a tag untags (and deletes the image when it was its last tag); an ID
 * deletes the image unless it has several tags (then only with force); an image a container
 * uses is refused unless force. The tag of a multi-platform image (Docker's containerd store):
 * the tag and its index go, and with them each platform's image nothing else keeps (a tag, a
 * container, another multi-platform image); with `platforms`, see removeImagePlatforms.
 */
export async function removeImage(store: Store, nameOrId: string, opts: { force?: boolean; platforms?: readonly Platform[] } = {}): Promise<RemoveImageResult> {
  const index = await store.indexes.forTag(nameOrId);
  if (opts.platforms !== undefined) return removeImagePlatforms(store, nameOrId, index, opts.platforms, opts.force === true);
  if (index === undefined) return removeSingleImage(store, nameOrId, opts);
  const home = await store.images.resolveId(nameOrId);
  const refs = await store.refs.read();
  const lastTag = Object.entries(await store.indexes.read()).every(([k, d]) => d !== index.digest || k === tagKey(nameOrId) || refs[k] === undefined);
  if (lastTag && opts.force !== true) {
    // the home image is checked as any image is; the others here
    const inUse = await store.containers.imagesInUse();
    for (const m of index.members) {
      const users = m.id === home ? [] : (inUse.get(m.id) ?? []);
      if (users.length > 0) throw new StoreError(`conflict: unable to remove repository reference "${nameOrId}" (must force) - container ${users[0]!.slice(0, 12)} is using its referenced image ${digestHex(m.id).slice(0, 12)}`, { exitCode: 1 });
    }
  }
  const result = await removeSingleImage(store, nameOrId, opts);
  await removeUnkept(store, index.members.map((m) => m.id).filter((id) => id !== home), result, index.digest);
  return result;
}

/**
 * Removes those of `ids` nothing keeps: no reference, no container, no multi-platform image that
 * counts; and the index blob `indexDigest` when no tag counts for it any more.
 */
async function removeUnkept(store: Store, ids: readonly Digest[], result: RemoveImageResult, indexDigest: Digest): Promise<void> {
  const refs = new Set(Object.values(await store.refs.read()));
  const inUse = await store.containers.imagesInUse();
  const inIndexes = new Set([...(await store.indexes.list()).values()].flatMap((x) => x.members.map((m) => m.id)));
  const candidates = new Set<Digest>([indexDigest]);
  for (const id of ids) {
    if (refs.has(id) || inUse.has(id) || inIndexes.has(id) || !(await store.images.exists(id))) continue;
    const image = await store.images.byId(id);
    await store.images.removeEntry(id);
    result.deleted.push(id);
    for (const d of [id, image.manifestDigest, ...image.layers.map((l) => l.diffId), ...image.manifest.layers.map((l) => l.digest)]) candidates.add(d);
  }
  await collectGarbage(store, { candidates });
}

/**
 * `docker rmi --platform P --force NAME` (API 1.50): only those platforms' images go. Docker
 * deletes their content and leaves the index naming what it lacks; berth's store keeps no
 * partial index, so the tags move to an index of the other platforms (see narrowIndex), or to
 * the one image left, and the removed platforms' images go when nothing else keeps them.
 * Docker prints the removed manifests' digests.
 */
async function removeImagePlatforms(store: Store, name: string, index: IndexRecord | undefined, platforms: readonly Platform[], force: boolean): Promise<RemoveImageResult> {
  if (!force) throw new StoreError("Content will be removed from all images referencing this variant. Use --force to force delete.", { exitCode: 1 });
  const result: RemoveImageResult = { untagged: [], deleted: [] };
  if (index === undefined) {
    // a single image: removed when it is of one of them (Docker removes its content)
    const image = await store.images.resolve(name);
    if (!matchesAny(platforms, platformOfConfig(image.config))) throw new PlatformMismatchError(name, platforms[0]!, [platformOfConfig(image.config)]);
    const r = await removeSingleImage(store, name, { force: true });
    return { untagged: r.untagged, deleted: r.deleted.length > 0 ? [image.manifestDigest] : [] };
  }
  const gone = index.members.filter((m) => matchesAny(platforms, m.platform));
  if (gone.length === 0) throw new PlatformMismatchError(name, platforms[0]!, index.members.map((m) => m.platform));
  if (gone.length === index.members.length) return removeImage(store, name, { force: true });
  const left = index.members.filter((m) => !gone.includes(m));
  const refs = await store.refs.read();
  const tags = Object.entries(await store.indexes.read()).filter(([k, d]) => d === index.digest && refs[k] !== undefined && index.members.some((m) => m.id === refs[k])).map(([k]) => k);
  if (left.length > 1) {
    await store.indexes.add(narrowIndex(index.bytes, left.map((m) => m.platform)).bytes, tags);
  } else {
    await store.indexes.forget(tags);
    for (const k of tags) await store.refs.tag(k, left[0]!.id);
  }
  const deleted: RemoveImageResult = { untagged: [], deleted: [] };
  await removeUnkept(store, gone.map((m) => m.id), deleted, index.digest);
  result.deleted.push(...gone.filter((m) => deleted.deleted.includes(m.id)).map((m) => m.manifestDigest));
  return result;
}

async function removeSingleImage(store: Store, nameOrId: string, opts: { force?: boolean } = {}): Promise<RemoveImageResult> {
  const id = await store.images.resolveId(nameOrId);
  const image = await store.images.byId(id);
  const result: RemoveImageResult = { untagged: [], deleted: [] };
  // the reference named (a tag or a `repo@digest`), normalized as refs.json keys are
  let key: string | undefined;
  try {
    const parsed = isDigest(nameOrId) ? undefined : parseReference(nameOrId);
    key = parsed === undefined ? undefined : parsed.digest !== undefined ? formatReference({ ...parsed, tag: undefined }) : normalizeTag(nameOrId);
  } catch {
    key = undefined; // an ID prefix that is not a valid name
  }
  const refs = await store.refs.read();
  const mine = Object.keys(refs).filter((k) => refs[k] === id);
  const byRef = key !== undefined && refs[key] === id;
  const users = (await store.containers.imagesInUse()).get(id) ?? [];
  const familiar = (k: string): string => familiarString(parseReference(k));
  if (byRef) {
    // moby's image_delete: the named reference goes; when no tag of its repository is left,
    // that repository's digest references go with it; references left mean the image stays
    const repoOf = (k: string): string => repositoryName(parseReference(k));
    const rest = mine.filter((k) => k !== key);
    const tagLeft = rest.some((k) => !k.includes("@") && repoOf(k) === repoOf(key!));
    const dropped = key!.includes("@") || tagLeft ? [] : rest.filter((k) => k.includes("@") && repoOf(k) === repoOf(key!));
    const remaining = rest.filter((k) => !dropped.includes(k));
    if (remaining.length > 0) {
      await store.refs.update((r) => {
        for (const k of [key!, ...dropped]) delete r[k];
        return true;
      });
      result.untagged.push(...[key!, ...dropped].map(familiar));
      return result;
    }
  } else if (!isSingleReference(mine) && mine.length > 1 && !opts.force) {
    throw new StoreError(`conflict: unable to delete ${digestHex(id).slice(0, 12)} (must be forced) - image is referenced in multiple repositories`, { exitCode: 1 });
  }
  if (users.length > 0 && !opts.force) {
    throw new StoreError(`conflict: unable to remove repository reference "${nameOrId}" (must force) - container ${users[0]!.slice(0, 12)} is using its referenced image ${digestHex(id).slice(0, 12)}`, { exitCode: 1 });
  }
  await store.refs.update((r) => {
    let changed = false;
    for (const [k, v] of Object.entries(r)) {
      if (v === id) {
        delete r[k];
        changed = true;
      }
    }
    return changed;
  });
  // Docker lists the named reference first, then the others
  const order = byRef ? [key!, ...mine.filter((k) => k !== key)] : mine;
  result.untagged.push(...order.map(familiar));
  if (users.length > 0) return result; // forced: Docker untags but keeps an image a container runs
  await store.images.removeEntry(id);
  result.deleted.push(id);
  const candidates = new Set<Digest>([id, image.manifestDigest, ...image.layers.map((l) => l.diffId), ...image.manifest.layers.map((l) => l.digest)]);
  await collectGarbage(store, { candidates });
  return result;
}

/**
 * moby's isSingleReference: all references name one repository — at most one tag, and digest
 * references of that tag's repository only. Deleting such an image by ID needs no force.
 */
function isSingleReference(keys: string[]): boolean {
  if (keys.length <= 1) return keys.length === 1;
  let single: string | undefined;
  const digestRepos = new Set<string>();
  for (const k of keys) {
    const repo = repositoryName(parseReference(k));
    if (k.includes("@")) digestRepos.add(repo);
    else if (single === undefined) single = repo;
    else return false;
  }
  return digestRepos.size === 1 && digestRepos.has(single ?? repositoryName(parseReference(keys[0]!)));
}

/** `docker image prune [-a]`: dangling images (no tag), or with all every image no container uses. */
export async function pruneImages(store: Store, opts: { all?: boolean } = {}): Promise<{ deleted: Digest[]; untagged: string[]; reclaimedBytes: number }> {
  const inUse = await store.containers.imagesInUse();
  const out = { deleted: [] as Digest[], untagged: [] as string[], reclaimedBytes: 0 };
  const candidates = new Set<Digest>();
  for (const img of await store.images.list()) {
    if (inUse.has(img.id)) continue;
    if (img.repoTags.length > 0 && !opts.all) continue;
    if (img.repoTags.length > 0 || img.repoDigests.length > 0) {
      await store.refs.update((r) => {
        for (const [k, v] of Object.entries(r)) if (v === img.id) delete r[k];
        return true;
      });
      out.untagged.push(...img.repoTags, ...img.repoDigests);
    }
    await store.images.removeEntry(img.id);
    out.deleted.push(img.id);
    for (const d of [img.id, img.manifestDigest, ...img.layers.map((l) => l.diffId), ...img.manifest.layers.map((l) => l.digest)]) candidates.add(d);
  }
  const gc = await collectGarbage(store, { candidates });
  out.reclaimedBytes = gc.reclaimedBytes;
  return out;
}
