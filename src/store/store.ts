import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { Digest } from "../image/digest.js";
import { platformMatches, platformOfConfig } from "../image/platform.js";
import type { Descriptor, ImageConfig, Platform } from "../image/types.js";
import type { HeldLock } from "../sys/flock.js";
import { requireRootOrNamespace } from "../sys/host-uid.js";
import { BlobStore } from "./blobs.js";
import { BuildCache, type ListedCacheEntry } from "./build-cache.js";
import { Containers } from "./containers.js";
import { Durability } from "./durability.js";
import { PlatformMismatchError } from "./errors.js";
import { collectGarbage, type GcResult } from "./gc.js";
import { Images } from "./images.js";
import { Indexes, memberFor, type IndexRecord } from "./indexes.js";
import { LayerImports, type PrepareLayerOptions, type PreparedLayer } from "./layer-import.js";
import { Layers } from "./layers.js";
import { deadLeases, sweepDeadLeases } from "./leases.js";
import { Locks } from "./locks.js";
import { Refs } from "./refs.js";
import { resolveStoreRoot } from "./root.js";
import { Snapshots } from "./snapshots.js";
import { Staging } from "./staging.js";
import type { CacheEntry, ImageRecord, ImageSource, LayerInfo, LayerRecord, Snapshot } from "./types.js";
import { Volumes, type VolumeInfo } from "./volumes.js";

export { PENDING_DIFF_ID } from "./layers.js";
export type { PrepareLayerOptions, PreparedLayer } from "./layer-import.js";

/**
 * berth's on-disk store: one root, short names (overlay's option string is limited to a page),
 * each part owned by one module:
 *
 *   blobs/sha256/<hex>      content, verified on write and read            blobs.ts
 *   l/, layers/, ts/        extracted layers, their records, tar-splits    layers.ts, layer-import.ts
 *   s/<id>/{u,w}            snapshots in progress                          snapshots.ts
 *   images/<hex>.json       image records                                  images.ts
 *   refs.json               tags and digest references                     refs.ts
 *   indexes.json            tags of multi-platform images → image indexes  indexes.ts
 *   c/<id>/                 container directories                          containers.ts
 *   cache/, buildcache/     build cache entries, the builder's files       build-cache.ts
 *   volumes/<name>/         named volumes                                  volumes.ts
 *   networks/               network records (the runtime's format)
 *   tmp/                    staging: nothing here is part of the store     staging.ts
 *   locks/                  flock files; locks/live/ leases                locks.ts, leases.ts
 *
 * Every record appears by one rename; a record is written only after what it points to is
 * in place. So after a crash there can be orphans (unreferenced blobs, dirs, tmp files) but no
 * dangling records; `berth system check --repair` removes orphans.
 *
 * Store composes the parts and names their verbs for its users, who see narrow ports of it
 * (runtime/container/store-port.ts, builder/store-port.ts, …); nobody outside src/store/ builds
 * a path under the root.
 */
export class Store {
  readonly staging: Staging;
  readonly locks: Locks;
  readonly durability: Durability;
  readonly blobs: BlobStore;
  readonly layers: Layers;
  readonly layerImports: LayerImports;
  readonly snapshots: Snapshots;
  readonly refs: Refs;
  readonly images: Images;
  readonly indexes: Indexes;
  readonly containers: Containers;
  readonly buildCache: BuildCache;
  readonly volumes: Volumes;
  /**
   * The sweep of what killed processes left (leases.ts), started by open when it found one;
   * it runs behind the command.
   */
  sweeping: Promise<void> = Promise.resolve();

  private constructor(readonly root: string) {
    this.staging = new Staging(root);
    this.locks = new Locks(root);
    this.durability = new Durability(root);
    this.blobs = new BlobStore(root, this.staging);
    this.layers = new Layers(root, this.blobs, this.locks, this.staging, this.durability);
    this.layerImports = new LayerImports(this.layers, this.blobs, this.staging);
    this.snapshots = new Snapshots(root, this.layers, this.layerImports, this.staging);
    this.refs = new Refs(root, this.locks, (id) => this.images.exists(id));
    this.images = new Images(root, this.blobs, this.layers, this.refs, this.durability, this.staging);
    this.indexes = new Indexes(root, this.locks, this.blobs, this.refs, (id) => this.images.exists(id));
    this.containers = new Containers(root);
    this.buildCache = new BuildCache(root, this.durability);
    this.volumes = new Volumes(root);
  }

  static async open(root?: string): Promise<Store> {
    const store = new Store(resolveStoreRoot(root));
    // synchronous: 9 directories that exist after the first open cost 18 quick syscalls, far
    // less than 9 round trips through libuv's thread pool (every command opens the store)
    for (const d of [store.blobs.dir, store.layers.emptyDir, store.layers.recordsDir, store.layers.splitsDir, store.images.dir, store.buildCache.dir, store.containers.dir, store.snapshots.dir, store.staging.dir, join(store.root, "locks")]) {
      mkdirSync(d, { recursive: true });
    }
    const dead = deadLeases(store.root);
    if (dead.length > 0) store.sweeping = sweepDeadLeases(store, dead).catch(() => undefined);
    return store;
  }

  /**
   * Ends this process's lease on the store (its file is held open until then). berth's commands
   * need not call it (the lease ends with the process); a library user whose process goes on
   * (and, say, unmounts the store's file system) does, once nothing of its work is in flight.
   */
  async close(): Promise<void> {
    await this.sweeping;
    this.staging.end();
  }

  /** Where a temp file of a dead writer may be left (`<prefix>-<pid>-…` in tmp/, `.<name>.tmp-<pid>-…` beside records). */
  tempFileDirs(): string[] {
    return [this.staging.dir, this.layers.recordsDir, this.images.dir, this.buildCache.dir, this.root];
  }

  /** The network records' directory (their format is the runtime's: runtime/network/records.ts). */
  networksDir(): string {
    return join(this.root, "networks");
  }

  // ---------------------------------------------------------------- blobs, locks, staging

  putBlob(data: Uint8Array | NodeJS.ReadableStream, expected?: Digest): Promise<{ digest: Digest; size: number }> {
    return this.blobs.put(data, expected);
  }
  hasBlob(d: Digest): Promise<boolean> {
    return this.blobs.has(d);
  }
  readBlob(d: Digest): Promise<Buffer> {
    return this.blobs.read(d);
  }
  withLock<T>(name: string, fn: () => Promise<T>, mode: "exclusive" | "shared" = "exclusive"): Promise<T> {
    return this.locks.with(name, fn, mode);
  }
  /** withLock's lock, held until released (a build holds "build" shared from its start to its end, see builder prune). */
  holdLock(name: string, mode: "exclusive" | "shared" = "exclusive", opts: { signal?: AbortSignal } = {}): Promise<HeldLock> {
    return this.locks.hold(name, mode, opts);
  }
  /** A fresh staging path under tmp/ (same file system, so commits are renames). */
  stagingPath(prefix: string): string {
    return this.staging.path(prefix);
  }

  // ---------------------------------------------------------------- durability

  flushEarly(): void {
    this.durability.flushEarly();
  }
  layersDurable(diffIds: readonly Digest[], opts: { urgent?: boolean } = {}): Promise<void> {
    return this.durability.layersDurable(diffIds, opts);
  }

  // ---------------------------------------------------------------- layers

  layerRecord(diffId: Digest): Promise<LayerRecord | undefined> {
    return this.layers.record(diffId);
  }
  layer(diffId: Digest): Promise<LayerInfo | undefined> {
    return this.layers.layer(diffId);
  }
  knownOpaque(absDir: string): boolean | undefined {
    return this.layers.knownOpaque(absDir);
  }
  importLayer(tar: NodeJS.ReadableStream, opts: PrepareLayerOptions & { expectedDigest?: Digest; expectedDiffId?: Digest } = {}): Promise<LayerInfo> {
    return this.layerImports.import(tar, opts);
  }
  prepareLayer(tar: NodeJS.ReadableStream, opts: PrepareLayerOptions = {}): Promise<PreparedLayer> {
    return this.layerImports.prepare(tar, opts);
  }
  openLayerTar(diffId: Digest): Promise<{ stream: Readable; size: number }> {
    return this.layers.openTar(diffId);
  }
  compressedLayerBlob(diffId: Digest): Promise<Descriptor> {
    return this.layers.compressedBlob(diffId);
  }
  exportBlob(d: Digest): Promise<{ stream: Readable; size: number }> {
    return this.layers.exportBlob(d);
  }

  // ---------------------------------------------------------------- snapshots

  prepareSnapshot(parents: readonly (Digest | LayerInfo)[], opts: { durable?: boolean } = {}): Promise<Snapshot> {
    return this.snapshots.prepare(parents, opts);
  }
  commitSnapshot(s: Snapshot, opts: { sourceDateEpoch?: number; keep?: boolean; noXattrs?: boolean } = {}): Promise<LayerInfo> {
    return this.snapshots.commit(s, opts);
  }
  detachSnapshot(s: Snapshot): string {
    return this.snapshots.detach(s);
  }
  commitDetached(layerDir: string, opts: { sourceDateEpoch?: number; noXattrs?: boolean; yieldMs?: number } = {}): Promise<{ layer: LayerInfo; leftover?: string }> {
    return this.snapshots.commitDetached(layerDir, opts);
  }
  removeSnapshot(s: Snapshot, opts: { sync?: boolean } = {}): Promise<void> {
    return this.snapshots.remove(s, opts);
  }

  // ---------------------------------------------------------------- images and references

  addImage(configBytes: Buffer, opts: { manifestBytes?: Buffer; tags?: string[]; repoDigests?: string[]; source?: ImageSource } = {}): Promise<ImageRecord> {
    return this.images.add(configBytes, opts);
  }
  recordImageSource(id: Digest, source: ImageSource): Promise<void> {
    return this.images.recordSource(id, source);
  }
  createImage(config: ImageConfig, opts: { tags?: string[] } = {}): Promise<ImageRecord> {
    return this.images.create(config, opts);
  }
  imageExists(id: Digest): Promise<boolean> {
    return this.images.exists(id);
  }
  imageById(id: Digest): Promise<ImageRecord> {
    return this.images.byId(id);
  }
  listImages(): Promise<ImageRecord[]> {
    return this.images.list();
  }
  /**
   * An image by reference or ID; with `platform`, the multi-platform image's image for it, or
   * a single image that is of it (else NoSuchImageError's subclass PlatformMismatchError: a
   * pull may fetch it, as Docker's `run --platform` does).
   */
  async resolveImage(refOrId: string, opts: { platform?: Platform } = {}): Promise<ImageRecord> {
    if (opts.platform === undefined) return this.images.resolve(refOrId);
    const index = await this.indexes.forTag(refOrId);
    if (index !== undefined) {
      const member = memberFor(index, opts.platform);
      if (member === undefined) throw new PlatformMismatchError(refOrId, opts.platform, index.members.map((m) => m.platform));
      return this.images.byId(member.id);
    }
    const image = await this.images.resolve(refOrId);
    const actual = platformOfConfig(image.config);
    if (!platformMatches(opts.platform, actual)) throw new PlatformMismatchError(refOrId, opts.platform, [actual]);
    return image;
  }
  /** The multi-platform image a tag names, if it names one. */
  imageIndex(ref: string): Promise<IndexRecord | undefined> {
    return this.indexes.forTag(ref);
  }
  addImageIndex(indexBytes: Buffer, tags: readonly string[]): Promise<IndexRecord> {
    return this.indexes.add(indexBytes, tags);
  }
  replaceImageIndex(old: Digest, ids: readonly Digest[], bytes: Buffer): Promise<IndexRecord> {
    return this.indexes.replace(old, ids, bytes);
  }
  createImageIndex(images: readonly ImageRecord[], tags: readonly string[]): Promise<IndexRecord> {
    return this.indexes.create(images, tags);
  }
  resolveImageId(refOrId: string): Promise<Digest> {
    return this.images.resolveId(refOrId);
  }
  removeImageEntry(id: Digest): Promise<void> {
    return this.images.removeEntry(id);
  }
  readRefs(): Promise<Record<string, Digest>> {
    return this.refs.read();
  }
  updateRefs(change: (refs: Record<string, Digest>) => boolean | Promise<boolean>): Promise<void> {
    return this.refs.update(change);
  }
  tag(ref: string, id: Digest): Promise<void> {
    return this.refs.tag(ref, id);
  }
  collectGarbage(opts: { candidates?: Set<Digest>; graceMs?: number } = {}): Promise<GcResult> {
    return collectGarbage(this, opts);
  }

  // ---------------------------------------------------------------- containers, volumes

  containerDir(id: string, opts: { create?: boolean } = {}): Promise<string> {
    return this.containers.open(id, opts);
  }
  listContainerIds(): Promise<string[]> {
    return this.containers.listIds();
  }
  removeContainerDir(id: string): Promise<void> {
    return this.containers.remove(id);
  }
  imagesInUse(): Promise<Map<Digest, string[]>> {
    return this.containers.imagesInUse();
  }
  createVolume(name?: string, options: { labels?: Record<string, string>; anonymous?: boolean } = {}): Promise<VolumeInfo> {
    return this.volumes.create(name, options);
  }
  inspectVolume(name: string): Promise<VolumeInfo> {
    return this.volumes.inspect(name);
  }
  listVolumes(): Promise<VolumeInfo[]> {
    return this.volumes.list();
  }
  removeVolume(name: string, inUseBy: string[] = []): Promise<void> {
    return this.volumes.remove(name, inUseBy);
  }

  // ---------------------------------------------------------------- build cache

  getCacheEntry(key: string): Promise<CacheEntry | undefined> {
    return this.buildCache.get(key);
  }
  putCacheEntry(key: string, entry: CacheEntry): Promise<void> {
    return this.buildCache.put(key, entry);
  }
  listCacheEntries(): Promise<ListedCacheEntry[]> {
    return this.buildCache.list();
  }
  removeCacheEntry(key: string): Promise<void> {
    return this.buildCache.remove(key);
  }
  putPlaced(diffId: Digest, text: string): Promise<void> {
    return this.buildCache.putPlaced(diffId, text);
  }
  placed(diffId: Digest): Promise<string | undefined> {
    return this.buildCache.placed(diffId);
  }
  statCacheFile(contextKey: string): string {
    return this.buildCache.statCacheFile(contextKey);
  }
  statCacheFiles(): Promise<{ name: string; path: string; size: number; mtimeMs: number }[]> {
    return this.buildCache.statCacheFiles();
  }
  cacheMountsDir(): string {
    return this.buildCache.mountsDir();
  }
}

export function openStore(root?: string): Promise<Store> {
  requireRootOrNamespace("openStore");
  return Store.open(root);
}
