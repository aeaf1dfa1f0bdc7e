import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import type { Readable, Writable } from "node:stream";
import { spawn, type StdioOptions } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { RuntimeError, requireRoot } from "./errors.js";
import { containerEnv } from "./env.js";
import { overlayXattrOptions } from "../sys/overlay-xattr.js";
import { inMountNamespace, isMounted, mountFailure, overlayOptions, supportsVolatile, unmountOverlay, type OverlayDirs } from "./overlay.js";
import { Runc, exitCodeOf, hostBinaryPath, runcFailure, sealRunc } from "./runc.js";
import type { OciMount } from "./oci-spec.js";
import { buildSpec, type MountRequest } from "./spec.js";
import { defaultCgroupns } from "./defaults.js";
import { cgroupsPathOption } from "./rootless.js";
import { hostCapabilities } from "./host-caps.js";
import { resolveUser, type ResolvedUser } from "./user.js";
import { runRoot } from "../sys/run-root.js";
import { trace } from "../sys/trace.js";
import { primeCgroupAttach } from "./cgroup-prime.js";
import { removeTree } from "../sys/remove-tree.js";
import { secretEnvWrapper } from "../sys/addon.js";
import { spawnPiped, type PipedChild } from "../sys/spawn.js";

/** Where berth keeps runc state and bundles of transient containers unless told otherwise. */
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
  user?: { uid: number; gid: number; additionalGids?: number[] } | string;
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

/** Users resolved over lower dirs (see runTransient), by lower dirs and user spec. */
const userMemo = new Map<string, ResolvedUser>();

/**
 * Run one process in a throw-away container whose root is an overlay of `lowerDirs` with
 * `upperDir` on top — a build step's RUN. The upper dir keeps the changes for the caller to
 * snapshot. runc itself mounts the overlay, as the spec's first mount (destination "/", on top
 * of the bundle's empty rootfs dir, before /proc, /dev …): one process (`runc run`) instead of
 * the chain unshare → sh → mount(8) → runc, three processes fewer per container. The mount lives in the container's mount
 * namespace and goes with it: nothing to unmount, nothing to leak when berth is SIGKILLed.
 * Another runtime, or an option string too long for the relative paths runc resolves (against
 * the rootfs dir, its init's cwd), falls back to the chain (see inMountNamespace).
 *
 * Throws RuntimeError when the container cannot start (127 command not found, 126 not
 * executable, 125 otherwise); a process that runs and fails resolves with its exit code.
 */
export async function runTransient(options: TransientOptions): Promise<TransientResult> {
  const stateDir = options.stateDir ?? defaultTransientStateDir();
  const id = `t${randomBytes(6).toString("hex")}`;
  const bundle = join(stateDir, "b", id);
  const rootfs = join(bundle, "rootfs");
  const logFile = join(bundle, "runc.log");
  const runc = new Runc(join(stateDir, "runc"), options.runtime);
  if (options.signal?.aborted === true) throw new RuntimeError("the step was cancelled before it started");
  requireRoot();
  const unprime = primeCgroupAttach();
  let secretConfig: string | undefined;
  try {
    const p = options.process;
    let user: { uid: number; gid: number; additionalGids?: number[] };
    let home: string | undefined;
    if (typeof p.user === "string" || p.user === undefined) {
      // read /etc/passwd and /etc/group from the layers: the rootfs is mounted only inside runc's
      // namespace. The upper dir of a fresh snapshot is empty, so for the same lower dirs (layer
      // dirs never change) the answer is the same: remembered, for the build's next steps.
      const memoKey = options.lowerDirs.join(":") + "\0" + (p.user ?? "");
      const fresh = readdirSync(options.upperDir).length === 0;
      let resolved = fresh ? userMemo.get(memoKey) : undefined;
      if (resolved === undefined) {
        resolved = await resolveUser([options.upperDir, ...options.lowerDirs], p.user);
        if (fresh) userMemo.set(memoKey, resolved);
      }
      user = { uid: resolved.uid, gid: resolved.gid, additionalGids: resolved.additionalGids };
      home = resolved.home;
    } else user = p.user;
    let env = containerEnv({ imageEnv: p.env, ...(home !== undefined ? { home } : {}), terminal: p.terminal === true });
    const secretEnv = options.secretEnv ?? [];
    const wrapper = secretEnv.length > 0 ? secretEnvWrapper() : undefined;
    let args = p.args;
    let mounts = options.mounts;
    if (wrapper !== undefined) {
      args = [SECRET_ENV_WRAPPER, ...p.args];
      mounts = [...(mounts ?? []), { type: "bind", source: wrapper, destination: SECRET_ENV_WRAPPER, readOnly: true }];
    } else if (secretEnv.length > 0) {
      if (options.secretEnvDir === undefined) throw new RuntimeError("secrets for the environment need a tmpfs dir to pass through (no berth-secret-env wrapper)");
      env = [...env, ...secretEnv];
    }
    let rootfsMount: OciMount | undefined;
    if (basename(runc.binary) === "runc") {
      // synchronous, as the bundle's removal: tiny calls, cheaper than thread-pool round trips
      mkdirSync(rootfs, { recursive: true });
      if (options.lowerDirs.length === 0) mkdirSync(join(bundle, "empty"));
      // ".." in the relative paths climbs real directories: resolve symlinks in the bundle's path
      rootfsMount = overlayRootMount(options, realpathSync(rootfs), join(bundle, "empty"), options.volatile === true && supportsVolatile());
    }
    const spec = buildSpec({
      rootfs: "rootfs",
      args,
      env,
      ...(p.cwd !== undefined ? { cwd: p.cwd } : {}),
      user,
      terminal: p.terminal === true,
      ...(typeof options.network === "object" ? { network: "private", netnsPath: options.network.netns } : { network: options.network ?? "host" }),
      ...(mounts !== undefined ? { mounts } : {}),
      ...(options.hostname !== undefined ? { hostname: options.hostname } : {}),
      ...(options.privileged === true ? { privileged: true, availableCapabilities: hostCapabilities() } : {}),
      ...cgroupsPathOption(id),
      cgroupns: (cgroupnsDefault ??= defaultCgroupns()),
    });
    let chain: { file: string; args: string[]; cwd?: string };
    const runArgv = runc.runArgv(id, bundle, { logFile, ...(wrapper !== undefined ? { preserveFds: 1 } : {}) });
    if (rootfsMount !== undefined) {
      spec.mounts.unshift(rootfsMount);
      const [file, ...rest] = runArgv;
      chain = { file: file as string, args: rest };
    } else chain = await inMountNamespace(options, rootfs, runArgv, join(bundle, "mount.err"), { volatile: options.volatile === true });
    if (secretEnv.length > 0 && wrapper === undefined && options.secretEnvDir !== undefined) {
      // the values are in this config: on the tmpfs, root's alone, linked from the bundle
      mkdirSync(bundle, { recursive: true });
      const config = join(options.secretEnvDir, `config-${id}.json`);
      writeFileSync(config, JSON.stringify(spec), { mode: 0o600 });
      symlinkSync(config, join(bundle, "config.json"));
      secretConfig = config;
    } else writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
    const stdio: StdioOptions = [stdioFor(options.stdin), stdioFor(options.stdout), stdioFor(options.stderr)];
    if (wrapper !== undefined) stdio.push("pipe");
    trace("transient: spawning runc");
    // a build step's shape (no stdin, output to streams, runc alone): posix_spawn through the
    // addon, as Node's spawn forks this whole process (2-4 ms of the main thread, while the
    // previous step's runc still needs the CPU)
    const piped =
      wrapper === undefined && chain.cwd === undefined && stdioFor(options.stdin) === "ignore" && typeof options.stdout === "object" && typeof options.stderr === "object"
        ? spawnRuntime(chain.file, runc.binary, chain.args)
        : undefined;
    let exited: Promise<number>;
    if (piped !== undefined) {
      piped.stdout.pipe(options.stdout as Writable, { end: false });
      piped.stderr.pipe(options.stderr as Writable, { end: false });
      exited = piped.exitCode;
    } else {
      const child = spawn(chain.file, chain.args, { ...(chain.cwd !== undefined ? { cwd: chain.cwd } : {}), stdio, argv0: runc.binary });
      if (typeof options.stdin === "object") options.stdin.pipe(child.stdin as Writable);
      if (typeof options.stdout === "object") child.stdout?.pipe(options.stdout, { end: false });
      if (typeof options.stderr === "object") child.stderr?.pipe(options.stderr, { end: false });
      exited = exitCodeOf(child);
      if (wrapper !== undefined) {
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
    let exitCode: number;
    try {
      exitCode = await exited;
      trace("transient: runc exited");
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
    if (exitCode !== 0 && !aborted) {
      if (rootfsMount === undefined && !existsSync(logFile)) throw await mountFailure(join(bundle, "mount.err"), rootfs);
      const failure = await runcFailure(logFile);
      if (failure !== undefined) {
        await runc.delete(id).catch(() => undefined);
        // runc's own overlay mount failed: the message says "no such file or directory" about
        // a layer, not a command — 125, as the mount(8) chain reports it
        if (rootfsMount !== undefined && /error mounting "overlay" to rootfs at "\/"/.test(failure.message)) {
          throw new RuntimeError(`mounting the container's root file system on ${rootfs} failed: ${failure.message}`);
        }
        throw failure;
      }
    }
    return { exitCode };
  } finally {
    unprime();
    if (secretConfig !== undefined) rmSync(secretConfig, { force: true });
    // a handful of small files and empty dirs: the addon's one job when the caller waits for it
    // later, else synchronous (cheaper than fs.rm's thread-pool round trips)
    if (options.deferCleanup !== undefined) options.deferCleanup(removeTree(bundle).catch(() => undefined));
    else rmSync(bundle, { recursive: true, force: true });
  }
}

/**
 * The overlay as an OCI mount on "/" for runc, or undefined when its option string would not
 * fit in a page. runc's init mounts it with the rootfs dir as its cwd, so each path is given
 * relative to that dir when that is shorter than the absolute one. FROM scratch (no lower
 * layer) gets an empty dir in the bundle, since overlayfs needs one.
 */
function overlayRootMount(dirs: OverlayDirs, rootfs: string, emptyDir: string, volatile: boolean): OciMount | undefined {
  const lowerDirs = dirs.lowerDirs.length === 0 ? [emptyDir] : dirs.lowerDirs;
  // overlayOptions checks the paths (absolute, no ',' or ':') and the length limit
  overlayOptions({ lowerDirs, upperDir: dirs.upperDir, workDir: dirs.workDir });
  const short = (p: string): string => {
    const r = relative(rootfs, p);
    return r.length < p.length ? r : p;
  };
  const data = `lowerdir=${lowerDirs.map(short).join(":")},upperdir=${short(dirs.upperDir)},workdir=${short(dirs.workDir)}${volatile ? ",volatile" : ""}`;
  if (data.length > MAX_ROOT_MOUNT_OPTIONS) return undefined;
  return { destination: "/", type: "overlay", source: "overlay", options: [...overlayXattrOptions(), ...data.split(",")] };
}

/** A page of mount data, less a margin (as overlay.ts). */
const MAX_ROOT_MOUNT_OPTIONS = 4000;

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
