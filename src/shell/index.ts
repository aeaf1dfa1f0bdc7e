/** Dockerfile word expansion ($VAR, ${VAR:-w}, quotes, escapes) with BuildKit's semantics. */
export { expandWord, expandWords, expandWordWithInfo, type ExpandOptions, type ExpansionResult } from "./expand.js";
export { type ShellEnv } from "./env.js";
export { ShellExpansionError } from "./shell-expansion-error.js";
