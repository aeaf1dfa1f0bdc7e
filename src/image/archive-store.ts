import type { Readable } from "node:stream";
import type { Digest } from "./digest.js";
import type { Descriptor, ImageConfig, ImageManifest, Platform } from "./types.js";

/** A layer as the archive code sees it once stored. */
export interface ArchiveLayer {
  diffId: Digest;
}

/** A layer applied into the store's staging, not yet part of it (the store's prepareLayer). */
export interface ArchivePreparedLayer {
  digest: Digest;
  diffId: Digest;
  commit(expect?: { expectedDigest?: Digest; expectedDiffId?: Digest }): Promise<ArchiveLayer>;
  discard(): Promise<void>;
}

/** An image as the archive code sees it. */
export interface ArchiveImage {
  id: Digest;
  manifestDigest: Digest;
  manifest: ImageManifest;
}

/**
 * The store verbs docker-archive and OCI-layout exchange (import, load, save) use: a
 * structural subset of src/store's Store, so this code depends on the contract, not on where
 * blobs live.
 */
export interface ArchiveStore<Image extends ArchiveImage = ArchiveImage> {
  /** A fresh path on the store's file system, for staging (nothing there is part of the store). */
  stagingPath(prefix: string): string;
  prepareLayer(tar: NodeJS.ReadableStream, opts: { source?: string }): Promise<ArchivePreparedLayer>;
  importLayer(
    tar: NodeJS.ReadableStream,
    opts: { source?: string; keepCompressed?: boolean; adoptFile?: string; expectedDigest?: Digest; expectedDiffId?: Digest },
  ): Promise<ArchiveLayer>;
  layerRecord(diffId: Digest): Promise<{ blobs: Descriptor[] } | undefined>;
  hasBlob(d: Digest): Promise<boolean>;
  readBlob(d: Digest): Promise<Buffer>;
  exportBlob(d: Digest): Promise<{ stream: Readable; size: number }>;
  imageExists(id: Digest): Promise<boolean>;
  imageById(id: Digest): Promise<Image>;
  resolveImageId(refOrId: string): Promise<Digest>;
  addImage(configBytes: Buffer, opts: { manifestBytes?: Buffer }): Promise<Image>;
  createImage(config: ImageConfig, opts: { tags?: string[] }): Promise<Image>;
  removeImageEntry(id: Digest): Promise<void>;
  /** The multi-platform image a tag names (its index's exact bytes and its images), if any. */
  imageIndex(ref: string): Promise<{ digest: Digest; bytes: Buffer; members: { id: Digest; manifestDigest: Digest; platform: Platform }[] } | undefined>;
  addImageIndex(indexBytes: Buffer, tags: readonly string[]): Promise<unknown>;
  readRefs(): Promise<Record<string, Digest>>;
  updateRefs(change: (refs: Record<string, Digest>) => boolean): Promise<void>;
  /** Removes what only these candidates kept (gc): a failed load's leftovers. */
  collectGarbage(opts: { candidates: Set<Digest> }): Promise<unknown>;
}
