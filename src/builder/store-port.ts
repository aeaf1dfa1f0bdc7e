import type { Readable } from "node:stream";
import type { Digest } from "../image/digest.js";
import type { Descriptor, Platform } from "../image/types.js";
import type { PullStore } from "../registry/pull.js";
import type { ListedCacheEntry } from "../store/build-cache.js";
import type { GcResult } from "../store/gc.js";
import type { CacheEntry, ImageRecord, ImageSource, LayerInfo, Snapshot } from "../store/types.js";
import type { HeldLock } from "../sys/flock.js";

/**
 * The store verbs the builder uses (a structural subset of src/store's Store, as
 * runtime/container/store-port.ts is the runtime's): what a pull needs (a base image, a
 * shared cache's layers), snapshots and layers for steps, images and tags, the build cache.
 */
export interface BuilderStore extends PullStore {
  /** "build" held shared for a build, exclusive by builder prune. */
  holdLock(name: string, mode?: "exclusive" | "shared", opts?: { signal?: AbortSignal }): Promise<HeldLock>;
  flushEarly(): void;
  layersDurable(diffIds: readonly Digest[], opts?: { urgent?: boolean }): Promise<void>;
  knownOpaque(absDir: string): boolean | undefined;
  layer(diffId: Digest): Promise<LayerInfo | undefined>;
  importLayer(tar: NodeJS.ReadableStream, opts?: { expectedDigest?: Digest; expectedDiffId?: Digest; source?: string }): Promise<LayerInfo>;
  compressedLayerBlob(diffId: Digest): Promise<Descriptor>;
  exportBlob(d: Digest): Promise<{ stream: Readable; size: number }>;

  prepareSnapshot(parents: readonly (Digest | LayerInfo)[], opts?: { durable?: boolean }): Promise<Snapshot>;
  commitSnapshot(s: Snapshot, opts?: { sourceDateEpoch?: number; keep?: boolean; noXattrs?: boolean }): Promise<LayerInfo>;
  detachSnapshot(s: Snapshot): string;
  commitDetached(layerDir: string, opts?: { sourceDateEpoch?: number; noXattrs?: boolean; yieldMs?: number }): Promise<{ layer: LayerInfo; leftover?: string }>;
  removeSnapshot(s: Snapshot, opts?: { sync?: boolean }): Promise<void>;

  addImage(configBytes: Buffer, opts?: { manifestBytes?: Buffer; tags?: string[]; repoDigests?: string[]; source?: ImageSource }): Promise<ImageRecord>;
  /** The Dockerfile lines behind an image that existed already (see ImageSource). */
  recordImageSource(id: Digest, source: ImageSource): Promise<void>;
  imageExists(id: Digest): Promise<boolean>;
  imageById(id: Digest): Promise<ImageRecord>;
  listImages(): Promise<ImageRecord[]>;
  resolveImage(refOrId: string, opts?: { platform?: Platform }): Promise<ImageRecord>;
  addImageIndex(indexBytes: Buffer, tags: readonly string[]): Promise<unknown>;
  createImageIndex(images: readonly ImageRecord[], tags: readonly string[]): Promise<{ digest: Digest }>;
  tag(ref: string, id: Digest): Promise<void>;
  collectGarbage(opts?: { candidates?: Set<Digest>; graceMs?: number }): Promise<GcResult>;

  getCacheEntry(key: string): Promise<CacheEntry | undefined>;
  putCacheEntry(key: string, entry: CacheEntry): Promise<void>;
  listCacheEntries(): Promise<ListedCacheEntry[]>;
  removeCacheEntry(key: string): Promise<void>;
  /** What a COPY layer placed, as the builder wrote it (a hint: see copy/writer.ts ReuseSource). */
  putPlaced(diffId: Digest, text: string): Promise<void>;
  placed(diffId: Digest): Promise<string | undefined>;
  /** The file of a context's stat cache (context/stat-cache.ts reads and writes it). */
  statCacheFile(contextKey: string): string;
  statCacheFiles(): Promise<{ name: string; path: string; size: number; mtimeMs: number }[]>;
  /** Where RUN --mount=type=cache directories live (cache-mount.ts lays them out). */
  cacheMountsDir(): string;
}
