import { DockerfileSyntaxError, type DockerfileAst, type SourceRange } from "../parser/index.js";
import { expandWord, ShellExpansionError } from "../shell/index.js";
import { toInstructions, type Instruction } from "../instructions/index.js";
import { parsePlatform } from "../image/platform.js";
import { argDeclarations, platformArgs, PROXY_ARGS, resolveBuildArgs } from "./args.js";
import type { BuildPlan, PlanOptions, PlannedStage, StageSource } from "./types.js";

/** A Dockerfile error at an instruction: file:line:col and a code frame. */
export function errorAt(plan: { file: string; lines: readonly string[] }, at: { readonly range: SourceRange }, detail: string, cause?: unknown): DockerfileSyntaxError {
  const line = at.range.start.line;
  return new DockerfileSyntaxError(detail, { file: plan.file, line, column: at.range.start.column, sourceLine: plan.lines[line - 1] }, { cause });
}

/**
 * Turns a parsed Dockerfile into a build plan: stages with their bases and dependencies, the
 * global ARGs after build args, the target and what it needs. Pure: nothing is read or run;
 * instructions stay unexpanded except the words BuildKit expands with global ARGs only (the
 * FROM image, `COPY --from`, `RUN --mount from=`).
 */
export function planBuild(ast: DockerfileAst, text: string, options: PlanOptions = {}): BuildPlan {
  // Every instruction's flags and arguments are validated first (unknown flags, bad values),
  // with errors that point at the line; the plan and the build work on the typed instructions.
  const instructions = toInstructions(ast, text);
  const lines = text.split(/\r?\n/);
  const ctx = { file: ast.file, lines };
  const buildArgs = resolveBuildArgs(options.buildArgs, options.environment);
  const globalArgs = platformArgs(options.platform === undefined ? undefined : parsePlatform(options.platform));
  const declared = new Set<string>();
  const expandGlobal = (node: Instruction, word: string): string => {
    try {
      return expandWord(word, globalArgs, { escapeToken: ast.escapeToken });
    } catch (err) {
      if (err instanceof ShellExpansionError) throw errorAt(ctx, node, err.message, err);
      throw err;
    }
  };

  const stages: PlannedStage[] = [];
  const byName = new Map<string, number>();
  let current: PlannedStage | undefined;

  const sourceFor = (node: Instruction, raw: string, what: string): StageSource => {
    const name = expandGlobal(node, raw);
    const self = current as PlannedStage;
    if (/^\d+$/.test(name)) {
      const index = Number(name);
      if (index >= self.index) throw errorAt(ctx, node, `invalid ${what} ${name}: refers to the current or a later stage`);
      return { kind: "stage", index };
    }
    const found = byName.get(name.toLowerCase());
    if (found !== undefined) return { kind: "stage", index: found };
    if (self.name !== undefined && self.name === name.toLowerCase()) throw errorAt(ctx, node, `${what} ${name} refers to the stage itself`);
    return { kind: "image", ref: name };
  };

  for (const node of instructions) {
    if (node.kind === "from") {
      const image = expandGlobal(node, node.image.raw);
      if (image === "") throw errorAt(ctx, node, `base name (${node.image.raw}) should not be blank`);
      const name = node.stageName;
      if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name)) throw errorAt(ctx, node, `invalid name for build stage: "${node.stageNameRaw ?? name}", name can't start with a number or contain symbols`);
      if (name !== undefined && byName.has(name)) throw errorAt(ctx, node, `duplicate stage name "${name}"`);
      const index = stages.length;
      const baseStage = byName.get(image.toLowerCase());
      current = {
        index,
        name,
        base: image.toLowerCase() === "scratch" ? { kind: "scratch" } : baseStage !== undefined ? { kind: "stage", index: baseStage } : { kind: "image", ref: image },
        baseName: image,
        platform: node.platform === undefined ? undefined : expandGlobal(node, node.platform.raw),
        from: node,
        steps: [],
        dependsOn: baseStage !== undefined ? [baseStage] : [],
      };
      stages.push(current);
      if (name !== undefined) byName.set(name, index);
      continue;
    }
    if (current === undefined) {
      if (node.kind !== "arg") throw errorAt(ctx, node, "no build stage in current context: the first instruction must be FROM (or ARG)");
      for (const d of argDeclarations(node)) {
        declared.add(d.key);
        const given = buildArgs.get(d.key);
        if (given !== undefined) globalArgs.set(d.key, given);
        else if (d.defaultValue !== undefined) globalArgs.set(d.key, expandGlobal(node, d.defaultValue));
        else if (!globalArgs.has(d.key)) globalArgs.delete(d.key);
      }
      continue;
    }
    current.steps.push(node);
    const addDep = (s: StageSource) => {
      if (s.kind === "stage" && !current!.dependsOn.includes(s.index)) current!.dependsOn.push(s.index);
    };
    if (node.kind === "copy" && node.from !== undefined) {
      const from = node.from.raw;
      let literal: string;
      try {
        literal = expandWord(from, new Map(), { escapeToken: ast.escapeToken });
      } catch (err) {
        throw errorAt(ctx, node, (err as Error).message, err);
      }
      if (literal !== from) {
        throw errorAt(ctx, node, "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround");
      }
      addDep(sourceFor(node, from, "--from"));
    } else if (node.kind === "run") {
      for (const mount of node.mounts) {
        const from = mount.type === "bind" || mount.type === "cache" ? mount.from : undefined;
        if (from !== undefined) addDep(sourceFor(node, from, "mount from"));
      }
    }
  }
  if (stages.length === 0) throw new DockerfileSyntaxError("the Dockerfile has no FROM instruction", { file: ast.file, line: 1, column: 1 });

  let target = stages.length - 1;
  if (options.target !== undefined) {
    const t = byName.get(options.target.toLowerCase());
    if (t === undefined) throw new DockerfileSyntaxError(`failed to reach build target ${options.target} in Dockerfile`, { file: ast.file, line: 1, column: 1 });
    target = t;
  }
  const order: number[] = [];
  const visit = (i: number) => {
    if (order.includes(i)) return;
    for (const d of (stages[i] as PlannedStage).dependsOn) visit(d);
    order.push(i);
  };
  visit(target);

  for (const i of order) for (const n of (stages[i] as PlannedStage).steps) if (n.kind === "arg") for (const d of argDeclarations(n)) declared.add(d.key);
  const unusedBuildArgs = [...buildArgs.keys()].filter((k) => !declared.has(k) && !PROXY_ARGS.has(k)).sort();
  return { file: ast.file, lines, instructions, escapeToken: ast.escapeToken, globalArgs, stages, target, order, unusedBuildArgs, buildArgs };
}

/** Docker's wording for build args nobody declared. */
export function unusedBuildArgsWarning(keys: readonly string[]): string | undefined {
  return keys.length === 0 ? undefined : `[Warning] One or more build-args [${keys.join(" ")}] were not consumed`;
}
