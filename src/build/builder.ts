import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { trace } from "../runtime/trace.js";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, posix, resolve } from "node:path";
import { Writable } from "node:stream";
import { BuildContext, LayeredSourceFs, overlayOpaque, StatCache, type SourceFs } from "../context/index.js";
import type { Digest } from "../image/digest.js";
import type { HistoryEntry, ImageConfig } from "../image/types.js";
import { DockerfileSyntaxError, parse } from "../parser/index.js";
import { assertNever, type AddInstruction, type CopyInstruction, type Instruction, type RunInstruction, type WorkdirInstruction } from "../instructions/index.js";
import { errorAt, lintDockerfile, lintSummary, onbuildSteps, planBuild, PROXY_ARGS, unusedBuildArgsWarning, type BuildPlan } from "../plan/index.js";
import { expandWord, expandWordWithInfo, ShellExpansionError } from "../shell/index.js";
import { openStore, PENDING_DIFF_ID, type Store } from "../store/store.js";
import { replaceFile } from "../store/atomic.js";
import { NoSuchImageError, StoreError } from "../store/errors.js";
import type { CacheEntry, ImageRecord, LayerInfo, Snapshot } from "../store/types.js";
import type { ContextView } from "./context-view.js";
import * as memoryDirModule from "./memory-dir.js";
import type { HeldLock } from "../store/lock.js";
import { BerthError } from "../errors.js";
import type { CacheExchange } from "./cache-exchange.js";
import { prepareCopy } from "./copy/prepare.js";
import type { PlacedFile, ReuseSource } from "./copy/writer.js";
import { BuildError, type BuildErrorStep } from "./errors.js";
import { entitlementMessage, missingEntitlement, runSecurity } from "./entitlements.js";
import type { BuildEvent } from "./events.js";
import { formatTime, HISTORY_COMMENT, runCommandString } from "./history.js";
import { cacheMountsDirOf } from "./cache-mount.js";
import { cacheKey, explainMiss, stackedKey, type KeyInputs } from "./keys.js";
import { applyMetadata, shellCommand } from "./metadata.js";
import type { BuildOptions, BuildResult } from "./options.js";
import { runCommand, runMounts, runNetwork } from "./run/command.js";
import { BuildSandbox, type RunNetwork } from "./sandbox.js";
import { cloneConfig, containerConfig, ensurePath, envListToMap, processEnv, scratchConfig, stageEnv, type StageState } from "./stage-state.js";
import { removeTree } from "../native.js";
import { noteCodePath } from "../code-paths.js";

interface StageResult {
  state: StageState;
  /** Cache-chain identity of the stage's final filesystem. */
  key: string;
}

function stepRecord(layer: LayerInfo | undefined, created: string): StepRecord {
  return { layers: layer !== undefined ? [layer.diffId] : [], diffId: layer?.diffId ?? null, created };
}

/** The cache record of one layer step. */
interface StepRecord {
  layers: Digest[];
  diffId: Digest | null;
  created: string;
  [k: string]: unknown;
}

/** The last inputs seen at a Dockerfile position, for --explain. */
interface SlotRecord {
  layers: Digest[];
  inputs: KeyInputs;
  [k: string]: unknown;
}

const EXPLAIN_FILE_LIMIT = 50_000;
function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Collects a step's output as events and keeps its tail for the error report. */
class StepOutput extends Writable {
  tail = "";
  constructor(private readonly sink: (data: string) => void) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    const s = chunk.toString("utf8");
    this.tail = (this.tail + s).slice(-8192);
    this.sink(s);
    cb();
  }
}

/**
 * `docker build`: plans the Dockerfile, runs the stages the target needs (independent stages
 * in parallel), reuses cached steps, creates and tags the image.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  return new Builder(options).run();
}

class Builder {
  private store!: Store;
  private plan!: BuildPlan;
  private readonly o: BuildOptions;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly results = new Map<number, Promise<StageResult>>();
  private readonly images = new Map<string, Promise<ImageRecord>>();
  private context: Promise<BuildContext> | undefined;
  private contextViewP: Promise<ContextView> | undefined;
  private memoryDirMade: { dir: string | undefined } | undefined;
  private statCache: StatCache | undefined;
  private nextId = 1;
  private readonly warnings: string[] = [];
  private cached = 0;
  private executed = 0;
  private epoch: number | undefined;
  private dockerfilePath = "";
  private contextRoot = "";
  private readonly t0 = Date.now();
  /**
   * Whether a layer's directory is opaque: the layer's record says (store.knownOpaque); for
   * older records one getfattr per directory and build, since layer dirs never change once
   * committed (each check is a process; a view is made per step).
   */
  private readonly opaqueMemo = new Map<string, boolean>();
  private readonly isOpaque = (absDir: string): boolean => {
    let o = this.store.knownOpaque(absDir) ?? this.opaqueMemo.get(absDir);
    if (o === undefined) {
      o = overlayOpaque(absDir);
      this.opaqueMemo.set(absDir, o);
    }
    return o;
  };
  /** runc state of this build's containers only, so a cancel can kill exactly them. */
  private readonly stateDir: string;
  private readonly ownStateDir: boolean;
  /** --cache-from / --cache-to (src/build/cache-exchange.ts), when given. */
  private exchange: CacheExchange | undefined;
  /**
   * Step cache entries written behind the build (see putEntry): what is not on disk yet, and
   * the chain of writes in order, with its first failure.
   */
  private readonly pendingEntries = new Map<string, CacheEntry>();
  private readonly entryWrites = new Map<string, Promise<void>>();
  /** RUN instructions of the needed stages not yet reached: while some are left, a RUN says another container follows (runTransient's anotherFollows). */
  private runsLeft = 0;
  /** Removals of what finished steps left (snapshots, container bundles), waited for at the end. */
  private readonly cleanups: Promise<void>[] = [];
  /** Layers being committed behind the build (commitBehind), and dirs their commits left over. */
  private readonly commits = new Map<LayerInfo, Promise<LayerInfo>>();
  private readonly leftoverDirs: string[] = [];
  private readonly deferCleanup = (p: Promise<void>): void => {
    this.cleanups.push(p.catch(() => undefined));
  };
  private entryWriteError: unknown;
  /** The RUN steps' network namespace (network "default"), made when the first of them runs. */
  private readonly sandbox: BuildSandbox;
  /** RUN's network when a RUN does not say (berth build --network). */
  private readonly defaultNetwork: RunNetwork;
  /** Per stage: the position in its steps of its last RUN on the sandbox network (-1: none). */
  private readonly lastSandboxRun = new Map<number, number>();

  constructor(options: BuildOptions) {
    this.o = options;
    this.env = options.environment ?? process.env;
    this.ownStateDir = options.stateDir === undefined;
    this.stateDir = options.stateDir ?? `/run/berth/build/${process.pid}-${randomBytes(4).toString("hex")}`;
    this.defaultNetwork = options.network ?? "default";
    this.sandbox = new BuildSandbox({ runDir: this.stateDir, environment: this.env });
  }

  /**
   * Ctrl-C: runTransient kills the container it runs; a container that was starting when the
   * signal came (the abort landed between its mount and its runc run) is killed here, from this
   * build's own runc state dir.
   */
  private watchAbort(): () => Promise<void> {
    const signal = this.o.signal;
    if (signal === undefined) return async () => undefined;
    let timer: NodeJS.Timeout | undefined;
    let inFlight: Promise<void> | undefined;
    let stopped = false;
    const sweep = async (): Promise<void> => {
      const { Runc } = await import("../runtime/runc.js");
      const runc = new Runc(join(this.stateDir, "runc"), this.o.runtime);
      for (const st of await runc.list().catch(() => [])) await runc.kill(st.id, "SIGKILL", true).catch(() => false);
    };
    const onAbort = () => {
      let n = 0;
      const tick = () => {
        if (stopped) return;
        inFlight = sweep().finally(() => {
          if (!stopped && ++n < 50) timer = setTimeout(tick, 200);
        });
      };
      tick();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    return async () => {
      stopped = true;
      signal.removeEventListener("abort", onAbort);
      if (timer !== undefined) clearTimeout(timer);
      // a sweep still running would recreate the state dir (runc makes its root) after removal
      await inFlight?.catch(() => undefined);
    };
  }

  private emit(e: BuildEvent): void {
    this.o.onEvent?.(e);
  }

  async run(): Promise<BuildResult> {
    const o = this.o;
    this.contextRoot = resolve(o.context);
    const dfPath = o.dockerfile === undefined ? join(this.contextRoot, "Dockerfile") : isAbsolute(o.dockerfile) ? o.dockerfile : resolve(o.dockerfile);
    this.dockerfilePath = dfPath;
    let text: string;
    if (o.dockerfileText !== undefined) text = o.dockerfileText;
    else {
      try {
        text = readFileSync(dfPath, "utf8");
      } catch (err) {
        throw new BuildError(`failed to read Dockerfile: open ${dfPath}: no such file or directory`, { cause: err, exitCode: 1 });
      }
    }
    const display = o.dockerfile === undefined ? "Dockerfile" : o.dockerfile;
    const ast = parse(text, { file: display });
    this.plan = planBuild(ast, text, {
      ...(o.buildArgs !== undefined ? { buildArgs: o.buildArgs } : {}),
      environment: this.env,
      ...(o.target !== undefined ? { target: o.target } : {}),
      ...(o.platform !== undefined ? { platform: o.platform } : {}),
    });
    // BuildKit's lint warnings berth implements (plan/lint.ts), before any step runs
    const lint = lintSummary(lintDockerfile(ast, text, this.plan.instructions));
    if (lint !== undefined) {
      this.warnings.push(lint);
      this.emit({ type: "warning", message: lint, time: Date.now() });
    }
    for (const i of this.plan.order) this.runsLeft += this.plan.stages[i]!.steps.filter((n) => n.kind === "run").length;
    // as BuildKit, before any step runs: a RUN that needs an entitlement the build lacks
    // (an ONBUILD RUN, or a mode held in a variable, is checked when it runs)
    for (const i of this.plan.order) {
      for (const node of this.plan.stages[i]!.steps) {
        const missing = missingEntitlement(node, o.allow ?? []);
        if (missing !== undefined) throw errorAt(this.plan, node, entitlementMessage(missing));
      }
    }
    // berth build --network host: the whole build on the host's network, the same entitlement
    // (buildx grants it by itself for its --network host; berth asks for it, as for RUN's)
    if (this.defaultNetwork === "host" && !(o.allow ?? []).includes("network.host")) {
      throw new BuildError("network.host is not allowed: --network host needs `berth build --allow network.host`", { exitCode: 1 });
    }
    for (const i of this.plan.order) {
      const steps = this.plan.stages[i]!.steps;
      let last = -1;
      steps.forEach((node, at) => {
        if (node.kind === "run" && this.networkOf(node) === "default") last = at;
      });
      this.lastSandboxRun.set(i, last);
    }
    if (this.plan.order.length > 1) noteCodePath("stages");
    if (o.platform !== undefined && !/^linux\/(amd64|x86_64)$/.test(o.platform) && o.platform !== `linux/${process.arch === "x64" ? "amd64" : process.arch}`) {
      throw new BuildError(`platform ${o.platform} is not supported: berth builds for the host's platform only`, { exitCode: 125 });
    }
    const epochText = o.sourceDateEpoch !== undefined ? String(o.sourceDateEpoch) : (this.plan.buildArgs.get("SOURCE_DATE_EPOCH") ?? this.env.SOURCE_DATE_EPOCH);
    if (epochText !== undefined && epochText !== "") {
      if (!/^\d+$/.test(epochText)) throw new BuildError(`invalid SOURCE_DATE_EPOCH ${JSON.stringify(epochText)}: want seconds since 1970`, { exitCode: 125 });
      this.epoch = Number(epochText);
    }
    this.store = o.store ?? (await openStore(o.root));
    // Held (shared) for the whole build: builder prune removes cache entries and the layers
    // only they kept, which a running build may be about to use, only when no build runs.
    // Taken while the build gets going (a flock(2), or a flock process without berth's
    // addon), awaited before the first step.
    const buildLock = this.store.holdLock("build", "shared", o.signal !== undefined ? { signal: o.signal } : {});
    buildLock.catch(() => undefined);
    try {
      return await this.runLocked(buildLock);
    } finally {
      await (await buildLock.catch(() => undefined))?.release();
    }
  }

  private async runLocked(buildLock: Promise<unknown>): Promise<BuildResult> {
    const o = this.o;
    if ((o.cacheFrom ?? []).length > 0 || (o.cacheTo ?? []).length > 0) {
      const { CacheExchange } = await import("./cache-exchange.js");
      this.exchange = await CacheExchange.open({
        store: this.store,
        // --no-cache ignores imported caches too (BuildKit): do not even fetch them.
        imports: o.noCache === true ? [] : (o.cacheFrom ?? []),
        exports: o.cacheTo ?? [],
        ...(o.registry !== undefined ? { registry: o.registry } : {}),
        emit: (e) => this.emit(e),
        newId: () => this.nextId++,
        warn: (message) => {
          this.warnings.push(message);
          this.emit({ type: "warning", message, time: Date.now() });
        },
      });
    }

    const warn = unusedBuildArgsWarning(this.plan.unusedBuildArgs.filter((k) => k !== "SOURCE_DATE_EPOCH"));
    const unwatch = this.watchAbort();
    try {
      await buildLock;
      const target = await this.stageResult(this.plan.target);
      trace("build: target stage done");
      await this.waitForCommits();
      // The layers' sync is queued now and started by addImage's first sync, once the image's
      // files are written: one sync for both. Started at once (urgent), it ran under the
      // image's making, whose new files waited for its journal commit, and addImage's own sync
      // came on top (multi-stage rebuild: 3 syncs and 16-23 ms from the last commit to the
      // image; now 2 and 12-17 ms). The cache entries' writes wait for it.
      const layers = target.state.layers.map((l) => l.diffId);
      this.store.layersDurable(layers).catch(() => undefined);
      const entries = this.flushEntries();
      entries.catch(() => undefined); // awaited below, unless the image failed first
      const image = await this.createImage(target.state, o.tags ?? []);
      // an image that existed already was not added: the queued sync starts now
      this.store.layersDurable(layers, { urgent: true }).catch(() => undefined);
      await entries;
      trace("build: image and cache entries written");
      await this.exchange?.finish(this.plan, image.id);
      if (warn !== undefined) {
        this.warnings.push(warn);
        this.emit({ type: "warning", message: warn, time: Date.now() });
      }
      return {
        imageId: image.id, image, tags: o.tags ?? [], warnings: this.warnings, cachedSteps: this.cached, executedSteps: this.executed,
        ...(this.exchange !== undefined ? { cacheExchange: this.exchange.stats } : {}),
      };
    } finally {
      // Hashes learnt for unchanged files are kept even when a later step failed.
      try {
        this.statCache?.save(undefined, { prune: false });
      } catch {
        // a stat cache that cannot be written only costs re-hashing next time
      }
      // Let stages still running in parallel settle before the caller cleans up; the cache
      // entries of the steps that ran are kept even when a later step failed.
      await Promise.allSettled([...this.results.values()]);
      // no step runs any more: the sandbox goes (pasta stopped, the namespace's holder ended)
      // while the rest is cleaned up
      const sandboxClosed = this.sandbox.close().catch(() => undefined);
      // commits behind the build write their cache entries when they end
      await Promise.allSettled(this.commits.values());
      await Promise.allSettled(this.entryWrites.values());
      await Promise.all(this.cleanups);
      await sandboxClosed;
      // no container runs any more: dirs of layers that turned out to exist already can go
      await Promise.all(this.leftoverDirs.map((dir) => removeTree(dir).catch(() => undefined)));
      await unwatch();
      this.exchange?.close();
      this.stateWatchdog?.stop();
      // Never rm through a mount that failed to come off (it would write whiteouts into a snapshot).
      if (this.ownStateDir && !readFileSync("/proc/self/mountinfo", "utf8").includes(this.stateDir)) {
        // a dozen small entries on tmpfs: one job of the addon (fs.rm's thread-pool round trips
        // made ~5 ms of it, rmSync ~1 ms); leftovers of a build's own state dir are harmless
        await removeTree(this.stateDir).catch(() => undefined);
      }
      const memoryDir = this.memoryDirMade?.dir;
      if (memoryDir !== undefined) await removeTree(memoryDir).catch(() => undefined);
      await this.stateLock?.release();
      this.stateLock = undefined;
    }
  }

  // ------------------------------------------------------------------ stages

  private stageResult(index: number): Promise<StageResult> {
    return once(this.results, index, () => this.runStage(index));
  }

  private stageLabel(index: number): string {
    const s = this.plan.stages[index]!;
    if (s.name !== undefined) return s.name;
    return this.plan.stages.length > 1 ? `stage-${index}` : "";
  }

  private image(ref: string): Promise<ImageRecord> {
    return once(this.images, ref, () => this.resolveOrPull(ref));
  }

  /**
   * A base image from the store, pulled from its registry when missing — or always checked
   * against the registry with `--pull`, as `docker build --pull` does.
   */
  private async resolveOrPull(ref: string): Promise<ImageRecord> {
    let missing: NoSuchImageError | undefined;
    if (this.o.pull !== true) {
      try {
        return await this.store.resolveImage(ref);
      } catch (err) {
        if (!(err instanceof NoSuchImageError)) throw err;
        missing = err;
      }
    }
    const { pullByName } = await import("../registry/index.js");
    try {
      await pullByName(this.store, ref, { client: this.o.registry });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (missing !== undefined) {
        throw new StoreError(`${missing.message}, and pulling it failed: ${why} (berth pull, berth load or berth import it first)`, { cause: err });
      }
      throw err;
    }
    return this.store.resolveImage(ref);
  }

  private async runStage(index: number): Promise<StageResult> {
    const plan = this.plan;
    const stage = plan.stages[index]!;
    // Start what this stage needs now, so independent stages run side by side.
    for (const d of stage.dependsOn) void this.stageResult(d);
    const label = this.stageLabel(index);
    const platform = this.o.platform ?? "linux/amd64";
    let state: StageState;
    let triggers: string[] = [];
    const fromId = this.nextId++;
    const total = stage.steps.length + 1;
    const prefix = (i: number, onbuild = false) => `[${label === "" ? "" : label + " "}${i}/${total + (onbuild ? 0 : 0)}] `;
    this.emit({ type: "step", id: fromId, name: `${prefix(1)}FROM ${stage.baseName}`, time: Date.now() });
    const failAt = (node: Instruction, name: string, detail: string, extra: { output?: string; exitCode?: number; cause?: unknown } = {}) =>
      new BuildError(detail, { step: this.stepInfo(node, name), ...extra });
    try {
      if (stage.base.kind === "scratch") {
        const config = scratchConfig(platform);
        state = { config, layers: [], key: "scratch", args: [], env: envListToMap(config.config?.Env), cmdSet: false, baseCreated: undefined, newHistory: [] };
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
          rec = await this.image(stage.base.ref);
        } catch (err) {
          throw failAt(stage.from, `${prefix(1)}FROM ${stage.baseName}`, `${stage.baseName}: ${(err as Error).message} (berth pull, berth load or berth import it first)`, { cause: err });
        }
        const config = cloneConfig(rec.config);
        triggers = config.config?.OnBuild ?? [];
        if (config.config !== undefined) delete config.config.OnBuild;
        ensurePath(config);
        state = { config, layers: [...rec.layers], key: `image:${rec.id}`, args: [], env: envListToMap(config.config?.Env), cmdSet: false, baseCreated: rec.config.created, newHistory: [] };
      }
    } catch (err) {
      this.emit({ type: "error", id: fromId, message: (err as Error).message, time: Date.now() });
      throw err;
    }
    this.emit({ type: "done", id: fromId, time: Date.now() });

    const steps: { node: Instruction; onbuild: boolean }[] = [
      ...onbuildSteps(triggers, `${stage.baseName} ONBUILD`).map((node) => ({ node, onbuild: true })),
      ...stage.steps.map((node) => ({ node, onbuild: false })),
    ];
    const noCache = this.o.noCache === true || (this.o.noCacheFilter ?? []).some((f) => f.toLowerCase() === (stage.name ?? String(index)) || f === String(index));
    let position = 0;
    for (const { node, onbuild } of steps) {
      position++;
      const n = onbuild ? 1 : stage.steps.indexOf(node) + 2;
      const name = `${prefix(n)}${onbuild ? "ONBUILD " : ""}${this.displayText(node, state)}`;
      await this.runStep({ index, position, node, name, state, noCache, onbuild });
    }
    return { state, key: state.key };
  }

  private stepInfo(node: Instruction, name: string): BuildErrorStep {
    return { name, file: this.plan.file, range: node.range, sourceLines: this.plan.lines };
  }

  /** The step title as BuildKit shows it: the instruction with variables expanded. */
  private displayText(ins: Instruction, state: StageState): string {
    const text = ins.node.original.replace(/\s+/g, " ").trim();
    const upper = text.replace(/^\S+/, (k) => k.toUpperCase());
    try {
      return expandWord(upper, stageEnv(state), { rawQuotes: true, skipUnsetEnv: true, escapeToken: this.plan.escapeToken });
    } catch {
      return upper;
    }
  }

  // ------------------------------------------------------------------ steps

  private async runStep(s: { index: number; position: number; node: Instruction; name: string; state: StageState; noCache: boolean; onbuild: boolean }): Promise<void> {
    const { node, state, name } = s;
    const started = Date.now();
    const executedBefore = this.executed;
    // Like BuildKit's progress, only steps that do work are shown (metadata instructions count
    // in the [n/total] numbering but are not vertices), unless they fail.
    let id = 0;
    const show = (): number => {
      if (id === 0) {
        id = this.nextId++;
        this.emit({ type: "step", id, name, time: started });
      }
      return id;
    };
    const fail = (detail: string, extra: { output?: string; exitCode?: number; cause?: unknown } = {}) => new BuildError(detail, { step: this.stepInfo(node, name), ...extra });
    const env = () => stageEnv(state);
    const expand = (word: string, opts: { skipProcessQuotes?: boolean } = {}): string => {
      try {
        return expandWordWithInfo(word, env(), { escapeToken: this.plan.escapeToken, ...opts }).value;
      } catch (err) {
        if (err instanceof ShellExpansionError) throw fail(err.message, { cause: err });
        throw err;
      }
    };
    const expandWords = (word: string): string[] => {
      try {
        return expandWordWithInfo(word, env(), { escapeToken: this.plan.escapeToken }).words;
      } catch (err) {
        if (err instanceof ShellExpansionError) throw fail(err.message, { cause: err });
        throw err;
      }
    };
    try {
      if (this.o.signal?.aborted === true) throw fail("the build was cancelled", { exitCode: 130 });
      switch (node.kind) {
        case "workdir":
          await this.workdirStep({ ...s, node }, expand, fail, show);
          break;
        case "run":
          await this.runInstruction({ ...s, node }, show(), expand, fail);
          break;
        case "copy":
        case "add":
          await this.copyStep({ ...s, node }, show(), expand, fail);
          break;
        case "from":
          throw fail("FROM inside a stage: this is a berth bug");
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
          applyMetadata({ state, expand, expandWords, fail, buildArgs: this.plan.buildArgs, globalArgs: this.plan.globalArgs }, node);
          return;
        default:
          assertNever(node);
      }
      if (id !== 0) this.emit({ type: "done", id, time: Date.now() });
      noteCodePath(`${node.kind}:${this.executed > executedBefore ? "run" : "hit"}${node.kind === "copy" && node.from !== undefined ? ":from" : ""}`);
    } catch (err) {
      const e = err instanceof BerthError ? err : fail((err as Error).message, { cause: err });
      this.emit({ type: "error", id: show(), message: e instanceof BuildError ? e.detail : e.message, time: Date.now() });
      throw e;
    }
  }

  private slotKey(s: { index: number; position: number; onbuild: boolean }): string {
    return `slot:${sha(`${this.contextRoot}\0${this.dockerfilePath}\0${this.o.target ?? ""}\0${s.index}\0${s.position}`)}`;
  }

  /**
   * A step that makes a layer: look the key up; on a miss run `execute` over a fresh snapshot,
   * commit it (an empty change makes no layer, history says empty_layer as BuildKit's exporter),
   * record the result and the inputs for --explain.
   */
  private async layerStep(
    s: { index: number; position: number; state: StageState; noCache: boolean; onbuild: boolean; node?: Instruction },
    id: number,
    keyInputs: KeyInputs,
    createdBy: string,
    /** `previous`: the layer the last build of this step (this Dockerfile position) made, if any is still in the store. */
    execute: (snap: Snapshot, previous: () => Promise<LayerInfo | undefined>) => Promise<void>,
    explainFiles?: () => Promise<Record<string, string> | undefined>,
    /** The step writes the upper dir itself and sets no xattrs (COPY, ADD, WORKDIR), RUN does not. */
    noXattrs = false,
  ): Promise<{ ready: Promise<LayerInfo | undefined> }> {
    const state = s.state;
    let inputs = keyInputs;
    const key = cacheKey(inputs);
    let record: StepRecord | undefined;
    let reasons: string[] | undefined;
    if (!s.noCache) {
      const entry = (await this.getEntry(key)) as StepRecord | undefined;
      if (entry !== undefined && (entry.diffId === null || (await this.store.layer(entry.diffId)) !== undefined)) record = entry;
      // A local miss may be a hit in a shared cache (--cache-from), which pulls the step's layer.
      else if (this.exchange !== undefined) record = (await this.exchange.lookup(key)) as StepRecord | undefined;
    } else reasons = ["--no-cache"];
    let layer: LayerInfo | undefined;
    let created = record?.created;
    if (record !== undefined) {
      this.cached++;
      this.emit({ type: "cached", id, time: Date.now() });
      if (record.diffId !== null) layer = await this.store.layer(record.diffId);
    } else {
      this.executed++;
      this.noteMiss(s.index, s.node);
      const slot = this.slotKey(s);
      if (explainFiles !== undefined) {
        const files = await explainFiles();
        if (files !== undefined) inputs = { ...inputs, files };
      }
      const prev = (await this.getEntry(slot)) as SlotRecord | undefined;
      reasons ??= explainMiss(prev?.inputs, inputs);
      const prevKey = prev !== undefined ? cacheKey(prev.inputs) : undefined;
      this.emit({ type: "explain", id, reasons, time: Date.now() });
      // not durable: a build step's snapshot does not outlive a crash (check --repair removes
      // a snapshot without a readable owner); saves two fsyncs (~3 ms) per step
      trace(`build: step ${id} runs`);
      const madeAt = this.epoch !== undefined ? formatTime(new Date(this.epoch * 1000)) : formatTime(new Date());
      created = madeAt;
      const snap = await this.store.prepareSnapshot(state.layers, { durable: false });
      let committed = false;
      const previous = async (): Promise<LayerInfo | undefined> => {
        const before = prevKey !== undefined ? ((await this.getEntry(prevKey)) as StepRecord | undefined) : undefined;
        return typeof before?.diffId === "string" ? this.store.layer(before.diffId) : undefined;
      };
      try {
        await execute(snap, previous);
        trace(`build: step ${id} executed`);
        this.store.flushEarly();
        if (readdirSync(snap.upperDir).length > 0) {
          const commitOpts = { ...(this.epoch !== undefined ? { sourceDateEpoch: this.epoch } : {}), noXattrs };
          if (this.exchange === undefined) {
            // The layer's digest is made while the next steps run (their containers mount the
            // dir meanwhile); its cache entry follows it. A shared cache export wants the
            // record now: it commits in line.
            layer = this.commitBehind(this.store.detachSnapshot(snap), commitOpts, (made) => {
              trace(`build: step ${id} committed`);
              this.putEntry(key, stepRecord(made, madeAt));
            });
          } else layer = await this.store.commitSnapshot(snap, commitOpts);
          committed = true;
        }
      } finally {
        // removed behind the build (the end of the build waits for it): ~1 ms a step less
        if (!committed) this.deferCleanup(this.store.removeSnapshot(snap));
      }
      if (layer === undefined || layer.diffId !== PENDING_DIFF_ID) {
        trace(`build: step ${id} committed`);
        record = stepRecord(layer, madeAt);
        this.putEntry(key, record);
      }
      // The position's inputs only need writing when they changed (not on --no-cache reruns).
      if (prevKey !== key || prevKey === undefined) {
        const slotRecord: SlotRecord = { layers: [], inputs };
        this.putEntry(slot, slotRecord);
      }
    }
    if (record !== undefined) this.exchange?.use(s.index, key, record);
    if (layer !== undefined) state.layers.push(layer);
    state.key = key;
    const entry: HistoryEntry = { created_by: createdBy, comment: HISTORY_COMMENT };
    if (layer === undefined) entry.empty_layer = true;
    state.newHistory.push({ entry, layerCreated: created });
    // the step's layer once its digest is made (wrapped: an async function would wait for it)
    return { ready: layer !== undefined ? (this.commits.get(layer) ?? Promise.resolve(layer)) : Promise.resolve(undefined) };
  }

  /**
   * Commits a detached layer dir behind the build (Store.commitDetached) and returns the layer
   * for the next steps to mount now: its diff_id and sizes are filled in when the digest is
   * made, and `then` runs. A dir the store did not need (the layer existed) is removed at the
   * build's end, once no container can be using it. The build waits for every commit before it
   * names layers in an image and before it returns or fails.
   */
  private commitBehind(dir: string, opts: { sourceDateEpoch?: number; noXattrs?: boolean }, then: (made: LayerInfo) => void): LayerInfo {
    const layer: LayerInfo = { diffId: PENDING_DIFF_ID, size: 0, contentSize: 0, dir };
    const done = this.store.commitDetached(dir, { ...opts, yieldMs: 0.25 }).then(({ layer: made, leftover }) => {
      if (leftover !== undefined) this.leftoverDirs.push(leftover);
      Object.assign(layer, made);
      then(layer);
      return layer;
    });
    done.catch(() => undefined); // awaited at the build's end (waitForCommits)
    this.commits.set(layer, done);
    return layer;
  }

  /** Every commit made behind the build; the first failure is thrown. */
  private async waitForCommits(): Promise<void> {
    await Promise.all(this.commits.values());
  }

  /**
   * Writes a step's cache entry behind the build: each write (temp file, fsync, rename, fsync of
   * the dir: ~9 ms on a busy disk) overlaps the next steps instead of delaying them, and the
   * writes run side by side, one after another only for the same key. The store writes an
   * entry only once the layers it names are durable (Store.putCacheEntry), so a crash can lose
   * entries, never point one at a missing layer; lookups in this build see pending entries;
   * the build waits for all of them before it returns or fails.
   */
  private putEntry(key: string, entry: CacheEntry): void {
    this.pendingEntries.set(key, entry);
    const write = (this.entryWrites.get(key) ?? Promise.resolve()).then(() => this.store.putCacheEntry(key, entry)).then(
      () => {
        if (this.pendingEntries.get(key) === entry) this.pendingEntries.delete(key);
      },
      (err: unknown) => {
        this.entryWriteError ??= err;
      },
    );
    this.entryWrites.set(key, write);
  }

  private async getEntry(key: string): Promise<CacheEntry | undefined> {
    return this.pendingEntries.get(key) ?? (await this.store.getCacheEntry(key));
  }

  /** Waits for the cache entries written behind the build; throws the first write's failure. */
  private async flushEntries(): Promise<void> {
    await Promise.all(this.entryWrites.values());
    if (this.entryWriteError !== undefined) {
      const err = this.entryWriteError;
      throw err instanceof BerthError ? err : new BuildError(`writing the build cache failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Env and args that reach a step, for its key: image ENV, declared ARG values (not proxies). */
  private keyEnv(state: StageState): string[] {
    return processEnv(state).sort();
  }

  private parentView(state: StageState): LayeredSourceFs {
    // A layer's root cannot be opaque (nothing replaces "/"): no getfattr for it.
    for (const l of state.layers) this.opaqueMemo.set(l.dir, false);
    return new LayeredSourceFs(state.layers.map((l) => l.dir).reverse(), "image", this.isOpaque);
  }

  private async workdirStep(
    s: { index: number; position: number; node: WorkdirInstruction; state: StageState; noCache: boolean; onbuild: boolean },
    expand: (w: string) => string,
    fail: (d: string) => BuildError,
    show: () => number,
  ): Promise<void> {
    const { node, state } = s;
    const path = expand(node.path.raw);
    if (path === "") throw fail("WORKDIR requires exactly one argument");
    const cfg = containerConfig(state);
    const wd = posix.resolve(cfg.WorkingDir || "/", path);
    cfg.WorkingDir = wd;
    if (wd === "/") {
      state.newHistory.push({ entry: { created_by: `WORKDIR ${wd}`, comment: HISTORY_COMMENT, empty_layer: true } });
      return;
    }
    const user = cfg.User ?? "";
    const inputs: KeyInputs = { parent: state.key, instruction: `WORKDIR ${wd} user=${user} epoch=${this.epoch ?? ""}`, env: [] };
    const view = this.parentView(state);
    await this.layerStep(s, show(), inputs, `WORKDIR ${wd}`, async (snap) => {
      const rel = wd.slice(1);
      if (view.lstat(rel)?.type === "dir") return;
      let uid = 0;
      let gid = 0;
      if (user !== "") {
        const { resolveUser } = await import("../runtime/user.js");
        const r = await this.withParentAccounts(view, (root) => resolveUser(root, user)).catch(() => undefined);
        if (r !== undefined) ({ uid, gid } = r);
      }
      // mkdir -p with BuildKit's owner and time for every directory it creates.
      const parts = rel.split("/");
      const { chmod, chown, utimes, lstat } = await import("node:fs/promises");
      const made: { host: string; t: number }[] = [];
      for (let i = 1; i <= parts.length; i++) {
        const sub = parts.slice(0, i).join("/");
        const host = join(snap.upperDir, sub);
        if ((await lstat(host).catch(() => undefined)) !== undefined) continue;
        const below = view.lstat(sub);
        if (below?.type === "dir") {
          // An existing parent is copied up with its metadata, as overlayfs would.
          await mkdir(host, { mode: below.mode & 0o7777 });
          await chmod(host, below.mode & 0o7777);
          await chown(host, below.uid, below.gid);
          made.push({ host, t: below.mtimeMs / 1000 });
          continue;
        }
        await mkdir(host, { mode: 0o755 });
        await chown(host, uid, gid);
        made.push({ host, t: this.epoch ?? Date.now() / 1000 });
      }
      // Times last, deepest first: creating a child would bump its parent's mtime.
      for (const m of made.reverse()) await utimes(m.host, m.t, m.t);
    }, undefined, true);
    // The history text is `WORKDIR /app` whether or not a layer came out of it.
  }

  /**
   * resolveUser reads <root>/etc/passwd and <root>/etc/group: give it a scratch root holding the
   * parent rootfs's two files, read through its layers (no overlay mount needed).
   */
  private async withParentAccounts<T>(view: LayeredSourceFs, fn: (root: string) => Promise<T>): Promise<T> {
    const { copyFile, mkdtemp } = await import("node:fs/promises");
    const tmp = await mkdtemp("/tmp/berth-accounts-");
    try {
      await mkdir(join(tmp, "etc"));
      for (const f of ["etc/passwd", "etc/group"]) {
        let rel = f;
        let st = view.lstat(rel);
        if (st?.type === "symlink") {
          const { resolveInTree } = await import("../context/index.js");
          rel = resolveInTree(view, rel);
          st = view.lstat(rel);
        }
        if (st?.type === "file") await copyFile(view.hostPath(rel), join(tmp, f));
      }
      return await fn(tmp);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  private async runInstruction(
    s: { index: number; position: number; node: RunInstruction; state: StageState; noCache: boolean; onbuild: boolean },
    id: number,
    expand: (w: string) => string,
    fail: (d: string, extra?: { output?: string; exitCode?: number; cause?: unknown }) => BuildError,
  ): Promise<void> {
    const { node, state } = s;
    // ONBUILD RUNs are not counted: another one may follow them
    if (!s.onbuild) this.runsLeft--;
    const anotherFollows = s.onbuild || this.runsLeft > 0;
    const command = runCommand(node, (text) => shellCommand(state, text));
    let mounts;
    let network: RunNetwork;
    let security: "sandbox" | "insecure";
    try {
      mounts = runMounts(node, expand);
      network = runNetwork(node, this.defaultNetwork);
      security = runSecurity(node, expand);
    } catch (err) {
      throw fail((err as Error).message, { cause: err });
    }
    const missing = missingEntitlement(node, this.o.allow ?? [], security);
    if (missing !== undefined) throw errorAt(this.plan, node, entitlementMessage(missing));
    const cfg = containerConfig(state);
    const env = processEnv(state);
    // Proxy build args reach the process without an ARG, and stay out of key and history.
    const runEnv = [...env];
    const keys = new Set(env.map((e) => e.slice(0, e.indexOf("="))));
    for (const [k, v] of this.plan.buildArgs) if (PROXY_ARGS.has(k) && !keys.has(k)) runEnv.push(`${k}=${v}`);
    const cwd = cfg.WorkingDir || "/";
    const user = cfg.User;
    // Bind mounts of the context or of stages make their content part of the key.
    const mountIds: string[] = [];
    for (const m of mounts) {
      if (m.type === "bind") {
        if (m.from !== undefined) mountIds.push(`bind:${m.target}:${m.source ?? ""}:${await this.fromIdentity(m.from)}`);
        else {
          const ctx = await this.buildContext();
          const { checksumSelection, resolveCopySources } = await import("../context/index.js");
          const src = (m.source ?? ".").replace(/^\/+/, "") || ".";
          const sum = await checksumSelection(ctx, resolveCopySources(ctx, [src]), { statCache: this.getStatCache() });
          mountIds.push(`bind:${m.target}:${src}:${sum.digest}`);
        }
      } else if (m.type === "cache") {
        // from= is an input of the RUN as in BuildKit (its ref is a mount of the exec op);
        // the other fields keep the key they always had.
        const extra = m.from !== undefined ? `:${await this.fromIdentity(m.from)}:${m.source ?? ""}` : m.source !== undefined ? `::${m.source}` : "";
        mountIds.push(`cache:${m.target}:${m.id ?? ""}${extra}`);
      }
      else if (m.type === "tmpfs") mountIds.push(`tmpfs:${m.target}`);
      else if (m.type === "secret") mountIds.push(`secret:${m.id ?? ""}:${m.target}:${m.env ?? ""}`);
      // as BuildKit's exec op: the socket's place, id, owner and mode, not the agent's keys
      else if (m.type === "ssh") mountIds.push(`ssh:${m.target ?? ""}:${m.id}:${m.uid}:${m.gid}:${m.mode.toString(8)}:${m.required}`);
    }
    const createdBy = `RUN ${runCommandString(command.args, state.args.map((a) => ({ key: a.key, value: stageEnv(state).get(a.key) ?? a.value ?? "" })))} # buildkit`;
    const inputs: KeyInputs = {
      parent: state.key,
      // the security mode is part of the step, as of BuildKit's exec op; sandbox, the default,
      // leaves the key as it was before berth knew the flag
      instruction: JSON.stringify({ run: command.args, script: command.script?.content, cwd, user: user ?? "", network, mounts: mountIds, ...(security === "insecure" ? { security } : {}) }),
      env: this.keyEnv(state),
    };
    const view = this.parentView(state);
    await this.layerStep(s, id, inputs, createdBy, async (snap) => {
      const stdout = new StepOutput((data) => this.emit({ type: "log", id, stream: "stdout", data, time: Date.now() }));
      const stderr = new StepOutput((data) => this.emit({ type: "log", id, stream: "stderr", data, time: Date.now() }));
      const both = () => (stdout.tail + stderr.tail).slice(-8192);
      let code: number;
      const { executeRun } = await import("./run/execute.js");
      try {
        code = await executeRun({
          snapshot: snap,
          command,
          env: runEnv,
          cwd,
          user,
          network,
          sandbox: async () => {
            if (security === "insecure") this.sandbox.taint();
            return (await this.sandbox.ready()).netns;
          },
          ...(security === "insecure" ? { privileged: true } : {}),
          mounts,
          sources: {
            contextView: () => this.contextView(),
            memoryDir: () => this.memoryDir(),
            fromLayers: async (from) => {
              const src = await this.fromSource(from);
              return new LayeredSourceFs(src.layers, src.label, this.isOpaque);
            },
            cacheMountsDir: cacheMountsDirOf(this.store.root),
            fromTree: async (from) => {
              const src = await this.fromSource(from);
              return { identity: src.identity, fs: new LayeredSourceFs(src.layers, src.label, this.isOpaque) };
            },
            secrets: this.o.secrets ?? [],
            ssh: this.o.ssh ?? [],
            environment: this.env,
            etcFiles: (net) => this.etcFiles(net),
          },
          stdout,
          stderr,
          ...(this.o.signal !== undefined ? { signal: this.o.signal } : {}),
          ...(this.o.runtime !== undefined ? { runtime: this.o.runtime } : {}),
          stateDir: this.stateDir,
          deferCleanup: this.deferCleanup,
          anotherFollows,
          existsInParent: (abs) => view.lstat(abs.replace(/^\/+/, "")) !== undefined,
          parentType: (abs) => view.lstat(abs.replace(/^\/+/, ""))?.type,
        });
      } catch (err) {
        if (err instanceof BuildError) throw err;
        throw fail((err as Error).message, { output: both(), cause: err });
      }
      if (this.o.signal?.aborted === true) throw fail("the build was cancelled", { exitCode: 130, output: both() });
      if (code !== 0) {
        const shown = command.args.map((a) => (/\s/.test(a) ? a : a)).join(" ");
        throw fail(`process "${shown}" did not complete successfully: exit code: ${code}`, { output: both() });
      }
    });
  }

  private async copyStep(
    s: { index: number; position: number; node: CopyInstruction | AddInstruction; state: StageState; noCache: boolean; onbuild: boolean },
    id: number,
    expand: (w: string, o?: { skipProcessQuotes?: boolean }) => string,
    fail: (d: string, extra?: { cause?: unknown }) => BuildError,
  ): Promise<void> {
    const { node, state } = s;
    let prepared;
    try {
      prepared = await prepareCopy({
        ins: node,
        expand,
        workdir: state.config.config?.WorkingDir || "/",
        sourceFor: async (from) => {
          if (from === undefined) {
            const ctx = await this.buildContext();
            return { fs: ctx, identity: "context", statCache: () => this.getStatCache() };
          }
          const src = await this.fromSource(from);
          return { fs: new LayeredSourceFs(src.layers, src.label, this.isOpaque) as SourceFs, identity: src.identity };
        },
        parentLayers: state.layers.map((l) => l.dir).reverse(),
        isOpaque: this.isOpaque,
        selectionMemo: {
          get: async (fp) => ((await this.store.getCacheEntry(`selection:${fp}`)) as { digest?: string } | undefined)?.digest,
          // written behind the step (two fsyncs on its path otherwise); the build's end waits
          set: (fp, digest) => this.deferCleanup(this.store.putCacheEntry(`selection:${fp}`, { layers: [], digest })),
        },
        sourceDateEpoch: this.epoch,
        sshAgent: this.o.ssh?.find((a) => a.id === "default")?.socket,
        explainFileLimit: EXPLAIN_FILE_LIMIT,
      });
    } catch (err) {
      if (err instanceof BuildError) throw err;
      throw fail((err as Error).message, { cause: err });
    }
    trace(`build: step ${id} sources checksummed`);
    try {
      const parentChain = state.key;
      const inputs: KeyInputs = {
        // --link: the layer is made without the parent (BuildKit's MergeOp of a copy onto
        // scratch), so an earlier change still hits it and the layer is stacked on the new parent.
        parent: prepared.link ? "link" : state.key,
        instruction: prepared.instruction,
        env: [],
        contentDigest: prepared.contentDigest,
      };
      let placed: Map<string, PlacedFile> | undefined;
      const { ready } = await this.layerStep(s, id, inputs, `${prepared.createdBy} # buildkit`, async (snap, previous) => {
        try {
          placed = await prepared.execute(snap, await this.reuseSource(previous));
        } catch (err) {
          throw fail((err as Error).message, { cause: err });
        }
      }, () => prepared.files(), true);
      const made = placed;
      if (made !== undefined && made.size > 0) this.deferCleanup(ready.then((layer) => (layer !== undefined ? this.savePlaced(layer.diffId, made) : undefined)));
      if (prepared.link) state.key = stackedKey(parentChain, state.key);
    } finally {
      await prepared.cleanup();
    }
  }

  /**
   * What each COPY layer placed (see ReuseSource), kept by diff_id for the next build of the
   * same step. A hint, not a record: written behind the build without fsync; a missing or torn
   * file only means copying instead of linking.
   */
  private async savePlaced(diffId: Digest, placed: Map<string, PlacedFile>): Promise<void> {
    const path = this.store.placedPath(diffId);
    await mkdir(dirname(path), { recursive: true });
    await replaceFile(path, JSON.stringify([...placed]));
  }

  private async reuseSource(previous: () => Promise<LayerInfo | undefined>): Promise<ReuseSource | undefined> {
    const layer = await previous();
    if (layer === undefined) return undefined;
    try {
      const list = JSON.parse(await readFile(this.store.placedPath(layer.diffId), "utf8")) as [string, PlacedFile][];
      return { dir: layer.dir, placed: new Map(list) };
    } catch {
      return undefined;
    }
  }

  /** A RUN's network, undefined when its flag is invalid (the step reports that). */
  private networkOf(node: RunInstruction): RunNetwork | undefined {
    try {
      return runNetwork(node, this.defaultNetwork);
    } catch {
      return undefined;
    }
  }

  /**
   * A step of stage `index` missed the cache: every later step of the stage will run too (their
   * keys chain), so when a RUN on the sandbox network follows, the sandbox is started now, its
   * set-up (a namespace, pasta's start: ~100 ms) overlapping this step and the ones between.
   */
  private noteMiss(index: number, node: Instruction | undefined): void {
    if (this.sandbox.started) return;
    const last = this.lastSandboxRun.get(index) ?? -1;
    if (last < 0) return;
    const at = node === undefined ? -1 : this.plan.stages[index]!.steps.indexOf(node);
    if (at <= last) this.sandbox.start();
  }

  private etcDir: string | undefined;
  private readonly etcFilesMade = new Map<RunNetwork, Promise<{ resolvConf: string; hosts: string }>>();
  /** This build's lock in its state dir (stale-builds.ts), held until the dir is removed. */
  private stateLock: HeldLock | undefined;
  /** Kills this build's containers should the build die (stale-builds.ts), stopped at its end. */
  private stateWatchdog: { stop(): void } | undefined;

  /**
   * resolv.conf and hosts for a RUN on `network`, as BuildKit writes them, once per build and
   * network into its state dir: hosts names localhost and buildkitsandbox whatever the network;
   * resolv.conf is the host's, moby's way (runtime/network/etc-files.ts): loopback nameservers,
   * which answer only in the host's namespace, removed except on the host's network, and the
   * sandbox's DNS relay (or Docker's defaults) when none is left.
   */
  private etcFiles(network: RunNetwork): Promise<{ resolvConf: string; hosts: string }> {
    let made = this.etcFilesMade.get(network);
    if (made === undefined) {
      made = this.writeEtcFiles(network);
      this.etcFilesMade.set(network, made);
    }
    return made;
  }

  private async writeEtcFiles(network: RunNetwork): Promise<{ resolvConf: string; hosts: string }> {
    const { buildkitHosts, containerResolvConf, readHostResolvConf } = await import("../runtime/network/etc-files.js");
    // synchronous: tiny files on tmpfs; a dozen thread-pool round trips took longer, the more
    // so while a layer's digest shares the main thread (commitBehind)
    const dir = this.etcDir ?? join(this.stateDir, "etc");
    if (this.etcDir === undefined) {
      this.etcDir = dir;
      mkdirSync(dir, { recursive: true });
      // the state dir exists now: hold its lock, and sweep those of builds that were killed
      if (this.ownStateDir) {
        this.deferCleanup(
          import("./stale-builds.js").then(async ({ lockStateDir, sweepDeadBuilds, watchStateDir }) => {
            this.stateLock = await lockStateDir(this.stateDir);
            if (this.stateLock !== undefined) this.stateWatchdog = watchStateDir(this.stateDir, this.o.runtime);
            await sweepDeadBuilds(this.stateDir, this.o.runtime);
            await memoryDirModule.sweepMemoryDirs();
          }).catch(() => undefined),
        );
      }
      writeFileSync(join(dir, "hosts"), buildkitHosts(), { mode: 0o644 });
    }
    const hostNetwork = network === "host";
    // the sandbox's relay, if it has one (its nameservers are then the host's loopback ones)
    const relay = network === "default" ? (await this.sandbox.ready()).nameserver : undefined;
    const text = containerResolvConf(readHostResolvConf({ hostNetwork }) ?? "", { hostNetwork, ...(relay !== undefined ? { fallback: [relay] } : {}) });
    const resolvConf = join(dir, `resolv-${network}.conf`);
    writeFileSync(resolvConf, text, { mode: 0o644 });
    return { resolvConf, hosts: join(dir, "hosts") };
  }

  /** `--from` / `from=`: a stage (by name or index) or an image. */
  private async fromSource(from: string): Promise<{ layers: string[]; identity: string; label: string }> {
    const plan = this.plan;
    let index: number | undefined;
    if (/^\d+$/.test(from)) index = Number(from);
    else index = plan.stages.find((st) => st.name === from.toLowerCase())?.index;
    if (index !== undefined && index < plan.stages.length) {
      const r = await this.stageResult(index);
      return { layers: r.state.layers.map((l) => l.dir).reverse(), identity: `stage:${r.key}`, label: `stage ${from}` };
    }
    const rec = await this.image(from);
    return { layers: rec.layers.map((l) => l.dir).reverse(), identity: `image:${rec.id}`, label: `image ${from}` };
  }

  private async fromIdentity(from: string): Promise<string> {
    return (await this.fromSource(from)).identity;
  }

  /** This build's dir on a tmpfs (memory-dir.ts), made at first use; undefined without a tmpfs. */
  private memoryDir(): string | undefined {
    if (this.memoryDirMade === undefined) {
      const { makeMemoryDir } = memoryDirModule;
      this.memoryDirMade = { dir: makeMemoryDir(this.stateDir) };
    }
    return this.memoryDirMade.dir;
  }

  /** The context as RUN's bind mounts see it (after .dockerignore), made once per build. */
  private contextView(): Promise<ContextView> {
    this.contextViewP ??= this.buildContext().then(async (ctx) => {
      const { makeContextView } = await import("./context-view.js");
      return makeContextView(ctx, join(this.memoryDir() ?? this.stateDir, "context-view"));
    });
    return this.contextViewP;
  }

  private buildContext(): Promise<BuildContext> {
    this.context ??= BuildContext.load(this.contextRoot, { dockerfile: this.dockerfilePath });
    return this.context;
  }

  private getStatCache(): StatCache {
    if (this.statCache === undefined) {
      const dir = join(this.store.root, "buildcache");
      mkdirSync(dir, { recursive: true });
      let real = this.contextRoot;
      try {
        real = realpathSync(this.contextRoot);
      } catch {
        // the context load reports a missing directory
      }
      this.statCache = StatCache.load(join(dir, `stat-${sha(real).slice(0, 24)}.json`));
    }
    return this.statCache;
  }

  // ------------------------------------------------------------------ image

  private async createImage(state: StageState, tags: string[]): Promise<ImageRecord> {
    const config: ImageConfig = cloneConfig(state.config);
    const added = state.newHistory;
    const epochTime = this.epoch !== undefined ? formatTime(new Date(this.epoch * 1000)) : undefined;
    const history: HistoryEntry[] = [...(config.history ?? [])];
    for (const h of added) history.push(epochTime !== undefined ? { created: epochTime, ...h.entry } : h.layerCreated !== undefined ? { created: h.layerCreated, ...h.entry } : { ...h.entry });
    fillHistoryTimes(history);
    // Docker's field order, so configs look (and hash) the same whatever order times were filled in.
    for (let i = 0; i < history.length; i++) {
      const h = history[i] as HistoryEntry;
      history[i] = {
        ...(h.created !== undefined ? { created: h.created } : {}),
        ...(h.created_by !== undefined ? { created_by: h.created_by } : {}),
        ...(h.author !== undefined ? { author: h.author } : {}),
        ...(h.comment !== undefined ? { comment: h.comment } : {}),
        ...(h.empty_layer === true ? { empty_layer: true } : {}),
      };
    }
    const fallback = epochTime ?? state.baseCreated ?? formatTime(new Date(this.t0));
    config.history = history;
    config.rootfs = { type: "layers", diff_ids: state.layers.map((l) => l.diffId) };
    const created = epochTime ?? [...history].reverse().find((h) => h.created !== undefined)?.created ?? fallback;
    config.created = created;
    const cc = containerConfig({ ...state, config });
    if (this.o.labels !== undefined && Object.keys(this.o.labels).length > 0) cc.Labels = { ...(cc.Labels ?? {}), ...this.o.labels };
    // Docker's field order (its Go struct), OnBuild written as null when empty, as docker build does.
    const order = ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal", "ArgsEscaped", "Healthcheck", "OnBuild", "Shell"] as const;
    if (cc.OnBuild === undefined || (cc.OnBuild !== null && cc.OnBuild.length === 0)) cc.OnBuild = null;
    const orderedCc: Record<string, unknown> = {};
    for (const k of order) if (cc[k] !== undefined) orderedCc[k] = cc[k];
    for (const [k, v] of Object.entries(cc)) if (!(k in orderedCc) && v !== undefined) orderedCc[k] = v;
    // Field order as Docker writes configs, so digests are stable across berth versions.
    const ordered: ImageConfig = {
      ...(config.author !== undefined ? { author: config.author } : {}),
      architecture: config.architecture,
      ...(config.variant !== undefined ? { variant: config.variant } : {}),
      config: orderedCc,
      created: config.created,
      history: config.history,
      os: config.os,
      rootfs: config.rootfs,
    } as ImageConfig;
    // A no-op rebuild makes the same config: skip rewriting (and fsyncing) blobs it already has.
    const bytes = Buffer.from(JSON.stringify(ordered));
    const id = `sha256:${createHash("sha256").update(bytes).digest("hex")}` as Digest;
    if (await this.store.imageExists(id)) {
      for (const t of tags) await this.store.tag(t, id);
      return this.store.imageById(id);
    }
    return this.store.addImage(bytes, { tags });
  }
}

/**
 * BuildKit's exporter (normalizeLayersAndHistory): history items without a time take the first
 * new layer's time when they come before it, else the time of the layer before them; so a
 * no-op rebuild (layer times from the cache) gives the same image ID.
 */
export function fillHistoryTimes(history: HistoryEntry[]): void {
  let created: string | undefined;
  let gap = false;
  for (const h of history) {
    if (h.created !== undefined) {
      created = h.created;
      if (gap) break;
    } else gap = true;
  }
  gap = false;
  for (const h of history) {
    if (h.created !== undefined) {
      if (gap) created = h.created;
    } else {
      gap = true;
      if (created !== undefined) h.created = created;
    }
  }
}

export { DockerfileSyntaxError, errorAt };
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

export async function writeIidFile(path: string, id: Digest): Promise<void> {
  await writeFile(path, id);
}
