/** berth's public library API. */
export { BerthError, UsageError } from "./errors.js";
export { parse, dumpAst, DockerfileSyntaxError } from "./parser/index.js";
export type * from "./parser/index.js";
export { parseInstructions, toInstructions, parseMountSpec } from "./instructions/index.js";
export type * from "./instructions/index.js";
