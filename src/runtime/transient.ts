import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { spawn, type StdioOptions } from "node:child_process";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { RuntimeError, requireRoot } from "./errors.js";
import { isMounted, unmountOverlay, type OverlayDirs } from "./overlay.js";
import { Runc, exitCodeOf, hostBinaryPath, sealRunc } from "./runc.js";
import type { OciSpec } from "./oci-spec.js";
import type { MountRequest, SpecOptions } from "./spec.js";
import { defaultCgroupns } from "./defaults.js";
import { runStartSequence, type Launched, type RuntimeCommand, type StartUser } from "./start-sequence.js";
import { runRoot } from "../sys/run-root.js";
import { trace } from "../sys/trace.js";
import { removeTree } from "../sys/remove-tree.js";
import { secretEnvWrapper } from "../sys/addon.js";
import { spawnPiped, type PipedChild } from "../sys/spawn.js";

/** Where transient containers keep runc state and bundles unless told: transient/ in the run root. */
export function defaultTransientStateDir(): string {
  return join(runRoot(), "transient");
}

export interface TransientProcess {
  args: string[];
  /** KEY=value; PATH and HOME get Docker's defaults when missing */
  env: string[];
  /** working directory inside the container (default /); created by runc when missing */
  cwd?: string;
  /** numeric ids, or `user[:group]` resolved against the container's /etc/passwd and /etc/group */
  user?: StartUser;
  terminal?: boolean;
}

export type OutputSink = Writable | "inherit" | "ignore";

export interface TransientOptions extends OverlayDirs {
  process: TransientProcess;
  /**
   * "host" shares the host's network namespace (the default); "none" has loopback only;
   * `{ netns }` joins that namespace (a path: a build's sandbox, src/runtime/network/).
   */
  network?: "host" | "none" | { netns: string };
  mounts?: MountRequest[];
  hostname?: string;
  /**
   * Every capability, all devices, no seccomp filter, /sys writable (`RUN --security=insecure`,
   * BuildKit's insecure mode). Otherwise Docker's defaults: 14 capabilities and its seccomp profile.
   */
  privileged?: boolean;
  stdin?: Readable | "inherit" | "ignore";
  stdout?: OutputSink;
  stderr?: OutputSink;
  /** aborting kills the container (SIGKILL) and resolves with its exit code (137) */
  signal?: AbortSignal;
  /** runc state and bundles (default transient/ in the run root) */
  stateDir?: string;
  /** the OCI runtime binary (default $BERTH_RUNTIME or runc) */
  runtime?: string;
  /**
   * Mount the overlay `volatile` (Linux 5.10+): its unmount, when the container ends, does not
   * sync the upper dir's whole file system (a journal commit per step on a journaled store). For a caller
   * that makes the upper dir durable itself, or never needs it to be (a build syncs its layers
   * once, before anything durable names them: Store.layersDurable).
   */
  volatile?: boolean;
  /**
   * Another container follows in this process (a build's next RUN): runc's sealed copy is made
   * for it while this one runs (see sealRunc). The last container of a build does not ask: the
   * copy would only compete with its runc for the CPU.
   */
  anotherFollows?: boolean;
  /**
   * Takes the removal of the container's bundle, to wait for it later (a build, at its end):
   * the container's result comes back without waiting for it. Default: removed before return.
   */
  deferCleanup?: (removal: Promise<void>) => void;
  /**
   * Secrets for the command's environment (NAME=value, `RUN --mount=type=secret,env=`): never
   * written to config.json. berth-secret-env (native/secret-env.c), bound at SECRET_ENV_WRAPPER,
   * starts the command with them, read from fd 3 (runc's --preserve-fds), a socket berth writes
   * them to. Without the wrapper they go into config.json after all, which is then a file in
   * `secretEnvDir` (a tmpfs dir of the build, mode 0700) linked from the bundle, removed with it.
   */
  secretEnv?: string[];
  secretEnvDir?: string;
}

/** Where berth-secret-env is bound inside a step's container (/dev is runc's tmpfs: no stub reaches a layer). */
export const SECRET_ENV_WRAPPER = "/dev/.berth-secret-env";

export interface TransientResult {
  exitCode: number;
}

function stdioFor(sink: OutputSink | Readable | undefined): "inherit" | "ignore" | "pipe" {
  return sink === undefined || sink === "ignore" ? "ignore" : sink === "inherit" ? "inherit" : "pipe";
}

/** runc through the addon's posix_spawn, when it has it and `file` is found (else undefined: Node's spawn reports what is wrong). */
function spawnRuntime(file: string, argv0: string, args: string[]): PipedChild | undefined {
  const path = hostBinaryPath(file);
  return path === null ? undefined : spawnPiped(path, [argv0, ...args]);
}

/** Docker's default cgroup namespace mode on this host (looked up once). */
let cgroupnsDefault: "private" | "host" | undefined;

/**
 * Run one process in a throw-away container whose root is an overlay of `lowerDirs` with
 * `upperDir` on top — a build step's RUN: the transient profile of the start sequence
 * (start-sequence.ts). The upper dir keeps the changes for the caller to snapshot. runc itself
 * mounts the overlay, as the spec's first mount: one process (`runc run`) instead of the chain
 * unshare → sh → mount(8) → runc, three processes fewer per container. The mount lives in the
 * container's mount namespace and goes with it: nothing to unmount, nothing to leak when berth
 * is SIGKILLed. Another runtime, or an option string too long for the relative paths runc
 * resolves (against the rootfs dir, its init's cwd), falls back to the chain (see
 * inMountNamespace).
 *
 * Throws RuntimeError when the container cannot start (127 command not found, 126 not
 * executable, 125 otherwise); a process that runs and fails resolves with its exit code.
 */
export async function runTransient(options: TransientOptions): Promise<TransientResult> {
  const stateDir = options.stateDir ?? defaultTransientStateDir();
  const id = `t${randomBytes(6).toString("hex")}`;
  const bundle = join(stateDir, "b", id);
  const runc = new Runc(join(stateDir, "runc"), options.runtime);
  if (options.signal?.aborted === true) throw new RuntimeError("the step was cancelled before it started");
  requireRoot();
  const p = options.process;
  const secretEnv = options.secretEnv ?? [];
  const wrapper = secretEnv.length > 0 ? secretEnvWrapper() : undefined;
  let secretConfig: string | undefined;
  try {
    const exitCode = await runStartSequence({
      id,
      runc,
      bundle,
      overlay: options,
      process: { args: p.args, env: p.env, ...(p.cwd !== undefined ? { cwd: p.cwd } : {}), ...(p.user !== undefined ? { user: p.user } : {}), terminal: p.terminal === true, ...(options.hostname !== undefined ? { hostname: options.hostname } : {}) },
      rootInSpec: true,
      volatile: options.volatile === true,
      prepare: ({ env }) => {
        let mounts = options.mounts;
        const spec: Partial<SpecOptions> = {
          ...(typeof options.network === "object" ? { network: "private", netnsPath: options.network.netns } : { network: options.network ?? "host" }),
          ...(options.privileged === true ? { privileged: true } : {}),
          cgroupns: (cgroupnsDefault ??= defaultCgroupns()),
        };
        if (wrapper !== undefined) {
          spec.args = [SECRET_ENV_WRAPPER, ...p.args];
          mounts = [...(mounts ?? []), { type: "bind", source: wrapper, destination: SECRET_ENV_WRAPPER, readOnly: true }];
        } else if (secretEnv.length > 0) {
          if (options.secretEnvDir === undefined) throw new RuntimeError("secrets for the environment need a tmpfs dir to pass through (no berth-secret-env wrapper)");
          spec.env = [...env, ...secretEnv];
        }
        if (mounts !== undefined) spec.mounts = mounts;
        return { spec, ...(wrapper !== undefined ? { preserveFds: 1 } : {}) };
      },
      ...(secretEnv.length > 0 && wrapper === undefined && options.secretEnvDir !== undefined
        ? {
            writeConfig: (spec: OciSpec) => {
              // the values are in this config: on the tmpfs, root's alone, linked from the bundle
              mkdirSync(bundle, { recursive: true });
              const config = join(options.secretEnvDir as string, `config-${id}.json`);
              writeFileSync(config, JSON.stringify(spec), { mode: 0o600 });
              symlinkSync(config, join(bundle, "config.json"));
              secretConfig = config;
            },
          }
        : {}),
      launch: (command) => launchStep(command, runc, id, options, wrapper !== undefined ? secretEnv : undefined),
    });
    return { exitCode };
  } finally {
    if (secretConfig !== undefined) rmSync(secretConfig, { force: true });
    // a handful of small files and empty dirs: the addon's one job when the caller waits for it
    // later, else synchronous (cheaper than fs.rm's thread-pool round trips)
    if (options.deferCleanup !== undefined) options.deferCleanup(removeTree(bundle).catch(() => undefined));
    else rmSync(bundle, { recursive: true, force: true });
  }
}

/**
 * A build step's runc: its output piped to the step's streams, killed when the step is aborted;
 * `secretEnv` goes to the wrapper through fd 3.
 */
function launchStep(command: RuntimeCommand, runc: Runc, id: string, options: TransientOptions, secretEnv: string[] | undefined): Launched {
  const stdio: StdioOptions = [stdioFor(options.stdin), stdioFor(options.stdout), stdioFor(options.stderr)];
  if (secretEnv !== undefined) stdio.push("pipe");
  trace("transient: spawning runc");
  // a build step's shape (no stdin, output to streams, runc alone): posix_spawn through the
  // addon, as Node's spawn forks this whole process (2-4 ms of the main thread, while the
  // previous step's runc still needs the CPU)
  const piped =
    secretEnv === undefined && command.cwd === undefined && stdioFor(options.stdin) === "ignore" && typeof options.stdout === "object" && typeof options.stderr === "object"
      ? spawnRuntime(command.file, runc.binary, command.args)
      : undefined;
  let exited: Promise<number>;
  if (piped !== undefined) {
    piped.stdout.pipe(options.stdout as Writable, { end: false });
    piped.stderr.pipe(options.stderr as Writable, { end: false });
    exited = piped.exitCode;
  } else {
    const child = spawn(command.file, command.args, { ...(command.cwd !== undefined ? { cwd: command.cwd } : {}), stdio, argv0: runc.binary });
    if (typeof options.stdin === "object") options.stdin.pipe(child.stdin as Writable);
    if (typeof options.stdout === "object") child.stdout?.pipe(options.stdout, { end: false });
    if (typeof options.stderr === "object") child.stderr?.pipe(options.stderr, { end: false });
    exited = exitCodeOf(child);
    if (secretEnv !== undefined) {
      // fd 3 of runc, handed to the wrapper: the entries, then EOF
      const channel = child.stdio[3] as Writable;
      channel.on("error", () => undefined); // runc failed before reading: its exit says why
      channel.end(Buffer.concat(secretEnv.map((e) => Buffer.from(`${e}\0`))));
    }
  }
  if (options.anotherFollows === true) void sealRunc(runc.binary);
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    void runc.kill(id, "SIGKILL", true);
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  return { exited, done: () => options.signal?.removeEventListener("abort", onAbort), killed: () => aborted };
}

/**
 * Remove what transient containers of a killed berth process left behind in `stateDir`:
 * runc state, overlay mounts, bundles. Safe to call while other transient containers run
 * only from the process that owns `stateDir`.
 */
export async function cleanupTransient(stateDir: string = defaultTransientStateDir(), runtime?: string): Promise<void> {
  const runc = new Runc(join(stateDir, "runc"), runtime);
  for (const state of await runc.list()) await runc.delete(state.id);
  const bundles = await readdir(join(stateDir, "b")).catch(() => [] as string[]);
  for (const id of bundles) {
    const rootfs = join(stateDir, "b", id, "rootfs");
    if (isMounted(rootfs)) await unmountOverlay(rootfs);
    await removeTree(join(stateDir, "b", id));
  }
}
