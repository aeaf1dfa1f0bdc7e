import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import type { Digest } from "../image/digest.js";
import type { Instruction, RunInstruction } from "../instructions/index.js";
import { DockerfileSyntaxError, parse } from "../parser/index.js";
import { errorAt, lintDockerfile, lintSummary, planBuild, unusedBuildArgsWarning, type BuildPlan } from "../plan/index.js";
import { runRoot } from "../sys/run-root.js";
import { trace } from "../sys/trace.js";
import { openStore } from "../store/store.js";
import type { BuilderStore } from "./store-port.js";
import { noteCodePath } from "../code-paths.js";
import { watchAbort } from "./abort.js";
import { entitlementMessage, missingEntitlement } from "./entitlements.js";
import { BuildError } from "./errors.js";
import type { BuildEvent } from "./events.js";
import { formatPlatform, parsePlatformList } from "../image/platform.js";
import type { Platform } from "../image/types.js";
import { createImage } from "./image-config.js";
import type { BuildOptions, BuildResult } from "./options.js";
import { BuildResources } from "./resources.js";
import { runNetwork } from "./run/command.js";
import { BuildSandbox, type RunNetwork } from "./sandbox.js";
import type { BuildSession } from "./session.js";
import { StageWalk } from "./stages.js";
import { StepCache } from "./step-cache.js";

/**
 * `docker build`: plans the Dockerfile, runs the stages the target needs (independent stages
 * in parallel), reuses cached steps, creates and tags the image.
 *
 * Where things are: the build's set-up and end here; the walk over stages and the dispatch of
 * each step by instruction kind in stages.ts; RUN in run/, COPY and ADD in copy/, WORKDIR in
 * workdir.ts, the config-only instructions in metadata.ts; cache lookups, commits and cache
 * entries in step-cache.ts; what steps share (context, tmpfs dir, /etc files) in resources.ts;
 * the image in image-config.ts.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const platforms = options.platform === undefined ? [] : parsePlatformList(options.platform);
  if (platforms.length <= 1) return new Builder(platforms.length === 0 ? options : platformOptions(options, platforms[0]!, 1, 0)).run();
  return buildPlatforms(options, platforms);
}

/**
 * `build --platform a,b`: one build per platform, side by side (their steps shown as BuildKit
 * shows them, `[linux/arm64 2/3] RUN …`), then an OCI image index over their images, tagged.
 * The result's imageId is the index's digest, as Docker's containerd store names it.
 */
async function buildPlatforms(options: BuildOptions, platforms: Platform[]): Promise<BuildResult> {
  const store = options.store ?? (await openStore(options.root));
  const group = (options.cacheTo ?? []).length > 0 ? new (await import("./cache-exchange.js")).CacheExportGroup(platforms.length) : undefined;
  const results = await Promise.all(platforms.map((p, i) => {
    const run = new Builder({ ...platformOptions(options, p, platforms.length, i), store, tags: [], ...(group !== undefined ? { cacheGroup: { group, member: i } } : {}) }).run();
    return group === undefined ? run : run.finally(() => group.leave(i));
  }));
  const index = await store.createImageIndex(results.map((r) => r.image), options.tags ?? []);
  return {
    imageId: index.digest,
    image: results[0]!.image,
    tags: options.tags ?? [],
    warnings: results.flatMap((r) => r.warnings),
    cachedSteps: results.reduce((a, r) => a + r.cachedSteps, 0),
    executedSteps: results.reduce((a, r) => a + r.executedSteps, 0),
    platformImages: results.map((r, i) => ({ platform: platforms[i]!, imageId: r.imageId })),
  };
}

/**
 * One platform's build: its step names carry the platform when there are several (their event
 * ids kept apart); a shared cache is one for all platforms (CacheExportGroup).
 */
function platformOptions(options: BuildOptions, platform: Platform, count: number, at: number): BuildOptions {
  const name = formatPlatform(platform);
  const onEvent = options.onEvent;
  return {
    ...options,
    platform: name,
    ...(onEvent !== undefined && count > 1 ? {
      onEvent: (e: BuildEvent) => {
        if (!("id" in e)) return onEvent(e);
        const id = e.id * count + at;
        onEvent(e.type === "step" ? { ...e, id, name: e.name.replace(/^\[/, `[${name} `) } : { ...e, id });
      },
    } : {}),
  };
}

class Builder implements BuildSession {
  readonly options: BuildOptions;
  readonly environment: Readonly<Record<string, string | undefined>>;
  store!: BuilderStore;
  plan!: BuildPlan;
  epoch: number | undefined;
  readonly stateDir: string;
  private readonly ownStateDir: boolean;
  cache!: StepCache;
  resources!: BuildResources;
  readonly sandbox: BuildSandbox;
  readonly defaultNetwork: RunNetwork;
  private readonly walk = new StageWalk(this);
  private lastId = 0;
  private readonly warnings: string[] = [];
  private readonly startedAt = Date.now();
  /** RUN instructions of the needed stages not yet reached: while some are left, a RUN says another container follows (runTransient's anotherFollows). */
  private runsLeft = 0;
  /** Removals of what finished steps left (snapshots, container bundles), waited for at the end. */
  private readonly cleanups: Promise<void>[] = [];
  /** Per stage: the position in its steps of its last RUN on the sandbox network (-1: none). */
  private readonly lastSandboxRun = new Map<number, number>();

  constructor(options: BuildOptions) {
    this.options = options;
    this.environment = options.environment ?? process.env;
    this.ownStateDir = options.stateDir === undefined;
    this.stateDir = options.stateDir ?? join(runRoot(), "build", `${process.pid}-${randomBytes(4).toString("hex")}`);
    this.defaultNetwork = options.network ?? "default";
    this.sandbox = new BuildSandbox({ runDir: this.stateDir, environment: this.environment });
  }

  emit(e: BuildEvent): void {
    this.options.onEvent?.(e);
  }

  nextId(): number {
    return ++this.lastId;
  }

  readonly deferCleanup = (p: Promise<void>): void => {
    this.cleanups.push(p.catch(() => undefined));
  };

  fromSource(from: string): Promise<{ layers: string[]; identity: string; label: string }> {
    return this.walk.fromSource(from);
  }

  runStarts(onbuild: boolean): boolean {
    // ONBUILD RUNs are not counted: another one may follow them
    if (!onbuild) this.runsLeft--;
    return onbuild || this.runsLeft > 0;
  }

  private warn(message: string): void {
    this.warnings.push(message);
    this.emit({ type: "warning", message, time: Date.now() });
  }

  async run(): Promise<BuildResult> {
    const o = this.options;
    const contextRoot = resolve(o.context);
    const dockerfilePath = o.dockerfile === undefined ? join(contextRoot, "Dockerfile") : isAbsolute(o.dockerfile) ? o.dockerfile : resolve(o.dockerfile);
    let text: string;
    if (o.dockerfileText !== undefined) text = o.dockerfileText;
    else {
      try {
        text = readFileSync(dockerfilePath, "utf8");
      } catch (err) {
        throw new BuildError(`failed to read Dockerfile: open ${dockerfilePath}: no such file or directory`, { cause: err, exitCode: 1 });
      }
    }
    const display = o.dockerfile === undefined ? "Dockerfile" : o.dockerfile;
    const ast = parse(text, { file: display });
    this.plan = planBuild(ast, text, {
      ...(o.buildArgs !== undefined ? { buildArgs: o.buildArgs } : {}),
      environment: this.environment,
      ...(o.target !== undefined ? { target: o.target } : {}),
      ...(o.platform !== undefined ? { platform: o.platform } : {}),
    });
    // BuildKit's lint warnings berth implements (plan/lint.ts), before any step runs
    const lint = lintSummary(lintDockerfile(ast, text, this.plan.instructions));
    if (lint !== undefined) this.warn(lint);
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
    if (o.isolation === "chroot") {
      this.warn(
        "--isolation chroot: RUN steps run in a chroot with berth's own privileges: no namespaces (they share the job's network, processes and hostname), no seccomp filter or capability limits, no /proc or /sys; a step can do whatever this job can. For trusted builds where namespaces are not available",
      );
    }
    for (const i of this.plan.order) {
      const steps = this.plan.stages[i]!.steps;
      let last = -1;
      steps.forEach((node, at) => {
        if (node.kind === "run" && o.isolation !== "chroot" && this.networkOf(node) === "default") last = at;
      });
      this.lastSandboxRun.set(i, last);
    }
    if (this.plan.order.length > 1) noteCodePath("stages");
    const epochText = o.sourceDateEpoch !== undefined ? String(o.sourceDateEpoch) : (this.plan.buildArgs.get("SOURCE_DATE_EPOCH") ?? this.environment.SOURCE_DATE_EPOCH);
    if (epochText !== undefined && epochText !== "") {
      if (!/^\d+$/.test(epochText)) throw new BuildError(`invalid SOURCE_DATE_EPOCH ${JSON.stringify(epochText)}: want seconds since 1970`, { exitCode: 125 });
      this.epoch = Number(epochText);
    }
    this.store = o.store ?? (await openStore(o.root));
    this.cache = new StepCache({
      store: this.store,
      epoch: this.epoch,
      emit: (e) => this.emit(e),
      deferCleanup: this.deferCleanup,
      slotPrefix: `${contextRoot}\0${dockerfilePath}\0${o.target ?? ""}`,
      noteMiss: (index, node) => this.noteMiss(index, node),
    });
    this.resources = new BuildResources({
      store: this.store,
      contextRoot,
      dockerfilePath,
      stateDir: this.stateDir,
      ownStateDir: this.ownStateDir,
      sandbox: this.sandbox,
      runtime: o.runtime,
      deferCleanup: this.deferCleanup,
    });
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
    const o = this.options;
    const cache = this.cache;
    if ((o.cacheFrom ?? []).length > 0 || (o.cacheTo ?? []).length > 0) {
      const { CacheExchange } = await import("./cache-exchange.js");
      cache.exchange = await CacheExchange.open({
        store: this.store,
        ...(o.cacheGroup !== undefined ? { group: o.cacheGroup } : {}),
        // --no-cache ignores imported caches too (BuildKit): do not even fetch them.
        imports: o.noCache === true ? [] : (o.cacheFrom ?? []),
        exports: o.cacheTo ?? [],
        ...(o.registry !== undefined ? { registry: o.registry } : {}),
        emit: (e) => this.emit(e),
        newId: () => this.nextId(),
        warn: (message) => this.warn(message),
      });
    }

    const unused = unusedBuildArgsWarning(this.plan.unusedBuildArgs.filter((k) => k !== "SOURCE_DATE_EPOCH"));
    const unwatch = watchAbort(o.signal, this.stateDir, o.runtime);
    try {
      await buildLock;
      const target = await this.walk.stageResult(this.plan.target);
      trace("build: target stage done");
      // no RUN is left: the chroot trees go before the store's sync, which would write their
      // copies of the base image to disk only to delete them
      if (o.isolation === "chroot") await (await import("./run/chroot.js")).closeChrootRoots(this);
      await cache.waitForCommits();
      // The layers' sync is queued now and started by addImage's first sync, once the image's
      // files are written: one sync for both. Started at once (urgent), it ran under the
      // image's making, whose new files waited for its journal commit, and addImage's own sync
      // came on top. The cache entries' writes wait for it.
      const layers = target.state.layers.map((l) => l.diffId);
      this.store.layersDurable(layers).catch(() => undefined);
      const entries = cache.flushEntries();
      entries.catch(() => undefined); // awaited below, unless the image failed first
      const image = await createImage(this.store, target.state, { tags: o.tags ?? [], epoch: this.epoch, labels: o.labels, startedAt: this.startedAt, dockerfile: o.dockerfile ?? "Dockerfile" });
      // an image that existed already was not added: the queued sync starts now
      this.store.layersDurable(layers, { urgent: true }).catch(() => undefined);
      await entries;
      trace("build: image and cache entries written");
      await cache.exchange?.finish(this.plan, image.id);
      if (unused !== undefined) this.warn(unused);
      return {
        imageId: image.id, image, tags: o.tags ?? [], warnings: this.warnings, cachedSteps: cache.cached, executedSteps: cache.executed,
        ...(cache.exchange !== undefined ? { cacheExchange: cache.exchange.stats } : {}),
      };
    } finally {
      this.resources.saveStatCache();
      // Let stages still running in parallel settle before the caller cleans up; the cache
      // entries of the steps that ran are kept even when a later step failed.
      await this.walk.settle();
      // no step runs any more: the sandbox goes (pasta stopped, the namespace's holder ended)
      // while the rest is cleaned up
      const sandboxClosed = this.sandbox.close().catch(() => undefined);
      await cache.settle();
      await Promise.all(this.cleanups);
      await sandboxClosed;
      // no container runs any more: dirs of layers that turned out to exist already can go
      if (o.isolation === "chroot") await (await import("./run/chroot.js")).closeChrootRoots(this);
      await cache.removeLeftovers();
      await unwatch();
      cache.exchange?.close();
      await this.resources.remove();
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
   * set-up (a namespace, pasta's start) overlapping this step and the ones between.
   */
  private noteMiss(index: number, node: Instruction | undefined): void {
    if (this.sandbox.started) return;
    const last = this.lastSandboxRun.get(index) ?? -1;
    if (last < 0) return;
    const at = node === undefined ? -1 : this.plan.stages[index]!.steps.indexOf(node);
    if (at <= last) this.sandbox.start();
  }
}

export { DockerfileSyntaxError, errorAt };

export async function writeIidFile(path: string, id: Digest): Promise<void> {
  await writeFile(path, id);
}
