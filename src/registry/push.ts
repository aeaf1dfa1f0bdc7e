import { availableParallelism } from "node:os";
import { PassThrough, Transform, type Readable } from "node:stream";
import { sha256Digest, type Digest } from "../image/digest.js";
import { MediaType, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest } from "../image/types.js";
import type { BlobSource, PushBlobResult, RegistryClient } from "./client.js";
import { RegistryError } from "./errors.js";
import { mapLimit } from "./limit.js";
import type { ProgressCallback } from "./progress.js";
import { formatRemoteReference, parseRemoteReference, type RemoteReference } from "./remote-reference.js";

/** What a push sends: a manifest's exact bytes, and a way to open each blob it names. */
export interface PushSource {
  manifest: { bytes: Buffer; mediaType: string };
  /** Opens a blob the manifest names (config or layer); the store makes compressed layers lazily here. */
  blob(desc: Descriptor): Promise<BlobSource>;
}

export interface PushOptions {
  /** Blobs uploaded at once (Docker's default max-concurrent-uploads is 5). */
  concurrency?: number;
  /** A repository on the same registry that may hold the blobs: cross-repository mount first. */
  mountFrom?: string;
  /** PATCH chunk size for resumable uploads; default one PUT per blob. */
  chunkSize?: number;
  onProgress?: ProgressCallback;
  /** Put the manifest by its digest, not by the reference's tag (an index's images). */
  byDigest?: boolean;
}

export interface PushResult {
  manifestDigest: Digest;
  uploaded: number;
  skipped: number;
  mounted: number;
  bytesUploaded: number;
}

/**
 * Pushes an image: every blob the manifest names (existence check first, so a re-push sends
 * nothing), several at once, and the manifest last, so the tag never names missing blobs.
 */
export async function pushImage(client: RegistryClient, ref: RemoteReference, source: PushSource, options: PushOptions = {}): Promise<PushResult> {
  const text = formatRemoteReference(ref);
  let manifest: ImageManifest | ImageIndex;
  try {
    manifest = JSON.parse(source.manifest.bytes.toString("utf8")) as ImageManifest | ImageIndex;
  } catch (err) {
    throw new RegistryError("protocol", text, `manifest to push is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!("config" in manifest) || !Array.isArray(manifest.layers)) {
    throw new RegistryError("unsupported", text, "only image manifests can be pushed (not indexes)");
  }
  const blobs = [manifest.config, ...manifest.layers];
  for (const desc of blobs) {
    options.onProgress?.({ direction: "push", reference: text, digest: desc.digest, mediaType: desc.mediaType, bytes: 0, total: desc.size, rate: 0, state: "waiting" });
  }
  const counts: Record<PushBlobResult, number> = { exists: 0, mounted: 0, uploaded: 0 };
  let bytesUploaded = 0;
  await mapLimit(blobs, options.concurrency ?? 5, async (desc) => {
    const src = await source.blob(desc);
    const result = await client.pushBlob(ref, desc, src, {
      mountFrom: options.mountFrom,
      chunkSize: options.chunkSize,
      onProgress: options.onProgress,
      reference: text,
    });
    counts[result]++;
    if (result === "uploaded") bytesUploaded += desc.size;
  });
  const manifestDigest = await client.putManifest(ref, source.manifest.bytes, source.manifest.mediaType);
  return { manifestDigest, uploaded: counts.uploaded, skipped: counts.exists, mounted: counts.mounted, bytesUploaded };
}

/** The store verbs pushing a stored image uses (a subset of the store's API). */
export interface PushStore {
  resolveImage(refOrId: string): Promise<{ id: Digest; manifestDigest: Digest; config: ImageConfig; repoTags: string[] }>;
  readBlob(d: Digest): Promise<Buffer>;
  /** A blob's bytes for export (a stored blob, or a layer's plain tar made again). */
  exportBlob(d: Digest): Promise<{ stream: Readable; size: number }>;
  /** The layer's gzip blob, made (once) when first needed: "compress lazily". */
  compressedLayerBlob(diffId: Digest): Promise<Descriptor>;
  addImage(configBytes: Buffer, opts?: { manifestBytes?: Buffer; tags?: string[]; repoDigests?: string[] }): Promise<unknown>;
}

const UNCOMPRESSED_LAYERS: ReadonlySet<string> = new Set([MediaType.OciLayer, MediaType.DockerLayer]);

/**
 * Pushes an image from the store. Layers the store holds only uncompressed (built here) are
 * gzipped first (the store keeps the result), the manifest is rewritten to name them, and the
 * store's image takes that manifest too, so the local and the registry's manifest digests agree
 * (what a pull elsewhere will get).
 */
export async function pushStoredImage(
  client: RegistryClient,
  store: PushStore,
  localRef: string,
  ref: RemoteReference,
  options: PushOptions = {},
): Promise<PushResult & { imageId: Digest }> {
  const image = await store.resolveImage(localRef);
  let manifestBytes = await store.readBlob(image.manifestDigest);
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as ImageManifest;
  const diffIds = image.config.rootfs.diff_ids;
  let rewritten = false;
  // zlib runs on libuv's thread pool: compressing several layers at once uses several cores.
  const layers = await mapLimit(manifest.layers, availableParallelism(), async (desc, i) => {
    const diffId = diffIds[i];
    if (!UNCOMPRESSED_LAYERS.has(desc.mediaType) || diffId === undefined) return desc;
    rewritten = true;
    return store.compressedLayerBlob(diffId);
  });
  let mediaType = manifest.mediaType ?? MediaType.OciManifest;
  if (rewritten) {
    const next: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: manifest.config, layers };
    if (manifest.annotations !== undefined) next.annotations = manifest.annotations;
    mediaType = MediaType.OciManifest;
    manifestBytes = Buffer.from(JSON.stringify(next));
  }
  const target = options.byDigest === true ? { registry: ref.registry, repository: ref.repository, digest: sha256Digest(manifestBytes) } : ref;
  const result = await pushImage(
    client,
    target,
    {
      manifest: { bytes: manifestBytes, mediaType },
      blob: async (desc) => {
        return {
          size: desc.size,
          open: (start) => {
            const out = new PassThrough({ highWaterMark: 1 << 20 });
            store.exportBlob(desc.digest).then(
              ({ stream }) => {
                stream.on("error", (err) => out.destroy(err));
                (start === 0 ? stream : stream.pipe(skipBytes(start))).pipe(out);
              },
              (err: unknown) => out.destroy(err as Error),
            );
            return out;
          },
        };
      },
    },
    { ...options, mountFrom: options.mountFrom ?? mountCandidate(image.repoTags, ref) },
  );
  // the pushed manifest's digest becomes a RepoDigests entry (`repo@digest`), as after a Docker push
  const repoDigests = [`${ref.registry}/${ref.repository}@${result.manifestDigest}`];
  await store.addImage(await store.readBlob(image.id), { manifestBytes, repoDigests });
  return { ...result, imageId: image.id };
}

/** The store verbs pushing a multi-platform image adds. */
export interface PushIndexStore extends PushStore {
  imageIndex(ref: string): Promise<{ digest: Digest; bytes: Buffer; index: ImageIndex; members: { id: Digest; manifestDigest: Digest }[] } | undefined>;
  replaceImageIndex(old: Digest, ids: readonly Digest[], bytes: Buffer): Promise<unknown>;
}

/**
 * Pushes what a tag names: a multi-platform image's every image (each manifest by its digest)
 * and then its index under the tag, or a single image as pushStoredImage does. Images whose
 * manifests change on the way (layers compressed now) change the index too, and the store's
 * index (under each of its tags) takes the pushed one, so local and registry digests agree.
 */
export async function pushStoredTag(client: RegistryClient, store: PushIndexStore, localRef: string, ref: RemoteReference, options: PushOptions = {}): Promise<PushResult & { imageId: Digest; platforms: number }> {
  const held = await store.imageIndex(localRef);
  if (held === undefined) return { ...(await pushStoredImage(client, store, localRef, ref, options)), platforms: 0 };
  const total: PushResult = { manifestDigest: "" as Digest, uploaded: 0, skipped: 0, mounted: 0, bytesUploaded: 0 };
  const manifests: Descriptor[] = [];
  for (const desc of held.index.manifests) {
    const member = held.members.find((m) => m.manifestDigest === desc.digest);
    if (member === undefined) continue; // an attestation the store does not hold
    const r = await pushStoredImage(client, store, member.id, ref, { ...options, byDigest: true });
    for (const k of ["uploaded", "skipped", "mounted", "bytesUploaded"] as const) total[k] += r[k];
    const bytes = await store.readBlob(r.manifestDigest);
    const mediaType = (JSON.parse(bytes.toString("utf8")) as ImageManifest).mediaType ?? desc.mediaType;
    manifests.push({ ...desc, mediaType, digest: r.manifestDigest, size: bytes.length });
  }
  const same = manifests.length === held.index.manifests.length && manifests.every((m, i) => m.digest === held.index.manifests[i]!.digest);
  const indexBytes = same ? held.bytes : Buffer.from(JSON.stringify({ ...held.index, mediaType: held.index.mediaType ?? MediaType.OciIndex, manifests }));
  total.manifestDigest = await client.putManifest(ref, indexBytes, held.index.mediaType ?? MediaType.OciIndex);
  // every tag of that index takes the pushed one: the manifests it named were replaced
  if (!same) await store.replaceImageIndex(held.digest, held.members.map((m) => m.id), indexBytes);
  return { ...total, imageId: total.manifestDigest, platforms: manifests.length };
}

/** Drops the first `n` bytes (an upload resumed at an offset of a stream that cannot seek). */
function skipBytes(n: number): Transform {
  let left = n;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (left >= chunk.length) {
        left -= chunk.length;
        return cb();
      }
      const rest = chunk.subarray(left);
      left = 0;
      cb(null, rest);
    },
  });
}

/**
 * A repository on the same registry that likely holds the image's blobs: another tag of this
 * image there (it was pulled from or pushed to it). The registry then copies blobs by mount
 * instead of receiving them again; if it does not have them it just starts a normal upload.
 */
function mountCandidate(repoTags: readonly string[], ref: RemoteReference): string | undefined {
  for (const tag of repoTags) {
    let other: RemoteReference;
    try {
      other = parseRemoteReference(tag);
    } catch {
      continue;
    }
    if (other.registry === ref.registry && other.repository !== ref.repository) return other.repository;
  }
  return undefined;
}
