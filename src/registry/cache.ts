import { Readable } from "node:stream";
import { sha256Digest, type Digest } from "../image/digest.js";
import { MediaType, type Descriptor, type ImageManifest } from "../image/types.js";
import type { BlobSource, RegistryClient } from "./client.js";
import { RegistryError } from "./errors.js";
import { mapLimit } from "./limit.js";
import type { ProgressCallback } from "./progress.js";
import { fetchLayer, type PullStore } from "./pull.js";
import { formatRemoteReference, type RemoteReference } from "./remote-reference.js";

/**
 * The shared build cache as an OCI artifact (`--cache-to/--cache-from type=registry,ref=R`).
 *
 * One image manifest (so that any distribution-spec registry stores it, no index support
 * needed) with `artifactType` berth's cache type; its config blob is the cache index (JSON: cache
 * key → the builder's record, and diff_id → the compressed layer blob); its layers are those
 * blobs. An importer fetches the manifest and the index only, then pulls the few layers its
 * cache hits need. BuildKit's registry cache has the same shape (cache config + layers).
 */
export const CACHE_ARTIFACT_TYPE = "application/vnd.berth.buildcache.v1";
export const CACHE_INDEX_MEDIA_TYPE = "application/vnd.berth.buildcache.index.v1+json";

/** The builder's record for one cache key; opaque here except for the layers it keeps alive. */
export interface CacheRecord {
  /** diff_ids of the layers this step's result needs (each must be in `CacheIndex.layers`). */
  layers: Digest[];
  [field: string]: unknown;
}

export interface CacheIndex {
  version: 1;
  entries: Record<string, CacheRecord>;
  /** diff_id → the compressed blob that carries it in this artifact. */
  layers: Record<string, Descriptor>;
}

export interface PushCacheOptions {
  concurrency?: number;
  onProgress?: ProgressCallback;
}

/** Uploads the cache layers, the index, then the artifact manifest under `ref`; returns its digest. */
export async function pushCache(
  client: RegistryClient,
  ref: RemoteReference,
  index: CacheIndex,
  openLayer: (desc: Descriptor) => Promise<BlobSource>,
  options: PushCacheOptions = {},
): Promise<Digest> {
  const text = formatRemoteReference(ref);
  for (const [key, record] of Object.entries(index.entries)) {
    for (const diffId of record.layers) {
      if (index.layers[diffId] === undefined) throw new RegistryError("protocol", text, `cache entry ${key} needs layer ${diffId}, which the cache index does not carry`);
    }
  }
  const layerDescs = uniqueByDigest(Object.values(index.layers));
  await mapLimit(layerDescs, options.concurrency ?? 5, async (desc) => {
    await client.pushBlob(ref, desc, await openLayer(desc), { onProgress: options.onProgress, reference: text });
  });
  const indexBytes = Buffer.from(JSON.stringify(index));
  const indexDesc: Descriptor = { mediaType: CACHE_INDEX_MEDIA_TYPE, digest: sha256Digest(indexBytes), size: indexBytes.length };
  await client.pushBlob(ref, indexDesc, { size: indexBytes.length, open: (start) => Readable.from([indexBytes.subarray(start)], { objectMode: false }) }, { reference: text });
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: indexDesc,
    layers: layerDescs,
  };
  return client.putManifest(ref, Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest);
}

/** Fetches and checks a cache artifact's index; a ref that is not a berth cache is a clear error. */
export async function fetchCacheIndex(client: RegistryClient, ref: RemoteReference): Promise<{ index: CacheIndex; manifestDigest: Digest }> {
  const text = formatRemoteReference(ref);
  const resolved = await client.getManifest(ref);
  const m = resolved.manifest;
  if (m.artifactType !== CACHE_ARTIFACT_TYPE || m.config.mediaType !== CACHE_INDEX_MEDIA_TYPE) {
    throw new RegistryError("unsupported", text, `not a berth build cache (artifactType ${m.artifactType ?? "none"}, config ${m.config.mediaType})`);
  }
  const chunks: Buffer[] = [];
  for await (const c of client.fetchBlob(ref, m.config, { reference: text })) chunks.push(c as Buffer);
  let index: CacheIndex;
  try {
    index = JSON.parse(Buffer.concat(chunks).toString("utf8")) as CacheIndex;
  } catch (err) {
    throw new RegistryError("protocol", text, `build cache index is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (index.version !== 1 || typeof index.entries !== "object" || typeof index.layers !== "object") {
    throw new RegistryError("unsupported", text, `build cache index version ${String(index.version)} is not one berth reads`);
  }
  return { index, manifestDigest: resolved.digest };
}

/**
 * Makes the layers a cache hit needs present in the store (download, verify, extract; layers
 * already there are skipped). Returns the diff_ids fetched.
 */
export async function fetchCacheLayers(
  client: RegistryClient,
  store: PullStore,
  ref: RemoteReference,
  index: CacheIndex,
  diffIds: readonly Digest[],
  options: { concurrency?: number; onProgress?: ProgressCallback } = {},
): Promise<Digest[]> {
  const text = formatRemoteReference(ref);
  const fetched: Digest[] = [];
  await mapLimit([...new Set(diffIds)], options.concurrency ?? 3, async (diffId) => {
    if ((await store.layer(diffId)) !== undefined) return;
    const desc = index.layers[diffId];
    if (desc === undefined) throw new RegistryError("not-found", text, `build cache does not carry layer ${diffId}`);
    await fetchLayer(client, store, ref, text, desc, diffId, options.onProgress);
    fetched.push(diffId);
  });
  return fetched;
}

function uniqueByDigest(descs: Descriptor[]): Descriptor[] {
  const seen = new Map<string, Descriptor>();
  for (const d of descs) seen.set(d.digest, d);
  return [...seen.values()];
}
