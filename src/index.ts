/** berth's public library API. */
export { BerthError, UsageError } from "./errors.js";
export { parse, dumpAst, DockerfileSyntaxError } from "./parser/index.js";
export type * from "./parser/index.js";
export { parseInstructions, toInstructions, parseMountSpec } from "./instructions/index.js";
export type * from "./instructions/index.js";
export { expandWord, expandWords, expandWordWithInfo, ShellExpansionError } from "./shell/index.js";
export type { ExpandOptions, ExpansionResult, ShellEnv } from "./shell/index.js";
export * as context from "./context/index.js";
export * as copy from "./build/copy/index.js";
export * as runtime from "./runtime/index.js";
export { RuntimeError } from "./runtime/errors.js";
export { openStore, Store, StoreError, resolveStoreRoot, writeFileAtomic } from "./store/index.js";
export type { ImageRecord, LayerInfo, Snapshot, CacheEntry } from "./store/index.js";
export { parseReference, parseNormalizedNamed, formatReference, familiarString } from "./image/reference.js";
export { RegistryClient, RegistryError, pullImage, pullByName, pushImage, pushStoredImage, parseRemoteReference } from "./registry/index.js";
export type { RemoteReference, TransferProgress, ProgressCallback, PullResult, PushResult } from "./registry/index.js";
export * as registry from "./registry/index.js";
