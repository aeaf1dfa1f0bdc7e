import { mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BuildContext, LayeredSourceFs, overlayOpaque, StatCache } from "../context/index.js";
import { removeTree } from "../sys/remove-tree.js";
import type { HeldLock } from "../sys/flock.js";
import type { BuilderStore } from "./store-port.js";
import type { ContextView } from "./context-view.js";
import * as memoryDirModule from "./memory-dir.js";
import type { BuildSandbox, RunNetwork } from "./sandbox.js";
import type { StageState } from "./stage-state.js";

export interface BuildResourcesOptions {
  store: BuilderStore;
  contextRoot: string;
  dockerfilePath: string;
  /** runc state of this build's containers, its /etc files, its context view. */
  stateDir: string;
  /** The state dir is this build's own (made and removed by it), not the caller's. */
  ownStateDir: boolean;
  sandbox: BuildSandbox;
  runtime: string | undefined;
  deferCleanup(p: Promise<void>): void;
}

/**
 * What the steps of one build share, each made at first use: the build context, its stat
 * cache and the view RUN's bind mounts have of it, the build's dir on a tmpfs, the /etc files
 * of its RUN steps, the opaque-dir answers for layer dirs; and their removal at the end.
 */
export class BuildResources {
  private context: Promise<BuildContext> | undefined;
  private contextViewMade: Promise<ContextView> | undefined;
  private memoryDirMade: { dir: string | undefined } | undefined;
  private statCacheMade: StatCache | undefined;
  /**
   * Whether a layer's directory is opaque: the layer's record says (store.knownOpaque); for
   * older records one getfattr per directory and build, since layer dirs never change once
   * committed (each check is a process; a view is made per step).
   */
  private readonly opaqueMemo = new Map<string, boolean>();
  private etcDir: string | undefined;
  private readonly etcFilesMade = new Map<RunNetwork, Promise<{ resolvConf: string; hosts: string }>>();
  /** This build's lock in its state dir (stale-builds.ts), held until the dir is removed. */
  private stateLock: HeldLock | undefined;
  /** Kills this build's containers should the build die (stale-builds.ts), stopped at its end. */
  private stateWatchdog: { stop(): void } | undefined;

  constructor(private readonly options: BuildResourcesOptions) {}

  readonly isOpaque = (absDir: string): boolean => {
    let o = this.options.store.knownOpaque(absDir) ?? this.opaqueMemo.get(absDir);
    if (o === undefined) {
      o = overlayOpaque(absDir);
      this.opaqueMemo.set(absDir, o);
    }
    return o;
  };

  /** The stage's rootfs as a tree read through its layers. */
  parentView(state: StageState): LayeredSourceFs {
    // A layer's root cannot be opaque (nothing replaces "/"): no getfattr for it.
    for (const l of state.layers) this.opaqueMemo.set(l.dir, false);
    return new LayeredSourceFs(state.layers.map((l) => l.dir).reverse(), "image", this.isOpaque);
  }

  buildContext(): Promise<BuildContext> {
    this.context ??= BuildContext.load(this.options.contextRoot, { dockerfile: this.options.dockerfilePath });
    return this.context;
  }

  /** The context's stat cache (content sums memoized by path, size, mtime, inode), kept in the store. */
  statCache(): StatCache {
    if (this.statCacheMade === undefined) {
      let real = this.options.contextRoot;
      try {
        real = realpathSync(this.options.contextRoot);
      } catch {
        // the context load reports a missing directory
      }
      this.statCacheMade = StatCache.load(this.options.store.statCacheFile(real));
    }
    return this.statCacheMade;
  }

  /** This build's dir on a tmpfs (memory-dir.ts), made at first use; undefined without a tmpfs. */
  memoryDir(): string | undefined {
    if (this.memoryDirMade === undefined) {
      const { makeMemoryDir } = memoryDirModule;
      this.memoryDirMade = { dir: makeMemoryDir(this.options.stateDir) };
    }
    return this.memoryDirMade.dir;
  }

  /** The context as RUN's bind mounts see it (after .dockerignore), made once per build. */
  contextView(): Promise<ContextView> {
    this.contextViewMade ??= this.buildContext().then(async (ctx) => {
      const { makeContextView } = await import("./context-view.js");
      return makeContextView(ctx, join(this.memoryDir() ?? this.options.stateDir, "context-view"));
    });
    return this.contextViewMade;
  }

  /**
   * resolv.conf and hosts for a RUN on `network`, as BuildKit writes them, once per build and
   * network into its state dir: hosts names localhost and buildkitsandbox whatever the network;
   * resolv.conf is the host's, moby's way (runtime/network/etc-files.ts): loopback nameservers,
   * which answer only in the host's namespace, removed except on the host's network, and the
   * sandbox's DNS relay (or Docker's defaults) when none is left.
   */
  etcFiles(network: RunNetwork): Promise<{ resolvConf: string; hosts: string }> {
    let made = this.etcFilesMade.get(network);
    if (made === undefined) {
      made = this.writeEtcFiles(network);
      this.etcFilesMade.set(network, made);
    }
    return made;
  }

  private async writeEtcFiles(network: RunNetwork): Promise<{ resolvConf: string; hosts: string }> {
    const { buildkitHosts, containerResolvConf, readHostResolvConf } = await import("../runtime/network/etc-files.js");
    const { stateDir, runtime } = this.options;
    // synchronous: tiny files on tmpfs; a dozen thread-pool round trips took longer, the more
    // so while a layer's digest shares the main thread (commitBehind)
    const dir = this.etcDir ?? join(stateDir, "etc");
    if (this.etcDir === undefined) {
      this.etcDir = dir;
      mkdirSync(dir, { recursive: true });
      // the state dir exists now: hold its lock, and sweep those of builds that were killed
      if (this.options.ownStateDir) {
        this.options.deferCleanup(
          import("./stale-builds.js").then(async ({ lockStateDir, sweepDeadBuilds, watchStateDir }) => {
            this.stateLock = await lockStateDir(stateDir);
            if (this.stateLock !== undefined) this.stateWatchdog = watchStateDir(stateDir, runtime);
            await sweepDeadBuilds(stateDir, runtime);
            await memoryDirModule.sweepMemoryDirs();
          }).catch(() => undefined),
        );
      }
      writeFileSync(join(dir, "hosts"), buildkitHosts(), { mode: 0o644 });
    }
    const hostNetwork = network === "host";
    // the sandbox's relay, if it has one (its nameservers are then the host's loopback ones)
    const relay = network === "default" ? (await this.options.sandbox.ready()).nameserver : undefined;
    const text = containerResolvConf(readHostResolvConf({ hostNetwork }) ?? "", { hostNetwork, ...(relay !== undefined ? { fallback: [relay] } : {}) });
    const resolvConf = join(dir, `resolv-${network}.conf`);
    writeFileSync(resolvConf, text, { mode: 0o644 });
    return { resolvConf, hosts: join(dir, "hosts") };
  }

  /** Hashes learnt for unchanged files are kept, even when a step failed. */
  saveStatCache(): void {
    try {
      this.statCacheMade?.save(undefined, { prune: false });
    } catch {
      // a stat cache that cannot be written only costs re-hashing next time
    }
  }

  /** The build's end, once no container runs: its state dir, tmpfs dir and lock go. */
  async remove(): Promise<void> {
    const { stateDir, ownStateDir } = this.options;
    this.stateWatchdog?.stop();
    // Never rm through a mount that failed to come off (it would write whiteouts into a snapshot).
    if (ownStateDir && !readFileSync("/proc/self/mountinfo", "utf8").includes(stateDir)) {
      // a dozen small entries on tmpfs: one job of the addon; leftovers of a build's own state
      // dir are harmless
      await removeTree(stateDir).catch(() => undefined);
    }
    const memoryDir = this.memoryDirMade?.dir;
    if (memoryDir !== undefined) await removeTree(memoryDir).catch(() => undefined);
    await this.stateLock?.release();
    this.stateLock = undefined;
  }
}
