export { Store, openStore } from "./store.js";
export { writeFileAtomic } from "./atomic.js";
export { resolveStoreRoot } from "./root.js";
export { NoSuchImageError, PlatformMismatchError, StoreError } from "./errors.js";
export { defaultMember, memberFor, type IndexMember, type IndexRecord } from "./indexes.js";
export { collectGarbage, removeImage, pruneImages, GC_GRACE_MS, type GcResult, type RemoveImageResult } from "./gc.js";
export { checkStore, type CheckProblem, type CheckReport } from "./check.js";
export type { CacheEntry, ImageRecord, ImageSource, LayerInfo, Snapshot, LayerRecord } from "./types.js";
export { EVENTS_LOG, recordEvent, readEvents, readNewEvents, eventJson, type EventType, type EventsCursor, type StoreEvent } from "./events.js";
