/** Build planning: stages, DAG, target pruning, build args; pure functions over the parser's AST. */
export { planBuild, unusedBuildArgsWarning, errorAt } from "./plan.js";
export { argDeclarations, platformArgs, PROXY_ARGS, resolveBuildArgs, type ArgDeclaration } from "./args.js";
export { onbuildSteps } from "./onbuild.js";
export { isSecretKey, lintDockerfile, lintSummary, type LintWarning } from "./lint.js";
export type { BuildPlan, PlanOptions, PlannedStage, StageBase, StageSource } from "./types.js";
