import type { Command } from "commander";
import type { Digest } from "../image/digest.js";
import type { Platform } from "../image/types.js";
import type { ImageRecord, Store } from "../store/index.js";
import type { IndexRecord } from "../store/indexes.js";

/**
 * The store verbs the CLI calls itself (a structural subset of src/store's Store, as
 * builder/store-port.ts is the builder's): images listed, resolved and tagged, the tags of
 * multi-platform images (their indexes). Container commands reach the store through the
 * runtime's port (runtime/container/store-port.ts).
 */
export interface CliStore {
  readonly root: string;
  listImages(): Promise<ImageRecord[]>;
  resolveImage(refOrId: string, opts?: { platform?: Platform }): Promise<ImageRecord>;
  resolveImageId(refOrId: string): Promise<Digest>;
  tag(ref: string, id: Digest): Promise<void>;
  imageIndex(ref: string): Promise<IndexRecord | undefined>;
  addImageIndex(indexBytes: Buffer, tags: readonly string[]): Promise<IndexRecord>;
  readonly indexes: { memberTags(): Promise<Map<Digest, string[]>> };
}

/**
 * The store --root names. Whole, for the operations that take it so (archives, gc, disk
 * usage, the store check); a handler of its own calls holds it as a CliStore.
 */
export async function storeFor(cmd: Command): Promise<Store> {
  return storeForRoot(cmd.optsWithGlobals<{ root?: string }>().root);
}

export async function storeForRoot(rootOption: string | undefined): Promise<Store> {
  const { openStore, resolveStoreRoot } = await import("../store/index.js");
  return openStore(resolveStoreRoot(rootOption));
}
