/** berth's public library API. */
export { BerthError, UsageError } from "./errors.js";
export { expandWord, expandWords, expandWordWithInfo, ShellExpansionError } from "./shell/index.js";
export type { ExpandOptions, ExpansionResult, ShellEnv } from "./shell/index.js";
export * as context from "./context/index.js";
export * as copy from "./build/copy/index.js";
export * as runtime from "./runtime/index.js";
export { RuntimeError } from "./runtime/errors.js";
