import type { FromInstruction, Instruction } from "../instructions/index.js";
import type { SourceRange } from "../parser/index.js";

/** Where a stage starts: nothing, an earlier stage, or an image (resolved by the executor). */
export type StageBase =
  | { kind: "scratch" }
  | { kind: "stage"; index: number }
  | { kind: "image"; ref: string };

/** A stage a step reads from (`COPY --from`, `RUN --mount from=`): a stage or an image. */
export type StageSource = { kind: "stage"; index: number } | { kind: "image"; ref: string };

export interface PlannedStage {
  index: number;
  /** `AS name`, lower-cased as BuildKit matches it; undefined when unnamed. */
  name: string | undefined;
  base: StageBase;
  /** The FROM line's image word after expansion with the global ARGs (for progress and history). */
  baseName: string;
  platform: string | undefined;
  from: FromInstruction;
  /** The stage's instructions, typed and unexpanded: expansion needs the base image's ENV. */
  steps: Instruction[];
  /** Stages this one needs (its base and every `--from`), earliest first. */
  dependsOn: number[];
}

export interface BuildPlan {
  file: string;
  lines: readonly string[];
  /** Every instruction of the Dockerfile, typed and validated. */
  instructions: readonly Instruction[];
  escapeToken: string;
  /** Global ARGs (before the first FROM) with their values after build args. */
  globalArgs: Map<string, string>;
  stages: PlannedStage[];
  /** The stage the build produces. */
  target: number;
  /** Stages the target needs, in an order where each comes after what it needs. */
  order: number[];
  /** Build args given on the command line that no ARG in the needed stages declares. */
  unusedBuildArgs: string[];
  /** Build args after `--build-arg K` lookups in the environment. */
  buildArgs: Map<string, string>;
}

export interface PlanOptions {
  /** `--build-arg K=V` / `--build-arg K` strings, or a ready map. */
  buildArgs?: readonly string[] | ReadonlyMap<string, string>;
  /** Where `--build-arg K` takes its value (default process.env). */
  environment?: Readonly<Record<string, string | undefined>>;
  target?: string;
  /** `--platform`: the platform built for (TARGETPLATFORM), os/arch[/variant]; default this machine's. */
  platform?: string;
}

export type { SourceRange };
