import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import { sha256Digest, type Digest } from "./digest.js";
import { MediaType, type ImageConfig, type ImageIndex, type Platform } from "./types.js";
import { formatPlatform, hostPlatform, matchesAny, narrowIndex, platformMatches, platformOfConfig, selectPlatform } from "./platform.js";
import { ArchiveError } from "./errors.js";
import { familiarRepository, familiarString, formatReference, normalizeTag, parseReference, DEFAULT_TAG } from "./reference.js";
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, OCI_LAYOUT_FILE, OCI_LAYOUT_VERSION, blobPath, type DockerArchiveManifestEntry } from "./archive.js";
import type { ArchiveImage, ArchiveStore } from "./archive-store.js";

interface SaveImage {
  image: ArchiveImage;
  tags: string[]; // normalized
}

/** A multi-platform image to save: its index (named by its tags) and its images. */
interface SaveIndex {
  digest: Digest;
  bytes: Buffer;
  tags: string[];
}

/** `save --platform` asked for what an image does not have (Docker's words). */
function notProvided(name: string, platforms: readonly Platform[]): ArchiveError {
  return new ArchiveError(`no suitable export target found: image with reference ${name} was found but does not provide the specified platform (${platforms.map(formatPlatform).join(", ")})`);
}

/**
 * Which tags `docker save NAME` includes: the named tag; a bare repository name: all its tags.
 * A tag of a multi-platform image brings its index and every platform's image; with
 * `platforms`, only theirs: one platform is saved as a single image under the tag (Docker's
 * single-level export), several as an index of only those (see narrowIndex). A single image
 * must be of one of them.
 */
async function selectForSave(store: ArchiveStore, names: string[], platforms?: readonly Platform[]): Promise<{ images: SaveImage[]; indexes: SaveIndex[] }> {
  const refs = await store.readRefs();
  const byId = new Map<Digest, SaveImage>();
  const indexes = new Map<Digest, SaveIndex>();
  for (const name of names) {
    const index = await store.imageIndex(name);
    let id: Digest;
    let indexTag: string | undefined; // the tag of a multi-platform image, which its image(s) take as they are saved
    if (index !== undefined) {
      indexTag = normalizeTag(name);
      const narrowed = platforms === undefined ? { bytes: index.bytes, entries: undefined } : narrowIndex(index.bytes, platforms);
      const kept = narrowed.entries === undefined ? index.members : index.members.filter((m) => narrowed.entries.some((d) => d.digest === m.manifestDigest));
      if (kept.length === 0) throw notProvided(name, platforms!);
      if (platforms?.length === 1) {
        const entry = selectPlatform({ schemaVersion: 2, manifests: narrowed.entries! }, platforms[0]!)!;
        id = kept.find((m) => m.manifestDigest === entry.digest)!.id;
      } else {
        const digest = sha256Digest(narrowed.bytes);
        const entry = indexes.get(digest) ?? { digest, bytes: narrowed.bytes, tags: [] };
        if (!entry.tags.includes(indexTag)) entry.tags.push(indexTag);
        indexes.set(digest, entry);
        for (const m of kept) if (!byId.has(m.id)) byId.set(m.id, { image: await store.imageById(m.id), tags: [] });
        // the tag stays on this machine's image in manifest.json (docker-archive readers see one image)
        id = (kept.find((m) => platformMatches(hostPlatform(), m.platform)) ?? kept[0]!).id;
      }
    } else {
      id = await store.resolveImageId(name);
      if (platforms !== undefined) {
        const config = JSON.parse((await store.readBlob(id)).toString("utf8")) as ImageConfig;
        if (!matchesAny(platforms, platformOfConfig(config))) throw notProvided(name, platforms);
      }
    }
    const entry = byId.get(id) ?? { image: await store.imageById(id), tags: [] };
    byId.set(id, entry);
    if (indexTag !== undefined) {
      if (!entry.tags.includes(indexTag)) entry.tags.push(indexTag);
      continue;
    }
    let ref;
    try {
      ref = parseReference(name);
    } catch {
      continue; // an ID
    }
    if (ref.digest !== undefined) continue;
    const repo = `${ref.domain}/${ref.path}`;
    const wanted = ref.tag !== undefined
      ? [formatReference({ ...ref })]
      : Object.keys(refs).filter((k) => refs[k] === id && k.startsWith(`${repo}:`));
    if (ref.tag === undefined && !(formatReference({ ...ref, tag: DEFAULT_TAG }) in refs) && wanted.length === 0) continue;
    for (const w of wanted) if (refs[w] === id && !entry.tags.includes(w)) entry.tags.push(w);
  }
  return { images: [...byId.values()], indexes: [...indexes.values()] };
}

/**
 * `docker save`: one tar holding both the docker-archive `manifest.json`/`repositories` and an
 * OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`), as Docker 25+ writes it.
 * Layers go in as the manifest names them; a plain layer made by a build is re-diffed from its
 * directory on the fly (deterministic, so its digest holds). Resolves with the IDs of the
 * images written (a multi-platform image's, each platform's).
 */
export async function saveImages(store: ArchiveStore, names: string[], out: NodeJS.WritableStream, opts: { platforms?: readonly Platform[] } = {}): Promise<Digest[]> {
  const { images, indexes } = await selectForSave(store, names, opts.platforms);
  const pack = tar.pack();
  const written = new Set<Digest>();
  const fixed = { mode: 0o644, uid: 0, gid: 0, mtime: new Date(0) };
  const add = (name: string, body: Buffer | string): Promise<void> =>
    new Promise((res, rej) => {
      pack.entry({ name, ...fixed, size: Buffer.byteLength(body) }, body, (err) => (err ? rej(err) : res()));
    });
  const addStream = (name: string, stream: Readable, size: number): Promise<void> =>
    new Promise((res, rej) => {
      const sink = pack.entry({ name, ...fixed, size, type: "file" }, (err) => (err ? rej(err) : res()));
      pipeline(stream, sink as unknown as Writable).catch(rej);
    });
  const producing = (async () => {
    await add(OCI_LAYOUT_FILE, JSON.stringify(OCI_LAYOUT_VERSION));
    pack.entry({ name: "blobs/", type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: new Date(0) });
    pack.entry({ name: "blobs/sha256/", type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: new Date(0) });
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    const manifestJson: DockerArchiveManifestEntry[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const { image, tags } of images) {
      for (const l of image.manifest.layers) {
        if (written.has(l.digest)) continue;
        const { stream, size } = await store.exportBlob(l.digest);
        await addStream(blobPath(l.digest), stream, size);
        written.add(l.digest);
      }
      for (const d of [image.id, image.manifestDigest]) {
        if (written.has(d)) continue;
        await add(blobPath(d), await store.readBlob(d));
        written.add(d);
      }
      const manifestSize = (await store.readBlob(image.manifestDigest)).length;
      const mediaType = image.manifest.mediaType ?? MediaType.OciManifest;
      const viaIndex = indexes.some((x) => JSON.parse(x.bytes.toString("utf8")).manifests.some((d: { digest: string }) => d.digest === image.manifestDigest));
      if (tags.length === 0 && !viaIndex) index.manifests.push({ mediaType, digest: image.manifestDigest, size: manifestSize });
      for (const t of tags) {
        const ref = parseReference(t);
        // a multi-platform image's tag names its index in index.json, added below
        if (!indexes.some((x) => x.tags.includes(t))) index.manifests.push({ mediaType, digest: image.manifestDigest, size: manifestSize, annotations: { [ANNOTATION_IMAGE_NAME]: t, [ANNOTATION_REF_NAME]: ref.tag ?? DEFAULT_TAG } });
        const repo = familiarRepository(ref);
        repositories[repo] = { ...(repositories[repo] ?? {}), [ref.tag ?? DEFAULT_TAG]: image.id.slice(7) };
      }
      manifestJson.push({ Config: blobPath(image.id), RepoTags: tags.length ? tags.map((t) => familiarString(parseReference(t))) : null, Layers: image.manifest.layers.map((l) => blobPath(l.digest)) });
    }
    for (const x of indexes) {
      await add(blobPath(x.digest), x.bytes);
      for (const t of x.tags) {
        index.manifests.push({ mediaType: MediaType.OciIndex, digest: x.digest, size: x.bytes.length, annotations: { [ANNOTATION_IMAGE_NAME]: t, [ANNOTATION_REF_NAME]: parseReference(t).tag ?? DEFAULT_TAG } });
      }
    }
    await add("index.json", `${JSON.stringify(index)}\n`);
    await add("manifest.json", `${JSON.stringify(manifestJson)}\n`);
    if (Object.keys(repositories).length > 0) await add("repositories", `${JSON.stringify(repositories)}\n`);
    pack.finalize();
  })();
  producing.catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  await Promise.all([pipeline(pack as unknown as Readable, out as Writable), producing]);
  return images.map((i) => i.image.id);
}

/** `save -o FILE`: written to a temp file next to FILE, renamed when complete. */
export async function saveImagesToFile(store: ArchiveStore, names: string[], file: string, opts: { platforms?: readonly Platform[] } = {}): Promise<Digest[]> {
  const tmp = `${file}.berth-tmp-${process.pid}`;
  try {
    const ids = await saveImages(store, names, createWriteStream(tmp, { mode: 0o644 }), opts);
    await rename(tmp, file);
    return ids;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

