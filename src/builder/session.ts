import type { Instruction } from "../instructions/index.js";
import type { BuildPlan } from "../plan/index.js";
import type { BuilderStore } from "./store-port.js";
import type { BuildError } from "./errors.js";
import type { BuildEvent } from "./events.js";
import type { BuildOptions } from "./options.js";
import type { BuildResources } from "./resources.js";
import type { BuildSandbox, RunNetwork } from "./sandbox.js";
import type { StageState } from "./stage-state.js";
import type { StepCache } from "./step-cache.js";

/** What one build shares with the code that dispatches its steps (see builder.ts). */
export interface BuildSession {
  readonly options: BuildOptions;
  /** Where `--secret env=`, `--build-arg K` and the like are read (BuildOptions.environment). */
  readonly environment: Readonly<Record<string, string | undefined>>;
  readonly store: BuilderStore;
  readonly plan: BuildPlan;
  /** SOURCE_DATE_EPOCH, when set. */
  readonly epoch: number | undefined;
  /** runc state of this build's containers only, so a cancel can kill exactly them. */
  readonly stateDir: string;
  readonly cache: StepCache;
  readonly resources: BuildResources;
  /** The RUN steps' network namespace (network "default"), made when the first of them runs. */
  readonly sandbox: BuildSandbox;
  /** RUN's network when a RUN does not say (berth build --network). */
  readonly defaultNetwork: RunNetwork;
  emit(e: BuildEvent): void;
  /** A new progress id (a step, a cache import …). */
  nextId(): number;
  /** Takes work to wait for at the end of the build. */
  deferCleanup(p: Promise<void>): void;
  /** `--from` / `from=`: a stage (by name or index, built first) or an image (pulled if missing). */
  fromSource(from: string): Promise<{ layers: string[]; identity: string; label: string }>;
  /** A RUN starts: whether another RUN may follow it in this build (runTransient's anotherFollows). */
  runStarts(onbuild: boolean): boolean;
}

/** One step being dispatched: where it is, the stage's state, and its helpers. */
export interface Step<I extends Instruction = Instruction> {
  index: number;
  position: number;
  node: I;
  /** Its title in progress output, `[stage 2/5] RUN make`. */
  name: string;
  state: StageState;
  noCache: boolean;
  onbuild: boolean;
  /** The step's progress id, shown (as BuildKit's vertex) from the first call on. */
  show(): number;
  /** A word expanded with the stage's variables (errors as a BuildError of the step). */
  expand(word: string, options?: { skipProcessQuotes?: boolean }): string;
  /** A word expanded and split into words. */
  expandWords(word: string): string[];
  fail(detail: string, extra?: { output?: string; exitCode?: number; cause?: unknown }): BuildError;
}
