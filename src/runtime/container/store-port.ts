import type { Digest } from "../../image/digest.js";
import type { ImageConfig, Platform } from "../../image/types.js";
import type { VolumeInfo } from "../../store/volumes.js";

/**
 * The store verbs the container runtime uses (a structural subset of src/store's Store, so
 * the runtime depends on the contract, not on the implementation).
 */
export interface RuntimeSnapshot {
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  id: string;
}

export interface RuntimeLayerInfo {
  diffId: Digest;
  size: number;
  /** the bytes of its files (what sizes show); the tar's `size` where unknown */
  contentSize?: number;
  dir: string;
}

export interface RuntimeImageRecord {
  id: Digest;
  config: ImageConfig;
  repoTags: string[];
  layers: RuntimeLayerInfo[];
}

export interface RuntimeStore {
  readonly root: string;
  resolveImage(refOrId: string, opts?: { platform?: Platform }): Promise<RuntimeImageRecord>;
  prepareSnapshot(parentDiffIds: Digest[], opts?: { durable?: boolean }): Promise<RuntimeSnapshot>;
  commitSnapshot(s: RuntimeSnapshot, opts?: { sourceDateEpoch?: number }): Promise<RuntimeLayerInfo>;
  removeSnapshot(s: RuntimeSnapshot, opts?: { sync?: boolean }): Promise<void>;
  createImage(config: ImageConfig, opts?: { tags?: string[] }): Promise<RuntimeImageRecord>;
  containerDir(id: string, opts?: { create?: boolean }): Promise<string>;
  listContainerIds(): Promise<string[]>;
  removeContainerDir(id: string): Promise<void>;
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T>;
  createVolume(name?: string, options?: { labels?: Record<string, string>; anonymous?: boolean }): Promise<VolumeInfo>;
  inspectVolume(name: string): Promise<VolumeInfo>;
  listVolumes(): Promise<VolumeInfo[]>;
  removeVolume(name: string, inUseBy?: string[]): Promise<void>;
  /** Where network records live (their format is runtime/network/records.ts's). */
  networksDir(): string;
}
