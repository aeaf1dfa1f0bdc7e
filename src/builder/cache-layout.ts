import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BerthError } from "../errors.js";
import { ANNOTATION_REF_NAME, blobPath, OCI_LAYOUT_FILE, OCI_LAYOUT_VERSION } from "../image/archive.js";
import { sha256Digest, type Digest } from "../image/digest.js";
import { MediaType, type Descriptor, type ImageIndex, type ImageManifest } from "../image/types.js";
import { CACHE_ARTIFACT_TYPE, CACHE_INDEX_MEDIA_TYPE, type CacheIndex } from "../registry/cache.js";
import { writeFileAtomic } from "../store/atomic.js";

/**
 * The build cache in a directory (`type=local`): an OCI image layout holding the same artifact
 * a registry gets (manifest with berth's artifactType, the index as its config, the layer
 * blobs), named in index.json by `org.opencontainers.image.ref.name` = tag (BuildKit's local
 * cache does the same, tag "latest" by default). CI keeps the folder between jobs.
 */
export class CacheLayoutError extends BerthError {
  constructor(dir: string, detail: string, options: { cause?: unknown } = {}) {
    super(`${dir}: ${detail}`, { exitCode: 1, cause: options.cause });
  }
}

async function readJson<T>(path: string, dir: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new CacheLayoutError(dir, `cannot read ${what}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new CacheLayoutError(dir, `${what} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads a blob and checks that it hashes to its digest (a corrupt cache is refused, not used). */
async function readBlobVerified(dir: string, desc: Descriptor, what: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, blobPath(desc.digest)));
  } catch (err) {
    throw new CacheLayoutError(dir, `${what} ${desc.digest} is missing`, { cause: err });
  }
  if (sha256Digest(bytes) !== desc.digest) throw new CacheLayoutError(dir, `${what} ${desc.digest} does not match its digest`);
  return bytes;
}

/** The cache index in a layout, by tag or manifest digest. */
export async function readCacheLayout(dir: string, select: { tag: string; digest?: string }): Promise<{ index: CacheIndex; bytes: number }> {
  const top = await readJson<ImageIndex>(join(dir, "index.json"), dir, "index.json");
  if (!Array.isArray(top.manifests)) throw new CacheLayoutError(dir, "index.json has no manifests");
  const desc =
    select.digest !== undefined
      ? top.manifests.find((m) => m.digest === select.digest)
      : top.manifests.find((m) => m.annotations?.[ANNOTATION_REF_NAME] === select.tag);
  if (desc === undefined) throw new CacheLayoutError(dir, `no build cache ${select.digest ?? `tagged ${JSON.stringify(select.tag)}`} in index.json`);
  const manifestBytes = await readBlobVerified(dir, desc, "manifest");
  let manifest: ImageManifest;
  try {
    manifest = JSON.parse(manifestBytes.toString("utf8")) as ImageManifest;
  } catch (err) {
    throw new CacheLayoutError(dir, `manifest ${desc.digest} is not valid JSON`, { cause: err });
  }
  if (manifest.artifactType !== CACHE_ARTIFACT_TYPE || manifest.config?.mediaType !== CACHE_INDEX_MEDIA_TYPE) {
    throw new CacheLayoutError(dir, `not a berth build cache (artifactType ${manifest.artifactType ?? "none"}, config ${manifest.config?.mediaType ?? "none"})`);
  }
  const indexBytes = await readBlobVerified(dir, manifest.config, "cache index");
  let index: CacheIndex;
  try {
    index = JSON.parse(indexBytes.toString("utf8")) as CacheIndex;
  } catch (err) {
    throw new CacheLayoutError(dir, `build cache index is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return { index, bytes: manifestBytes.length + indexBytes.length };
}

/** A layer blob of a layout cache, for the store's importer (which verifies digest and diff_id). */
export function openLayoutBlob(dir: string, desc: Descriptor): NodeJS.ReadableStream {
  return createReadStream(join(dir, blobPath(desc.digest)));
}

async function writeBlob(dir: string, desc: Descriptor, open: () => Promise<NodeJS.ReadableStream> | NodeJS.ReadableStream): Promise<void> {
  const path = join(dir, blobPath(desc.digest));
  const have = await stat(path).catch(() => undefined);
  if (have?.size === desc.size) return;
  const tmp = join(dir, "blobs", `.tmp-${randomBytes(6).toString("hex")}`);
  try {
    await pipeline(await open(), createWriteStream(tmp));
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Writes the cache artifact into the layout at `dir` under `tag`: blobs first (skipping those
 * already there), then index.json atomically, then removes blobs no manifest in index.json
 * names any more, so a folder that CI keeps does not grow with every build.
 */
export async function writeCacheLayout(
  dir: string,
  tag: string,
  index: CacheIndex,
  openLayer: (desc: Descriptor) => Promise<NodeJS.ReadableStream>,
): Promise<Digest> {
  // one writer per folder at a time in this process (builds side by side in one process, as
  // the library allows, may export into one folder): index.json is read, changed and replaced, and the prune
  // would remove the blobs another writer has written but not yet named
  const key = resolve(dir);
  const before = layoutWriters.get(key) ?? Promise.resolve();
  const mine = before.then(() => writeLayoutNow(dir, tag, index, openLayer));
  const settled = mine.then(() => undefined, () => undefined);
  layoutWriters.set(key, settled);
  void settled.then(() => {
    if (layoutWriters.get(key) === settled) layoutWriters.delete(key);
  });
  return mine;
}

const layoutWriters = new Map<string, Promise<void>>();

async function writeLayoutNow(
  dir: string,
  tag: string,
  index: CacheIndex,
  openLayer: (desc: Descriptor) => Promise<NodeJS.ReadableStream>,
): Promise<Digest> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  const layers = [...new Map(Object.values(index.layers).map((d) => [d.digest, d])).values()];
  for (const desc of layers) await writeBlob(dir, desc, () => openLayer(desc));
  const indexBytes = Buffer.from(JSON.stringify(index));
  const config: Descriptor = { mediaType: CACHE_INDEX_MEDIA_TYPE, digest: sha256Digest(indexBytes), size: indexBytes.length };
  await writeBlob(dir, config, () => Readable.from([indexBytes]));
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, artifactType: CACHE_ARTIFACT_TYPE, config, layers };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDesc: Descriptor = { mediaType: MediaType.OciManifest, digest: sha256Digest(manifestBytes), size: manifestBytes.length };
  await writeBlob(dir, manifestDesc, () => Readable.from([manifestBytes]));

  const top: ImageIndex = await readJson<ImageIndex>(join(dir, "index.json"), dir, "index.json").catch(() => ({ schemaVersion: 2, manifests: [] }) as ImageIndex);
  const others = (Array.isArray(top.manifests) ? top.manifests : []).filter((m) => m.annotations?.[ANNOTATION_REF_NAME] !== tag);
  const next: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [...others, { ...manifestDesc, artifactType: CACHE_ARTIFACT_TYPE, annotations: { [ANNOTATION_REF_NAME]: tag } }],
  };
  await writeFileAtomic(join(dir, OCI_LAYOUT_FILE), JSON.stringify(OCI_LAYOUT_VERSION));
  await writeFileAtomic(join(dir, "index.json"), JSON.stringify(next));
  await pruneLayout(dir, next);
  return manifestDesc.digest;
}

/** Removes blobs that no manifest of the layout's index names (best effort: a blob we cannot read keeps everything). */
async function pruneLayout(dir: string, top: ImageIndex): Promise<void> {
  const keep = new Set<string>();
  for (const m of top.manifests) {
    keep.add(m.digest);
    let manifest: ImageManifest;
    try {
      manifest = JSON.parse(await readFile(join(dir, blobPath(m.digest)), "utf8")) as ImageManifest;
    } catch {
      return;
    }
    if (manifest.config !== undefined) keep.add(manifest.config.digest);
    for (const l of manifest.layers ?? []) keep.add(l.digest);
    for (const sub of (manifest as unknown as ImageIndex).manifests ?? []) keep.add(sub.digest);
  }
  const blobDir = join(dir, "blobs", "sha256");
  for (const name of await readdir(blobDir)) {
    if (!keep.has(`sha256:${name}`)) await rm(join(blobDir, name), { force: true });
  }
}
