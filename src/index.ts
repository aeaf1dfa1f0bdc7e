/** berth's public library API. */
export { BerthError, UsageError } from "./errors.js";
export { openStore, Store, StoreError, resolveStoreRoot, writeFileAtomic } from "./store/index.js";
export type { ImageRecord, LayerInfo, Snapshot, CacheEntry } from "./store/index.js";
export { parseReference, parseNormalizedNamed, formatReference, familiarString } from "./image/reference.js";
