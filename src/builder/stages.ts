import { formatPlatform, hostPlatform, parsePlatform, samePlatform } from "../image/platform.js";
import type { Platform } from "../image/types.js";
import type { ImageRecord } from "../store/types.js";
import { assertNever, type Instruction } from "../instructions/index.js";
import { onbuildSteps } from "../plan/index.js";
import { expandWord, expandWordWithInfo, ShellExpansionError } from "../shell/index.js";
import { NoSuchImageError, StoreError } from "../store/errors.js";
import { BerthError } from "../errors.js";
import { noteCodePath } from "../code-paths.js";
import { dispatchCopy } from "./copy/dispatch.js";
import { BuildError, type BuildErrorStep } from "./errors.js";
import { applyMetadata } from "./metadata.js";
import { dispatchRun } from "./run/dispatch.js";
import type { BuildSession, Step } from "./session.js";
import { cloneConfig, ensurePath, envListToMap, scratchConfig, stageEnv, type StageState } from "./stage-state.js";
import { dispatchWorkdir } from "./workdir.js";

export interface StageResult {
  state: StageState;
  /** Cache-chain identity of the stage's final filesystem. */
  key: string;
}

type StepFailure = { output?: string; exitCode?: number; cause?: unknown };

/**
 * The walk over the plan's stages: each stage is started once (those it needs first, side by
 * side), its base resolved (scratch, a stage, an image pulled when missing), its ONBUILD
 * triggers and steps dispatched in order by instruction kind.
 */
export class StageWalk {
  private readonly results = new Map<number, Promise<StageResult>>();
  private readonly images = new Map<string, Promise<ImageRecord>>();

  constructor(private readonly b: BuildSession) {}

  stageResult(index: number): Promise<StageResult> {
    return once(this.results, index, () => this.runStage(index));
  }

  /** Every stage started, settled (for the build's end, whatever happened). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.results.values()]);
  }

  /** `--from` / `from=`: a stage (by name or index) or an image. */
  async fromSource(from: string): Promise<{ layers: string[]; identity: string; label: string }> {
    const plan = this.b.plan;
    let index: number | undefined;
    if (/^\d+$/.test(from)) index = Number(from);
    else index = plan.stages.find((st) => st.name === from.toLowerCase())?.index;
    if (index !== undefined && index < plan.stages.length) {
      const r = await this.stageResult(index);
      return { layers: r.state.layers.map((l) => l.dir).reverse(), identity: `stage:${r.key}`, label: `stage ${from}` };
    }
    const rec = await this.image(from, this.b.options.platform === undefined ? undefined : parsePlatform(this.b.options.platform));
    return { layers: rec.layers.map((l) => l.dir).reverse(), identity: `image:${rec.id}`, label: `image ${from}` };
  }

  private stageLabel(index: number): string {
    const s = this.b.plan.stages[index]!;
    if (s.name !== undefined) return s.name;
    return this.b.plan.stages.length > 1 ? `stage-${index}` : "";
  }

  /** A base image; with a platform (`--platform`, `FROM --platform`), the image for it. */
  private image(ref: string, platform: Platform | undefined): Promise<ImageRecord> {
    return once(this.images, platform === undefined ? ref : `${ref}\0${formatPlatform(platform)}`, () => this.resolveOrPull(ref, platform));
  }

  /**
   * A base image from the store, pulled from its registry when missing — or always checked
   * against the registry with `--pull`, as `docker build --pull` does.
   */
  private async resolveOrPull(ref: string, platform: Platform | undefined): Promise<ImageRecord> {
    const { store, options } = this.b;
    let missing: NoSuchImageError | undefined;
    if (options.pull !== true) {
      try {
        return await store.resolveImage(ref, platform === undefined ? {} : { platform });
      } catch (err) {
        if (!(err instanceof NoSuchImageError)) throw err;
        missing = err;
      }
    }
    const { pullByName } = await import("../registry/index.js");
    try {
      await pullByName(store, ref, { client: options.registry, ...(platform !== undefined ? { platform } : {}) });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (missing !== undefined) {
        throw new StoreError(`${missing.message}, and pulling it failed: ${why} (berth pull, berth load or berth import it first)`, { cause: err });
      }
      throw err;
    }
    return store.resolveImage(ref, platform === undefined ? {} : { platform });
  }

  private async runStage(index: number): Promise<StageResult> {
    const { plan, options } = this.b;
    const stage = plan.stages[index]!;
    // Start what this stage needs now, so independent stages run side by side.
    for (const d of stage.dependsOn) void this.stageResult(d);
    const label = this.stageLabel(index);
    let state: StageState;
    let triggers: string[] = [];
    const fromId = this.b.nextId();
    // BuildKit's [stage k/n]: n counts the steps that are shown (FROM, RUN, COPY, ADD, WORKDIR),
    // k numbers them in the order they show, its width that of n (metadata steps are no vertices)
    const numbering = { shown: 1, total: 1 + stage.steps.filter(isShownKind).length };
    const prefix = (i: number) => `[${label === "" ? "" : label + " "}${String(i).padStart(String(numbering.total).length)}/${numbering.total}] `;
    this.b.emit({ type: "step", id: fromId, name: `${prefix(1)}FROM ${stage.baseName}`, time: Date.now() });
    try {
      // the stage's platform: FROM --platform, else the build's --platform (given or not: an
      // image's own platform is then taken as it is)
      const given = stage.platform ?? options.platform;
      const platform = given === undefined ? undefined : parsePlatform(given);
      if (stage.base.kind === "scratch") {
        const target = platform ?? hostPlatform();
        const config = scratchConfig(target);
        // scratch of another platform is another base (its steps' configs differ)
        state = { config, layers: [], key: samePlatform(target, hostPlatform()) ? "scratch" : `scratch:${formatPlatform(target)}`, args: [], env: envListToMap(config.config?.Env), cmdSet: false, baseCreated: undefined, newHistory: [] };
      } else if (stage.base.kind === "stage") {
        const base = await this.stageResult(stage.base.index);
        const config = cloneConfig(base.state.config);
        // BuildKit runs the ONBUILD instructions the base stage itself declared (not those it
        // inherited), and the child does not keep them.
        triggers = config.config?.OnBuild ?? [];
        if (config.config !== undefined) delete config.config.OnBuild;
        state = {
          config,
          layers: [...base.state.layers],
          key: base.key,
          args: [...base.state.args],
          env: new Map(base.state.env),
          newHistory: [...base.state.newHistory],
          cmdSet: false,
          baseCreated: base.state.config.created,
        };
      } else {
        let rec: ImageRecord;
        try {
          rec = await this.image(stage.base.ref, platform);
        } catch (err) {
          const name = `${prefix(1)}FROM ${stage.baseName}`;
          // the image's name and the hint once: the message may have both already
          const message = (err as Error).message;
          const hint = " (berth pull, berth load or berth import it first)";
          const named = message.includes(stage.baseName) ? message : `${stage.baseName}: ${message}`;
          throw new BuildError(named.endsWith(hint) ? named : named + hint, { step: this.stepInfo(stage.from, name), cause: err });
        }
        const config = cloneConfig(rec.config);
        triggers = config.config?.OnBuild ?? [];
        if (config.config !== undefined) delete config.config.OnBuild;
        ensurePath(config);
        state = { config, layers: [...rec.layers], key: `image:${rec.id}`, args: [], env: envListToMap(config.config?.Env), cmdSet: false, baseCreated: rec.config.created, newHistory: [] };
      }
    } catch (err) {
      this.b.emit({ type: "error", id: fromId, message: (err as Error).message, time: Date.now() });
      throw err;
    }
    this.b.emit({ type: "done", id: fromId, time: Date.now() });

    const steps: { node: Instruction; onbuild: boolean }[] = [
      ...onbuildSteps(triggers, `${stage.baseName} ONBUILD`).map((node) => ({ node, onbuild: true })),
      ...stage.steps.map((node) => ({ node, onbuild: false })),
    ];
    // the base's ONBUILD triggers are known only now, after the FROM line (as BuildKit, they count)
    numbering.total += steps.filter((st) => st.onbuild && isShownKind(st.node)).length;
    const noCache = options.noCache === true || (options.noCacheFilter ?? []).some((f) => f.toLowerCase() === (stage.name ?? String(index)) || f === String(index));
    let position = 0;
    for (const { node, onbuild } of steps) {
      position++;
      // numbered when it shows (a WORKDIR / does not; a failing metadata step does)
      let name: string | undefined;
      const nameOf = () => (name ??= `${prefix(++numbering.shown)}${onbuild ? "ONBUILD " : ""}${this.displayText(node, state)}`);
      await this.runStep({ index, position, node, name: nameOf, state, noCache, onbuild });
    }
    return { state, key: state.key };
  }

  private stepInfo(node: Instruction, name: string): BuildErrorStep {
    return { name, file: this.b.plan.file, range: node.range, sourceLines: this.b.plan.lines };
  }

  /** The step title as BuildKit shows it: the instruction as written, variables expanded. */
  private displayText(ins: Instruction, state: StageState): string {
    const text = ins.node.original.replace(/\s+/g, " ").trim();
    const upper = text.replace(/^\S+/, (k) => k.toUpperCase());
    try {
      return expandWord(upper, stageEnv(state), { rawQuotes: true, skipUnsetEnv: true, escapeToken: this.b.plan.escapeToken });
    } catch {
      return upper;
    }
  }

  /** One step: its progress, its expansion helpers, and the dispatch by instruction kind. */
  private async runStep(s: { index: number; position: number; node: Instruction; name: () => string; state: StageState; noCache: boolean; onbuild: boolean }): Promise<void> {
    const b = this.b;
    const { node, state } = s;
    const started = Date.now();
    const executedBefore = b.cache.executed;
    // Like BuildKit's progress, only steps that do work are shown (metadata instructions count
    // in the [n/total] numbering but are not vertices), unless they fail.
    let id = 0;
    const show = (): number => {
      if (id === 0) {
        id = b.nextId();
        b.emit({ type: "step", id, name: s.name(), time: started });
      }
      return id;
    };
    const fail = (detail: string, extra: StepFailure = {}) => new BuildError(detail, { step: this.stepInfo(node, s.name()), ...extra });
    const escapeToken = b.plan.escapeToken;
    const expandWith = (word: string, opts: { skipProcessQuotes?: boolean }) => {
      try {
        return expandWordWithInfo(word, stageEnv(state), { escapeToken, ...opts });
      } catch (err) {
        if (err instanceof ShellExpansionError) throw fail(err.message, { cause: err });
        throw err;
      }
    };
    const helpers = {
      show,
      fail,
      expand: (word: string, opts: { skipProcessQuotes?: boolean } = {}) => expandWith(word, opts).value,
      expandWords: (word: string) => expandWith(word, {}).words,
    };
    const step = <I extends Instruction>(ins: I): Step<I> => ({
      ...s,
      ...helpers,
      node: ins,
      get name() {
        return s.name();
      },
    });
    try {
      if (b.options.signal?.aborted === true) throw fail("the build was cancelled", { exitCode: 130 });
      switch (node.kind) {
        case "run":
          await dispatchRun(b, step(node));
          break;
        case "copy":
        case "add":
          await dispatchCopy(b, step(node));
          break;
        case "workdir":
          await dispatchWorkdir(b, step(node));
          break;
        case "env":
        case "label":
        case "maintainer":
        case "user":
        case "expose":
        case "volume":
        case "stopsignal":
        case "shell":
        case "cmd":
        case "entrypoint":
        case "healthcheck":
        case "onbuild":
        case "arg":
          applyMetadata({ state, expand: helpers.expand, expandWords: helpers.expandWords, fail, buildArgs: b.plan.buildArgs, globalArgs: b.plan.globalArgs }, node);
          return;
        case "from":
          throw fail("FROM inside a stage: this is a berth bug");
        default:
          assertNever(node);
      }
      if (id !== 0) b.emit({ type: "done", id, time: Date.now() });
      noteCodePath(`${node.kind}:${b.cache.executed > executedBefore ? "run" : "hit"}${node.kind === "copy" && node.from !== undefined ? ":from" : ""}`);
    } catch (err) {
      const e = err instanceof BerthError ? err : fail((err as Error).message, { cause: err });
      b.emit({ type: "error", id: show(), message: e instanceof BuildError ? e.detail : e.message, time: Date.now() });
      throw e;
    }
  }
}

/** The instructions BuildKit shows as steps of their own (and counts in [k/n]). */
function isShownKind(ins: Instruction): boolean {
  return ins.kind === "run" || ins.kind === "copy" || ins.kind === "add" || ins.kind === "workdir";
}

/**
 * The promise `make` gives for `key`, made once per build and shared; a failure is reported
 * to whoever awaits it, never as an unhandled rejection.
 */
function once<K, V>(memo: Map<K, Promise<V>>, key: K, make: () => Promise<V>): Promise<V> {
  let p = memo.get(key);
  if (p === undefined) {
    p = make();
    memo.set(key, p);
    p.catch(() => undefined);
  }
  return p;
}
