import type { Digest } from "../image/digest.js";
import { MediaType, type Descriptor, type ImageConfig, type ImageIndex, type Platform } from "../image/types.js";
import type { RegistryClient, RegistryClientOptions } from "./client.js";
import { RegistryError } from "./errors.js";
import { mapLimit } from "./limit.js";
import { ProgressMeter, type ProgressCallback } from "./progress.js";
import { formatRemoteReference, manifestSelector, type RemoteReference } from "./remote-reference.js";

/** An extracted layer, as the store reports it. */
export interface PulledLayer {
  diffId: Digest;
  size: number;
  dir: string;
}

/** An image the store made, as far as pull needs it. */
export interface PulledImage {
  id: Digest;
  manifestDigest: Digest;
  repoTags: string[];
}

/**
 * The store verbs a pull uses (a subset of the store's API, so a `Store` fits). The image
 * becomes visible only through the last call, `addImage`: a pull killed before that leaves
 * blobs and layers (reused by the next pull, or collected) but no image and no tag.
 */
export interface PullStore {
  hasBlob(d: Digest): Promise<boolean>;
  putBlob(data: Uint8Array | NodeJS.ReadableStream, expected?: Digest): Promise<{ digest: Digest; size: number }>;
  readBlob(d: Digest): Promise<Buffer>;
  layer(diffId: Digest): Promise<PulledLayer | undefined>;
  /** Extracts a (gzip or plain) layer tar and keeps its bytes as a blob; refuses a digest or diff_id other than expected. */
  importLayer(tar: NodeJS.ReadableStream, opts?: { expectedDigest?: Digest; expectedDiffId?: Digest; source?: string }): Promise<PulledLayer>;
  /** Adds an image from its exact config bytes and manifest bytes (so digests survive the trip). */
  addImage(configBytes: Buffer, opts?: { manifestBytes?: Buffer; tags?: string[]; repoDigests?: string[] }): Promise<PulledImage>;
  /** Keeps an image index (exact bytes) over images already added, and points tags at it. */
  addImageIndex(indexBytes: Buffer, tags: readonly string[]): Promise<unknown>;
}

export interface PullOptions {
  platform?: Platform;
  /** Layers downloaded at once (Docker's default max-concurrent-downloads is 3). */
  concurrency?: number;
  onProgress?: ProgressCallback;
  /** Store tags for the image; default the reference's `registry/repo:tag` (none for a digest-only pull). */
  tags?: string[];
}

export interface PullResult {
  image: PulledImage;
  /** The registry's manifest digest (what `repo@digest` names). */
  manifestDigest: Digest;
  layersFetched: number;
  layersSkipped: number;
  bytesFetched: number;
}

const LAYER_TYPES: ReadonlySet<string> = new Set([
  MediaType.OciLayer,
  MediaType.OciLayerGzip,
  MediaType.DockerLayer,
  MediaType.DockerLayerGzip,
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
]);

/**
 * Pulls an image into the store: manifest (index → this platform), config, then the layers
 * not yet in the store, several at once, each streamed once into both the blob store
 * (compressed, digest-verified) and the layer importer (extracted, diff_id checked against the
 * config), and finally the image record and tag.
 */
export async function pullImage(client: RegistryClient, store: PullStore, ref: RemoteReference, options: PullOptions = {}): Promise<PullResult> {
  const text = formatRemoteReference(ref);
  const resolved = await client.getManifest(ref, { platform: options.platform });
  const { manifest } = resolved;
  for (const layer of manifest.layers) {
    if (!LAYER_TYPES.has(layer.mediaType)) {
      throw new RegistryError("unsupported", text, `layer ${layer.digest} has media type ${layer.mediaType}, which berth cannot apply`);
    }
  }

  // The config is small; it says which diff_id each layer must have once uncompressed.
  if (!(await store.hasBlob(manifest.config.digest))) {
    await store.putBlob(client.fetchBlob(ref, manifest.config, { reference: text }), manifest.config.digest);
  }
  const configBytes = await store.readBlob(manifest.config.digest);
  const config = parseConfig(configBytes, text);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new RegistryError("protocol", text, `config lists ${diffIds.length} diff_ids but the manifest has ${manifest.layers.length} layers`);
  }

  for (const desc of manifest.layers) {
    options.onProgress?.({ direction: "pull", reference: text, digest: desc.digest, mediaType: desc.mediaType, bytes: 0, total: desc.size, rate: 0, state: "waiting" });
  }
  let layersFetched = 0;
  let layersSkipped = 0;
  let bytesFetched = 0;
  await mapLimit(manifest.layers, options.concurrency ?? 3, async (desc, i) => {
    const diffId = diffIds[i] as Digest;
    const meter = new ProgressMeter(options.onProgress, { direction: "pull", reference: text, digest: desc.digest, mediaType: desc.mediaType, total: desc.size });
    const haveLayer = (await store.layer(diffId)) !== undefined;
    const haveBlob = await store.hasBlob(desc.digest);
    if (haveLayer && haveBlob) {
      layersSkipped++;
      meter.state("exists", desc.size);
      return;
    }
    if (haveLayer) {
      // Extracted already (built here, or pulled with another compression): keep the
      // registry's compressed bytes too, so the image can be pushed back with this manifest.
      await store.putBlob(client.fetchBlob(ref, desc, { reference: text, onProgress: options.onProgress }), desc.digest);
    } else {
      await fetchLayer(client, store, ref, text, desc, diffId, options.onProgress);
    }
    layersFetched++;
    bytesFetched += desc.size;
  });

  // The image record (with the registry's exact manifest) is the commit point.
  const tags = options.tags ?? (ref.tag !== undefined ? [`${ref.registry}/${ref.repository}:${ref.tag}`] : []);
  // and `repo@<manifest digest>`, the image's RepoDigests entry, as Docker records after a pull
  const repoDigests = [`${ref.registry}/${ref.repository}@${resolved.digest}`];
  const image = await store.addImage(configBytes, { manifestBytes: resolved.bytes, tags, repoDigests });
  return { image, manifestDigest: resolved.digest, layersFetched, layersSkipped, bytesFetched };
}

/**
 * `pull --all-platforms`: every image of an index (attestations aside), each as `pullImage`
 * pulls one, then the index itself, byte for byte, under the tag; a reference to a single
 * image is pulled as one.
 */
export async function pullAllPlatforms(client: RegistryClient, store: PullStore, ref: RemoteReference, options: PullOptions = {}): Promise<PullResult & { platforms: Platform[] }> {
  const text = formatRemoteReference(ref);
  const top = await client.fetchManifest(ref, manifestSelector(ref), text);
  if (top.mediaType !== MediaType.OciIndex && top.mediaType !== MediaType.DockerManifestList) {
    const single = await pullImage(client, store, ref, options);
    return { ...single, platforms: [] };
  }
  const index = JSON.parse(top.bytes.toString("utf8")) as ImageIndex;
  const entries = (index.manifests ?? []).filter((d) => d.platform !== undefined && d.platform.os !== "unknown");
  if (entries.length === 0) throw new RegistryError("unsupported", text, "the index holds no image for any platform");
  const results: PullResult[] = [];
  for (const entry of entries) {
    results.push(await pullImage(client, store, { registry: ref.registry, repository: ref.repository, digest: entry.digest }, { ...options, platform: entry.platform, tags: [] }));
  }
  const tags = options.tags ?? (ref.tag !== undefined ? [`${ref.registry}/${ref.repository}:${ref.tag}`] : []);
  await store.addImageIndex(top.bytes, tags);
  return {
    image: results[0]!.image,
    manifestDigest: top.digest,
    layersFetched: results.reduce((a, r) => a + r.layersFetched, 0),
    layersSkipped: results.reduce((a, r) => a + r.layersSkipped, 0),
    bytesFetched: results.reduce((a, r) => a + r.bytesFetched, 0),
    platforms: entries.map((d) => d.platform!),
  };
}

/**
 * Downloads one layer straight into the store's importer, which extracts it and keeps the
 * compressed bytes as a blob, refusing them unless they hash to the descriptor's digest and
 * uncompress to the config's diff_id (so a bad layer leaves the store as it was).
 */
export async function fetchLayer(
  client: RegistryClient,
  store: PullStore,
  ref: RemoteReference,
  text: string,
  desc: Descriptor,
  diffId: Digest,
  onProgress: ProgressCallback | undefined,
): Promise<void> {
  // The importer checks expectedDigest too, but only after its tar reader has seen the end: a
  // corrupted blob would then be reported as a broken tar. Verifying here fails the stream
  // before it ends, so the error says what is wrong (the cost: a second SHA-256 pass).
  const source = client.fetchBlob(ref, desc, { reference: text, onProgress });
  try {
    await store.importLayer(source, { expectedDigest: desc.digest, expectedDiffId: diffId, source: `${text} layer ${desc.digest}` });
  } catch (err) {
    source.destroy();
    // The importer wraps what the stream threw (tar reader, store): the registry's own error
    // (this blob's digest mismatch, a dropped download) says more.
    for (let cause: unknown = err; cause instanceof Error; cause = cause.cause) if (cause instanceof RegistryError) throw cause;
    if (err instanceof Error && /diff_id mismatch|digest mismatch/.test(err.message)) {
      throw new RegistryError("digest-mismatch", text, err.message.replace(`${text} layer ${desc.digest}: `, `layer ${desc.digest}: `), { cause: err });
    }
    throw err;
  }
}

function parseConfig(bytes: Buffer, text: string): ImageConfig {
  let config: ImageConfig;
  try {
    config = JSON.parse(bytes.toString("utf8")) as ImageConfig;
  } catch (err) {
    throw new RegistryError("protocol", text, `image config is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (config === null || typeof config !== "object" || config.rootfs?.type !== "layers" || !Array.isArray(config.rootfs.diff_ids)) {
    throw new RegistryError("protocol", text, "image config has no rootfs.diff_ids");
  }
  return config;
}

/**
 * `berth pull NAME` as a library call (what `FROM` of an image missing from the store uses):
 * parses the name with Docker's rules, pulls with a client of its own, closes it.
 */
export async function pullByName(
  store: PullStore,
  name: string,
  options: PullOptions & { client?: RegistryClientOptions } = {},
): Promise<PullResult> {
  const { RegistryClient } = await import("./client.js");
  const { parseRemoteReference } = await import("./remote-reference.js");
  const client = new RegistryClient(options.client);
  try {
    return await pullImage(client, store, parseRemoteReference(name), options);
  } finally {
    client.close();
  }
}
