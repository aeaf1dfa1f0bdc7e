/** The builder: executes a plan step by step with the build cache, makes the image. */
export { build, writeIidFile } from "./builder.js";
export { BuildError, type BuildErrorStep } from "./errors.js";
export type { BuildEvent, BuildEventSink } from "./events.js";
export type { BuildOptions, BuildResult, SecretSpec } from "./options.js";
export { cacheKey, explainMiss, type KeyInputs } from "./keys.js";
export { goDuration, goQuoteList, runCommandString, HISTORY_COMMENT } from "./history.js";
export { parseCacheFrom, parseCacheTo, type CacheExportMode, type CacheExportSpec, type CacheImportSpec } from "./cache-options.js";
export type { CacheExchangeStats } from "./cache-exchange.js";
export { buildCacheUsage, pruneBuildCache, type BuildCacheUsage, type PruneBuildCacheOptions, type PruneBuildCacheResult } from "./prune.js";
export { ENTITLEMENTS, parseEntitlements, type Entitlement } from "./entitlements.js";
export { planCacheMount, type CacheMountPlan } from "./cache-mount.js";
