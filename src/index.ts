/** berth's public library API. */
export { BerthError, UsageError } from "./errors.js";
export { expandWord, expandWords, expandWordWithInfo, ShellExpansionError } from "./shell/index.js";
export type { ExpandOptions, ExpansionResult, ShellEnv } from "./shell/index.js";
export * as context from "./context/index.js";
export * as copy from "./build/copy/index.js";
export { build, BuildError } from "./build/index.js";
export type { BuildEvent, BuildOptions, BuildResult, SecretSpec } from "./build/index.js";
export { planBuild } from "./plan/index.js";
export type { BuildPlan, PlannedStage, PlanOptions } from "./plan/index.js";
