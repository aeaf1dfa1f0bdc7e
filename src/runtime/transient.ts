import { randomBytes } from "node:crypto";
import { readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { spawn, type StdioOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { RuntimeError, requireRoot } from "./errors.js";
import { containerEnv } from "./env.js";
import { inMountNamespace, isMounted, mountFailure, unmountOverlay, type OverlayDirs } from "./overlay.js";
import { Runc, exitCodeOf, runcFailure } from "./runc.js";
import { buildSpec, type MountRequest } from "./spec.js";
import { resolveUser } from "./user.js";

/** Where berth keeps runc state and bundles of transient containers unless told otherwise. */
export const DEFAULT_TRANSIENT_STATE_DIR = "/run/berth/transient";

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
  /** "host" shares the host's network namespace (a build step's default); "none" has loopback only */
  network?: "host" | "none";
  mounts?: MountRequest[];
  hostname?: string;
  stdin?: Readable | "inherit" | "ignore";
  stdout?: OutputSink;
  stderr?: OutputSink;
  /** aborting kills the container (SIGKILL) and resolves with its exit code (137) */
  signal?: AbortSignal;
  /** runc state and bundles (default /run/berth/transient) */
  stateDir?: string;
  /** the OCI runtime binary (default $BERTH_RUNTIME or runc) */
  runtime?: string;
}

export interface TransientResult {
  exitCode: number;
}

function stdioFor(sink: OutputSink | Readable | undefined): "inherit" | "ignore" | "pipe" {
  return sink === undefined || sink === "ignore" ? "ignore" : sink === "inherit" ? "inherit" : "pipe";
}

/**
 * Run one process in a throw-away container whose root is an overlay of `lowerDirs` with
 * `upperDir` on top — a build step's RUN. The upper dir keeps the changes for the caller to
 * snapshot. Cost: one process chain (unshare → sh → mount(8), then exec runc run); the mount
 * lives in a private mount namespace and disappears with runc, so there is no umount and no
 * polling.
 *
 * Throws RuntimeError when the container cannot start (127 command not found, 126 not
 * executable, 125 otherwise); a process that runs and fails resolves with its exit code.
 */
export async function runTransient(options: TransientOptions): Promise<TransientResult> {
  const stateDir = options.stateDir ?? DEFAULT_TRANSIENT_STATE_DIR;
  const id = `t${randomBytes(6).toString("hex")}`;
  const bundle = join(stateDir, "b", id);
  const rootfs = join(bundle, "rootfs");
  const logFile = join(bundle, "runc.log");
  const runc = new Runc(join(stateDir, "runc"), options.runtime);
  if (options.signal?.aborted === true) throw new RuntimeError("the step was cancelled before it started");
  requireRoot();
  try {
    const p = options.process;
    let user: { uid: number; gid: number; additionalGids?: number[] };
    let home: string | undefined;
    if (typeof p.user === "string" || p.user === undefined) {
      // read /etc/passwd and /etc/group from the layers: the rootfs is mounted only inside runc's namespace
      const resolved = await resolveUser([options.upperDir, ...options.lowerDirs], p.user);
      user = { uid: resolved.uid, gid: resolved.gid, additionalGids: resolved.additionalGids };
      home = resolved.home;
    } else user = p.user;
    const env = containerEnv({ imageEnv: p.env, ...(home !== undefined ? { home } : {}), terminal: p.terminal === true });
    const spec = buildSpec({
      rootfs: "rootfs",
      args: p.args,
      env,
      ...(p.cwd !== undefined ? { cwd: p.cwd } : {}),
      user,
      terminal: p.terminal === true,
      network: options.network ?? "host",
      ...(options.mounts !== undefined ? { mounts: options.mounts } : {}),
      ...(options.hostname !== undefined ? { hostname: options.hostname } : {}),
      cgroupsPath: `/berth/${id}`,
    });
    const chain = await inMountNamespace(options, rootfs, runc.runArgv(id, bundle, { logFile }), join(bundle, "mount.err"));
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
    const stdio: StdioOptions = [stdioFor(options.stdin), stdioFor(options.stdout), stdioFor(options.stderr)];
    const child = spawn(chain.file, chain.args, { cwd: chain.cwd, stdio });
    if (typeof options.stdin === "object") options.stdin.pipe(child.stdin as Writable);
    if (typeof options.stdout === "object") child.stdout?.pipe(options.stdout, { end: false });
    if (typeof options.stderr === "object") child.stderr?.pipe(options.stderr, { end: false });
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      void runc.kill(id, "SIGKILL", true);
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    let exitCode: number;
    try {
      exitCode = await exitCodeOf(child);
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
    if (exitCode !== 0 && !aborted) {
      if (!existsSync(logFile)) throw await mountFailure(join(bundle, "mount.err"), rootfs);
      const failure = await runcFailure(logFile);
      if (failure !== undefined) {
        await runc.delete(id).catch(() => undefined);
        throw failure;
      }
    }
    return { exitCode };
  } finally {
    await rm(bundle, { recursive: true, force: true });
  }
}

/**
 * Remove what transient containers of a killed berth process left behind in `stateDir`:
 * runc state, overlay mounts, bundles. Safe to call while other transient containers run
 * only from the process that owns `stateDir`.
 */
export async function cleanupTransient(stateDir: string = DEFAULT_TRANSIENT_STATE_DIR, runtime?: string): Promise<void> {
  const runc = new Runc(join(stateDir, "runc"), runtime);
  for (const state of await runc.list()) await runc.delete(state.id);
  const bundles = await readdir(join(stateDir, "b")).catch(() => [] as string[]);
  for (const id of bundles) {
    const rootfs = join(stateDir, "b", id, "rootfs");
    if (isMounted(rootfs)) await unmountOverlay(rootfs);
    await rm(join(stateDir, "b", id), { recursive: true, force: true });
  }
}
