import type { Digest } from "../image/digest.js";
import type { Descriptor, ImageConfig, ImageManifest } from "../image/types.js";

/** A layer as other modules see it: its diff_id, the size of its tar, its extracted directory. */
export interface LayerInfo {
  diffId: Digest;
  size: number;
  /**
   * What Docker shows as the layer's size (history, images, inspect): the sum of its files'
   * sizes (symlinks' target lengths included, hard links once), not tar bytes.
   */
  contentSize: number;
  /** The extracted tree, usable as an overlay lowerdir (whiteouts as overlay whiteouts). */
  dir: string;
  /**
   * Directories of `dir` marked opaque (relative, no leading '/'), as recorded when the layer was
   * made; undefined for records older than this field (ask the file system then).
   */
  opaque?: readonly string[];
}

export interface ImageRecord {
  /** Config digest = Docker's image ID. */
  id: Digest;
  manifestDigest: Digest;
  config: ImageConfig;
  /** Familiar form, as Docker prints them: `busybox:latest`. */
  repoTags: string[];
  /** `repo@sha256:<manifest digest>` for each registry the image was pulled from or pushed to (familiar form). */
  repoDigests: string[];
  /** Bottom first. */
  layers: LayerInfo[];
  manifest: ImageManifest;
  /** When the image entered this store (ISO 8601). */
  added: string;
  /** Sum of the layers' content sizes (what `docker images` and inspect's .Size show). */
  size: number;
  /** Where a berth build took the image's history entries from (absent for other images). */
  source?: ImageSource;
}

/**
 * The Dockerfile lines behind an image's history, as its berth build recorded them: kept beside
 * the image (its record), not in its config, so the image is byte for byte what Docker makes.
 */
export interface ImageSource {
  /** The Dockerfile as the build named it (`-f`, else `Dockerfile`). */
  dockerfile: string;
  /** Per history entry: its instruction's first and last line; null where no line of this Dockerfile made it (the base image's). */
  lines: ([number, number] | null)[];
}

export interface Snapshot {
  /** Top first, as overlay's lowerdir= wants them; never empty (an empty dir stands in for scratch). */
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  id: string;
}

/** A build-cache record: opaque to the store except `layers`, which garbage collection keeps alive. */
export interface CacheEntry {
  layers: Digest[];
  [key: string]: unknown;
}

/** On-disk layer record: `<root>/layers/<hex>.json`. */
export interface LayerRecord {
  diffId: Digest;
  size: number;
  /** Directory name under `<root>/l/`. */
  dir: string;
  /** Stored blobs whose decompressed content is this layer's tar. */
  blobs: Descriptor[];
  /** The tar can be made again from `dir` byte for byte (layers we diffed ourselves). */
  reproducible: boolean;
  sourceDateEpoch?: number;
  /** Opaque directories of `dir` (see LayerInfo.opaque); absent in older records. */
  opaque?: string[];
  /** LayerInfo.contentSize; records written before it was kept fall back to `size`. */
  contentSize?: number;
  /** `ts/<hex>.gz` holds a tar-split record: the tar is made again from `dir` and it (layer/tarsplit.ts). */
  tarSplit?: boolean;
  created: string;
}

/** On-disk image record: `<root>/images/<hex>.json`; config and manifest are blobs. */
export interface ImageEntry {
  id: Digest;
  manifestDigest: Digest;
  added: string;
  source?: ImageSource;
}
