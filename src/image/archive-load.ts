import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createHash } from "node:crypto";
import { PassThrough, Readable, Writable, pipeline as callbackPipeline } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import { BerthError } from "../errors.js";
import { isDigest, sha256Digest, type Digest } from "./digest.js";
import { MediaType, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from "./types.js";
import { familiarString, normalizeTag, parseReference } from "./reference.js";
import { formatPlatform, hostPlatform, matchesAny, narrowIndex, platformMatches, platformOfConfig } from "./platform.js";
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, blobPath, digestFromPath, type DockerArchiveManifestEntry } from "./archive.js";
import type { ArchiveImage, ArchivePreparedLayer, ArchiveStore } from "./archive-store.js";
import { applyChanges } from "./changes.js";
import { gunzipStream, peekCompression } from "./compression.js";
import { ArchiveError } from "./errors.js";

const LAYER_MEDIA_TYPES = new Set<string>([
  MediaType.OciLayer, MediaType.OciLayerGzip, MediaType.DockerLayer, MediaType.DockerLayerGzip,
  "application/vnd.oci.image.layer.nondistributable.v1.tar", "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
]);
const MANIFEST_MEDIA_TYPES = new Set<string>([MediaType.OciManifest, MediaType.DockerManifest]);
const INDEX_MEDIA_TYPES = new Set<string>([MediaType.OciIndex, MediaType.DockerManifestList]);

// ------------------------------------------------------------------ import

export interface ImportOptions {
  changes?: string[];
  message?: string;
  platform?: Platform;
  tag?: string;
  /** Shown in errors and in the history comment ("Imported from <source>"). */
  source: string;
  /** The image's created time, seconds since 1970 ($SOURCE_DATE_EPOCH); default now. */
  sourceDateEpoch?: number;
}

/** `docker import`: a rootfs tarball (plain or gzip) becomes a one-layer image. */
export async function importRootfs<Image extends ArchiveImage>(store: ArchiveStore<Image>, input: NodeJS.ReadableStream, opts: ImportOptions): Promise<Image> {
  const tag = opts.tag === undefined ? undefined : normalizeTagOrThrow(opts.tag);
  let config;
  try {
    config = applyChanges({}, opts.changes ?? []);
  } catch (err) {
    throw new ArchiveError((err as Error).message, { exitCode: 125 });
  }
  // the input's own bytes are not kept (a gzip'd rootfs is stored as its tar, as Docker does)
  const layer = await store.importLayer(input, { source: opts.source, keepCompressed: false });
  const created = new Date(opts.sourceDateEpoch !== undefined ? opts.sourceDateEpoch * 1000 : Date.now()).toISOString();
  const comment = opts.message || `Imported from ${opts.source}`;
  const image: ImageConfig & { comment?: string } = {
    architecture: (opts.platform ?? hostPlatform()).architecture,
    os: (opts.platform ?? hostPlatform()).os,
    ...(opts.platform?.variant !== undefined ? { variant: opts.platform.variant } : {}),
    created,
    comment,
    config,
    rootfs: { type: "layers", diff_ids: [layer.diffId] },
    history: [{ created, comment }],
  };
  return store.createImage(image, tag ? { tags: [tag] } : {});
}

function normalizeTagOrThrow(t: string): string {
  try {
    return normalizeTag(t);
  } catch (err) {
    throw new ArchiveError((err as Error).message, { exitCode: 125 });
  }
}

// ------------------------------------------------------------------ load

export interface LoadResult {
  /** One line per image as Docker prints it: tags, or the ID when untagged. */
  loaded: { id: Digest; tags: string[] }[];
}

/** Confines an archive member name to the staging dir. */
function memberPath(name: string, source: string): string {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new ArchiveError(`${source}: archive member ${JSON.stringify(name)} escapes the archive`);
  return parts.join("/");
}

/** Unpacks the archive's regular files into `staging` (symlinks kept as a name map). */
/** Archive members that may be layers: OCI blobs, legacy `<id>/layer.tar`, skopeo's `<hex>.tar`. */
const LAYER_MEMBER_RE = /^(?:blobs\/sha256\/[a-f0-9]{64}|[^/]+\/layer\.tar|[a-f0-9]{64}\.tar)$/;

function looksLikeLayer(head: Buffer): boolean {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return true;
  return head.length >= 262 && head.toString("latin1", 257, 262) === "ustar";
}

/**
 * Hands an archive member to `consumer` as a Node stream after reading its first 512 bytes.
 * Pipes by hand so that whatever the consumer does (it may fail and destroy its input), the
 * member is read to its end: the archive reader only moves to the next member after that.
 */
function relayMember(entry: Readable, consumer: (head: Buffer, body: Readable) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const headChunks: Buffer[] = [];
    let headLen = 0;
    let out: PassThrough | undefined;
    let consumed: Promise<void> | undefined;
    const start = (): void => {
      const head = Buffer.concat(headChunks);
      out = new PassThrough({ highWaterMark: 1 << 20 });
      out.on("drain", () => entry.resume());
      out.on("close", () => entry.resume());
      // the failure is reported through `consumed` / reject; a consumer that already gave up
      // has no listener left, and an unheard 'error' would kill the process
      out.on("error", () => undefined);
      out.write(head);
      consumed = consumer(head, out);
      consumed.catch(() => undefined); // reported at the member's end, not as an unhandled rejection
    };
    entry.on("data", (c: Buffer) => {
      if (out === undefined) {
        headChunks.push(c);
        headLen += c.length;
        if (headLen >= 512) start();
        return;
      }
      if (!out.destroyed && !out.write(c)) entry.pause();
    });
    entry.on("end", () => {
      if (out === undefined) start();
      if (!out!.destroyed) out!.end();
      consumed!.then(resolve, reject);
    });
    let ended = false;
    entry.on("end", () => { ended = true; });
    const fail = (err: Error): void => {
      if (ended) return;
      ended = true;
      if (out === undefined) return reject(err);
      out.destroy(err);
      // wait for the consumer to clean up (remove its staging) before reporting
      consumed!.then(() => reject(err), () => reject(err));
    };
    entry.on("error", fail);
    entry.on("close", () => fail(new Error("archive ended in the middle of a member (truncated?)")));
  });
}

async function unpackArchive(input: NodeJS.ReadableStream, staging: string, source: string, onLayer?: (rel: string, body: Readable) => Promise<void>): Promise<Map<string, string>> {
  const links = new Map<string, string>();
  const { compression, stream } = await peekCompression(input, source).catch((err: Error) => {
    throw new ArchiveError(`${source}: ${err.message.replace(`${source}: `, "")}`);
  });
  const extract = tar.extract();
  // pipeline, not pipe(): an input error (before or after this point) destroys gunzip with it
  const tarIn: Readable = compression === "gzip" ? callbackPipeline(stream, gunzipStream(source) as unknown as Writable & Readable, () => undefined) : stream;
  let files = 0;
  const consume = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const rel = memberPath(h.name, source);
      if (rel === "") {
        entry.resume();
        continue;
      }
      const abs = join(staging, rel);
      if (h.type === "directory") {
        await mkdir(abs, { recursive: true });
        entry.resume();
      } else if (h.type === "file" || h.type === "contiguous-file") {
        await mkdir(dirname(abs), { recursive: true });
        if (onLayer !== undefined && LAYER_MEMBER_RE.test(rel) && (h.size ?? 0) >= 1024) {
          // apply layers while reading: no second copy of the archive on disk
          await relayMember(entry as unknown as Readable, (head, body) =>
            looksLikeLayer(head) ? onLayer(rel, body) : pipeline(body, createWriteStream(abs, { flags: "w" })));
        } else {
          await pipeline(entry as unknown as Readable, createWriteStream(abs, { flags: "w" }));
        }
        files++;
      } else if (h.type === "symlink" || h.type === "link") {
        // legacy docker save links duplicate layers: `<id>/layer.tar -> ../<other>/layer.tar`
        const target = h.type === "symlink" ? join(dirname(rel), h.linkname ?? "") : (h.linkname ?? "");
        links.set(rel, memberPath(target, source));
        entry.resume();
      } else {
        entry.resume();
      }
    }
  })();
  try {
    // wait for both, even when one fails: a layer being applied must finish cleaning up
    const settled = await Promise.allSettled([pipeline(tarIn, extract as unknown as Writable), consume]);
    const errors = settled.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    if (errors.length > 0) throw errors.find((e) => e instanceof BerthError) ?? errors[0];
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new ArchiveError(`${source}: not a valid image archive: ${(err as Error).message}`, { cause: err });
  }
  if (files === 0) throw new ArchiveError(`${source}: not an image archive (no files in it)`);
  return links;
}

interface PendingImage {
  configBytes: Buffer;
  manifestBytes?: Buffer;
  layers: { path: string; digest?: Digest; mediaType?: string }[];
  tags: string[];
}

/**
 * `docker load`: a docker-save archive (manifest.json, legacy or with an OCI layout inside) or
 * an OCI image layout tar, plain or gzip. Everything is staged and verified first; tags are
 * set last, in one update; on any error the images and content this load added are removed.
 */
export async function loadArchive<Image extends ArchiveImage>(store: ArchiveStore<Image>, input: NodeJS.ReadableStream, source: string, opts: { platforms?: readonly Platform[] } = {}): Promise<LoadResult> {
  const { platforms } = opts;
  const staging = store.stagingPath("load");
  await mkdir(staging, { recursive: true });
  const addedImages: Digest[] = [];
  const candidates = new Set<Digest>();
  const adopted = new Set<Digest>(); // layer files of this archive already moved into blobs/
  const prepared = new Map<string, ArchivePreparedLayer | BerthError>(); // member → applied layer, or why not
  try {
    const links = await unpackArchive(input, staging, source, async (rel, body) => {
      try {
        prepared.set(rel, await store.prepareLayer(body, { source: `${source}: layer ${rel}` }));
      } catch (err) {
        // only an error if a manifest uses this member as a layer
        prepared.set(rel, err instanceof BerthError ? err : new ArchiveError(`${source}: layer ${rel}: ${(err as Error).message}`));
      }
    });
    const resolveRel = (p: string): string => {
      let rel = memberPath(p, source);
      for (let i = 0; i < 16 && links.has(rel); i++) rel = links.get(rel)!;
      return rel;
    };
    const resolve = (p: string): string => join(staging, resolveRel(p));
    const readMember = async (p: string, what: string): Promise<Buffer> => {
      try {
        return await readFile(resolve(p));
      } catch {
        throw new ArchiveError(`${source}: ${what} ${JSON.stringify(p)} is missing from the archive`);
      }
    };
    const exists = (p: string): Promise<boolean> => lstat(join(staging, p)).then(() => true, () => false);
    const verified = async (d: Digest, what: string): Promise<Buffer> => {
      const bytes = await readMember(blobPath(d), what);
      if (sha256Digest(bytes) !== d) throw new ArchiveError(`${source}: ${what} ${d}: digest mismatch (the archive's blob hashes to ${sha256Digest(bytes)})`);
      return bytes;
    };
    const parseJson = <T>(bytes: Buffer, what: string): T => {
      try {
        return JSON.parse(bytes.toString("utf8")) as T;
      } catch (err) {
        throw new ArchiveError(`${source}: ${what} is not valid JSON: ${(err as Error).message}`);
      }
    };

    // OCI layout: manifests reachable from index.json, with their names
    interface NamedIndex { bytes: Buffer; names: string[] }
    const ociManifests: { digest: Digest; bytes: Buffer; manifest: ImageManifest; names: string[]; owner?: NamedIndex }[] = [];
    // multi-platform images: a named index inside index.json keeps its images of every platform
    // (or of `platforms`; its names go to the index, stored as such), as Docker's containerd
    // store saves them
    const ociIndexes: NamedIndex[] = [];
    const wanted = (p: Platform): boolean => (platforms === undefined ? platformMatches(hostPlatform(), p) : matchesAny(platforms, p));
    if (await exists("index.json")) {
      const walk = async (index: ImageIndex, inherited: string[], owner: NamedIndex | undefined): Promise<void> => {
        for (const desc of index.manifests ?? []) {
          if (!isDigest(desc.digest)) throw new ArchiveError(`${source}: index.json: invalid digest ${JSON.stringify(desc.digest)}`);
          const names = [...inherited, ...namesFromAnnotations(desc)];
          if (INDEX_MEDIA_TYPES.has(desc.mediaType)) {
            const bytes = await verified(desc.digest, "index");
            const named = names.length > 0 ? { bytes, names: names.map((t) => normalizeTagIn(t, source)) } : undefined;
            if (named !== undefined) ociIndexes.push(named);
            await walk(parseJson<ImageIndex>(bytes, `index ${desc.digest}`), named !== undefined ? [] : names, named ?? owner);
          } else if (MANIFEST_MEDIA_TYPES.has(desc.mediaType)) {
            if (desc.platform?.os === "unknown") continue; // attestations
            if (desc.platform && (owner === undefined || platforms !== undefined) && !wanted(desc.platform)) continue;
            const bytes = await verified(desc.digest, "manifest");
            ociManifests.push({ digest: desc.digest, bytes, manifest: parseJson<ImageManifest>(bytes, `manifest ${desc.digest}`), names, ...(owner !== undefined ? { owner } : {}) });
          } else {
            throw new ArchiveError(`${source}: index.json: unknown media type ${JSON.stringify(desc.mediaType)}`);
          }
        }
      };
      await walk(parseJson<ImageIndex>(await readMember("index.json", "index"), "index.json"), [], undefined);
    }
    // `--platform`: a multi-platform image keeps only those platforms; with one left, its names
    // go to that image and no index is kept (as `save --platform` of one platform writes it)
    const indexNames = new Set(ociIndexes.flatMap((x) => x.names));
    if (platforms !== undefined) {
      for (const x of [...ociIndexes]) {
        const { bytes, entries } = narrowIndex(x.bytes, platforms);
        if (entries.length === 0) throw notProvided(familiarString(parseReference(x.names[0]!)), platforms);
        if (entries.length > 1) {
          x.bytes = bytes;
          continue;
        }
        ociManifests.find((m) => m.owner === x && m.digest === entries[0]!.digest)?.names.push(...x.names);
        ociIndexes.splice(ociIndexes.indexOf(x), 1);
      }
    }

    const pending: PendingImage[] = [];
    const pendingFromOci = (m: (typeof ociManifests)[number], configBytes: Buffer): PendingImage => ({
      configBytes,
      manifestBytes: m.bytes,
      layers: (m.manifest.layers ?? []).map((l) => ({ path: blobPath(l.digest), digest: l.digest, mediaType: l.mediaType })),
      tags: m.names.map((t) => normalizeTagIn(t, source)),
    });
    if (await exists("manifest.json")) {
      const entries = parseJson<DockerArchiveManifestEntry[]>(await readMember("manifest.json", "file"), "manifest.json");
      if (!Array.isArray(entries)) throw new ArchiveError(`${source}: manifest.json is not a list of images`);
      for (const e of entries) {
        if (typeof e?.Config !== "string" || !Array.isArray(e.Layers)) throw new ArchiveError(`${source}: manifest.json: an entry lacks Config or Layers`);
        const configBytes = await readMember(e.Config, "image config");
        const named = digestFromPath(e.Config);
        if (named !== undefined && sha256Digest(configBytes) !== named) {
          throw new ArchiveError(`${source}: image config ${e.Config}: digest mismatch (hashes to ${sha256Digest(configBytes)})`);
        }
        const id = sha256Digest(configBytes);
        const oci = ociManifests.find((m) => m.manifest.config?.digest === id);
        pending.push({
          configBytes,
          ...(oci ? { manifestBytes: oci.bytes } : {}),
          layers: e.Layers.map((p, i) => {
            const d = digestFromPath(p);
            const desc = oci?.manifest.layers[i];
            return { path: p, ...(d ? { digest: d } : {}), ...(desc ? { mediaType: desc.mediaType } : {}) };
          }),
          tags: [...new Set([...(e.RepoTags ?? []).map((t) => normalizeTagIn(t, source)), ...(oci?.names ?? [])])],
        });
      }
      // the other platforms of multi-platform images (manifest.json lists one image per tag)
      for (const m of ociManifests) {
        if (m.owner === undefined || pending.some((p) => sha256Digest(p.configBytes) === m.manifest.config?.digest)) continue;
        pending.push(pendingFromOci(m, await verified(m.manifest.config.digest, "image config")));
      }
    } else if (ociManifests.length > 0) {
      for (const m of ociManifests) {
        if (!isDigest(m.manifest.config?.digest ?? "")) throw new ArchiveError(`${source}: a manifest has no valid config descriptor`);
        pending.push(pendingFromOci(m, await verified(m.manifest.config.digest, "image config")));
      }
    } else if (await exists("index.json")) {
      throw new ArchiveError(`${source}: the OCI layout holds no image for ${(platforms ?? [hostPlatform()]).map(formatPlatform).join(", ")}`);
    } else {
      throw new ArchiveError(`${source}: not an image archive (no manifest.json or index.json in it)`);
    }

    if (platforms !== undefined) {
      // an image of another platform: left out when it is the rest of a multi-platform image,
      // else the archive does not have what was asked for
      for (const img of [...pending]) {
        if (matchesAny(platforms, platformOfConfig(parseJson<ImageConfig>(img.configBytes, "image config")))) continue;
        if (indexNames.size === 0 || !img.tags.every((t) => indexNames.has(t))) {
          throw notProvided(img.tags.length > 0 ? familiarString(parseReference(img.tags[0]!)) : sha256Digest(img.configBytes), platforms);
        }
        pending.splice(pending.indexOf(img), 1);
      }
    }
    for (const img of pending) {
      const config = parseJson<ImageConfig>(img.configBytes, "image config");
      const diffIds = config.rootfs?.diff_ids;
      if (!Array.isArray(diffIds) || !diffIds.every((d) => isDigest(d))) throw new ArchiveError(`${source}: image config has no valid rootfs.diff_ids`);
      if (diffIds.length !== img.layers.length) {
        throw new ArchiveError(`${source}: image config lists ${diffIds.length} layers, the archive ${img.layers.length}`);
      }
      for (const [i, l] of img.layers.entries()) {
        if (l.mediaType !== undefined && !LAYER_MEDIA_TYPES.has(l.mediaType)) {
          throw new ArchiveError(`${source}: layer ${l.path}: unknown media type ${JSON.stringify(l.mediaType)}`);
        }
        const diffId = diffIds[i]!;
        const have = await store.layerRecord(diffId);
        const prep = prepared.get(resolveRel(l.path));
        if (prep instanceof BerthError) throw prep;
        if (have !== undefined && (l.digest === undefined || l.digest === diffId || have.blobs.some((b) => b.digest === l.digest))) {
          // the store has this layer: no need to apply it again, but a corrupt archive is still an error
          if (l.digest !== undefined) {
            const got = prep !== undefined ? prep.digest : await hashFile(resolve(l.path)).catch(async () => ((await store.hasBlob(l.digest!)) && adopted.has(l.digest!) ? l.digest : undefined));
            if (got === undefined) throw new ArchiveError(`${source}: layer ${l.path} is missing from the archive`);
            if (got !== l.digest) throw new ArchiveError(`${source}: layer ${l.path}: digest mismatch: expected ${l.digest}, got ${got}`);
          } else if (prep !== undefined && prep.diffId !== diffId) {
            throw new ArchiveError(`${source}: layer ${l.path}: layer diff_id mismatch: the image config says ${diffId}, the layer is ${prep.diffId}`);
          }
          continue;
        }
        const expect = { expectedDiffId: diffId, ...(l.digest !== undefined ? { expectedDigest: l.digest } : {}) };
        const info = prep !== undefined
          ? await prep.commit(expect)
          : await store.importLayer(createReadStream(resolve(l.path), { highWaterMark: 1 << 20 }), {
            adoptFile: resolve(l.path),
            ...expect,
            source: `${source}: layer ${l.path}`,
          }).catch((err: unknown) => {
            if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new ArchiveError(`${source}: layer ${l.path} is missing from the archive`);
            throw err;
          });
        candidates.add(info.diffId);
        if (l.digest) {
          candidates.add(l.digest);
          adopted.add(l.digest);
        }
      }
      const id = sha256Digest(img.configBytes);
      const existed = await store.imageExists(id);
      const rec = await store.addImage(img.configBytes, img.manifestBytes ? { manifestBytes: img.manifestBytes } : {});
      if (!existed) {
        addedImages.push(id);
        candidates.add(id);
        candidates.add(rec.manifestDigest);
      }
    }
    // all images are in: now the tags, in one atomic update
    await store.updateRefs((refs) => {
      for (const img of pending) for (const t of img.tags) refs[t] = sha256Digest(img.configBytes);
      return true;
    });
    for (const index of ociIndexes) await store.addImageIndex(index.bytes, index.names);
    return { loaded: pending.map((p) => ({ id: sha256Digest(p.configBytes), tags: p.tags.map((t) => familiarString(parseReference(t))) })) };
  } catch (err) {
    for (const id of addedImages) await store.removeImageEntry(id);
    if (candidates.size > 0) await store.collectGarbage({ candidates }).catch(() => undefined);
    throw err;
  } finally {
    for (const p of prepared.values()) if (!(p instanceof BerthError)) await p.discard();
    await rm(staging, { recursive: true, force: true });
  }
}

async function hashFile(path: string): Promise<Digest> {
  const h = createHash("sha256");
  await pipeline(createReadStream(path), new Writable({ write: (c: Buffer, _e, cb) => { h.update(c); cb(); } }));
  return `sha256:${h.digest("hex")}` as Digest;
}

/** `load --platform` of an image that has none of them (nothing is loaded; Docker loads, then says so). */
function notProvided(name: string, platforms: readonly Platform[]): ArchiveError {
  return new ArchiveError(`image ${name} doesn't provide the requested platform ([${platforms.map(formatPlatform).join(" ")}])`);
}

function normalizeTagIn(t: string, source: string): string {
  try {
    return normalizeTag(t);
  } catch (err) {
    throw new ArchiveError(`${source}: ${(err as Error).message}`);
  }
}

function namesFromAnnotations(desc: Descriptor): string[] {
  const a = desc.annotations ?? {};
  const full = a[ANNOTATION_IMAGE_NAME];
  if (full) return [full];
  const ref = a[ANNOTATION_REF_NAME];
  // a bare tag ("latest") names no repository: such an image loads untagged, as with Docker
  if (ref && /[:/]/.test(ref) && !ref.startsWith(":")) return [ref];
  return [];
}
