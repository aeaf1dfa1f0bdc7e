/** berth's public library API. */
export { BerthError, UsageError } from "./errors.js";
export * as context from "./context/index.js";
export * as copy from "./build/copy/index.js";
