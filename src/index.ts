/** berth's public library API. */
export { BerthError, UsageError } from "./errors.js";
