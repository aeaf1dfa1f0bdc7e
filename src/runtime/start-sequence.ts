import { existsSync, mkdirSync, readdirSync, realpathSync, writeFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { RuntimeError } from "./errors.js";
import { containerEnv } from "./env.js";
import { hostCapabilities } from "./host-caps.js";
import type { OciMount, OciSpec, OciUser } from "./oci-spec.js";
import { inMountNamespace, mountFailure, overlayDriver, overlayOptions, supportsVolatile, type OverlayDirs } from "./overlay.js";
import { runcFailure, type Runc } from "./runc.js";
import { buildSpec, type SpecOptions } from "./spec.js";
import { resolveUser, type ResolvedUser } from "./user.js";
import { primeCgroupAttach } from "./cgroup-prime.js";
import { cgroupsPathOption } from "./rootless.js";
import { overlayXattrOptions } from "../sys/overlay-xattr.js";
import { trace } from "../sys/trace.js";

/** A bundle's rootfs dir (the overlay's mount point) and runc's log in it. */
export const ROOTFS = "rootfs";
export const RUNC_LOG = "runc.log";

/** Numeric ids, or `user[:group]` resolved against the container's /etc/passwd and /etc/group. */
export type StartUser = { uid: number; gid: number; additionalGids?: number[] } | string;

/** The command that starts runc: runc itself, or the chain that mounts the root first (see inMountNamespace). */
export interface RuntimeCommand {
  file: string;
  args: string[];
  cwd?: string;
}

/** What a profile adds once the user and the environment are known. */
export interface Prepared {
  /** spec fields beyond the process's (network, mounts, confinement, limits, hooks …); args or env here replace the process's */
  spec: Partial<SpecOptions>;
  /** lower dirs stacked above the layers in the mount only (a container's init layer) */
  lowerDirsAbove?: string[];
  /** runc's --preserve-fds: fds after stdio handed on to the container's process */
  preserveFds?: number;
}

/** runc, as a profile launched it. */
export interface Launched {
  /** runc's exit code: the container's, or runc's own when it failed to start it */
  exited: Promise<number>;
  /** after the wait, whatever its outcome (listeners off, a log closed) */
  done?: () => void | Promise<void>;
  /** whether the profile killed the container on purpose (its exit code is then the answer, runc's log not read) */
  killed?: () => boolean;
}

/**
 * What differs between the two kinds of container start: a build step (`runTransient`) and a
 * supervised container (`superviseContainer`). Everything else is the sequence's.
 */
export interface StartProfile {
  id: string;
  runc: Runc;
  /** the bundle dir: config.json, runc.log, rootfs/ (and the chain's mount.err) */
  bundle: string;
  /** the container's layers (its user is looked up in them) with the overlay's upper and work dirs */
  overlay: OverlayDirs;
  process: {
    args: string[];
    /** the image's (or the step's) environment: containerEnv adds Docker's defaults */
    env: string[];
    cwd?: string;
    user?: StartUser;
    terminal: boolean;
    hostname?: string;
    /** HOSTNAME in the environment, as a Docker container has it (a build step has none, as BuildKit's) */
    hostnameVariable?: boolean;
  };
  /**
   * Let runc mount the overlay itself, as the spec's first mount (destination "/", on top of
   * the bundle's empty rootfs dir): one process (`runc run`) instead of the chain unshare → sh →
   * mount(8) → runc. Only where the runtime is runc, the overlay the kernel's (not fuse-overlayfs:
   * overlayDriver) and the option string fits; otherwise, and
   * always without this, the chain (inMountNamespace), which a supervised container needs for
   * its `finish`.
   */
  rootInSpec?: boolean;
  /** mount the overlay `volatile` (Linux 5.10+): its unmount does not sync the upper dir's file system */
  volatile: boolean;
  /** the chain's finisher, for a container that outlives its holder (see inMountNamespace) */
  finish?: string[];
  /** runc's --pid-file */
  pidFile?: string;
  /** runc's argv inside another command (a -t container's `script`, which gives runc a terminal) */
  wrapRuntime?: (runArgv: string[]) => string[];
  /** the profile's own preparation (network, mounts, checks), once the user and environment are known */
  prepare(start: { env: string[] }): Prepared | Promise<Prepared>;
  /** writes config.json somewhere else (default: into the bundle) */
  writeConfig?: (spec: OciSpec) => void;
  /** starts `command` with runc's binary as argv0 and wires its output; who waits, and how, is the profile's */
  launch(command: RuntimeCommand): Launched | Promise<Launched>;
}

/** Users resolved over layers, by lower dirs and user spec (see resolveStartUser). */
const userMemo = new Map<string, ResolvedUser>();

/**
 * The user, and the home dir its name gives: numeric ids as they are, a name from the layers
 * (the rootfs is mounted only inside runc's namespace). The upper dir of a fresh snapshot is
 * empty, so for the same lower dirs (layer dirs never change) the answer is the same:
 * remembered, for a build's next steps.
 */
async function resolveStartUser(overlay: OverlayDirs, user: StartUser | undefined): Promise<{ user: OciUser; home?: string }> {
  if (typeof user === "object") return { user };
  const memoKey = overlay.lowerDirs.join(":") + "\0" + (user ?? "");
  const fresh = readdirSync(overlay.upperDir).length === 0;
  let resolved = fresh ? userMemo.get(memoKey) : undefined;
  if (resolved === undefined) {
    resolved = await resolveUser([overlay.upperDir, ...overlay.lowerDirs], user);
    if (fresh) userMemo.set(memoKey, resolved);
  }
  return { user: { uid: resolved.uid, gid: resolved.gid, additionalGids: resolved.additionalGids }, home: resolved.home };
}

/**
 * Start one container and wait for it: prime the cgroup attach, resolve the user, make the
 * environment, let the profile prepare, build the spec, mount the root (in the spec or through
 * the chain), write config.json, let the profile launch runc, wait, and read runc's log when it
 * failed. Resolves with the exit code; throws RuntimeError when the container could not start
 * (127 command not found, 126 not executable, 125 otherwise).
 */
export async function runStartSequence(profile: StartProfile): Promise<number> {
  const { id, runc, bundle, overlay } = profile;
  const rootfs = join(bundle, ROOTFS);
  const logFile = join(bundle, RUNC_LOG);
  const mountErr = join(bundle, "mount.err");
  const unprime = primeCgroupAttach();
  try {
    const p = profile.process;
    const { user, home } = await resolveStartUser(overlay, p.user);
    const env = containerEnv({
      imageEnv: p.env,
      ...(p.hostnameVariable === true && p.hostname !== undefined ? { hostname: p.hostname } : {}),
      ...(home !== undefined ? { home } : {}),
      terminal: p.terminal,
    });
    const prepared = await profile.prepare({ env });
    trace("start: prepared");
    const mounted: OverlayDirs = prepared.lowerDirsAbove === undefined ? overlay : { ...overlay, lowerDirs: [...prepared.lowerDirsAbove, ...overlay.lowerDirs] };
    let rootMount: OciMount | undefined;
    if (profile.rootInSpec === true && basename(runc.binary) === "runc" && overlayDriver() === "kernel") {
      // synchronous: tiny calls, cheaper than thread-pool round trips
      mkdirSync(rootfs, { recursive: true });
      if (mounted.lowerDirs.length === 0) mkdirSync(join(bundle, "empty"));
      // ".." in the relative paths climbs real directories: resolve symlinks in the bundle's path
      rootMount = overlayRootMount(mounted, realpathSync(rootfs), join(bundle, "empty"), profile.volatile && supportsVolatile());
    }
    const extra = prepared.spec;
    const spec = buildSpec({
      rootfs: ROOTFS,
      args: p.args,
      env,
      ...(p.cwd !== undefined ? { cwd: p.cwd } : {}),
      user,
      terminal: p.terminal,
      ...(p.hostname !== undefined ? { hostname: p.hostname } : {}),
      ...cgroupsPathOption(id),
      ...(extra.privileged === true || extra.capAdd?.some((c) => c.toUpperCase() === "ALL") === true ? { availableCapabilities: hostCapabilities() } : {}),
      ...extra,
    });
    const runArgv = runc.runArgv(id, bundle, {
      logFile,
      ...(profile.pidFile !== undefined ? { pidFile: profile.pidFile } : {}),
      ...(prepared.preserveFds !== undefined ? { preserveFds: prepared.preserveFds } : {}),
    });
    const runtimeArgv = profile.wrapRuntime?.(runArgv) ?? runArgv;
    let command: RuntimeCommand;
    if (rootMount !== undefined) {
      spec.mounts.unshift(rootMount);
      const [file, ...args] = runtimeArgv;
      command = { file: file as string, args };
    } else {
      command = await inMountNamespace(mounted, rootfs, runtimeArgv, mountErr, { volatile: profile.volatile, ...(profile.finish !== undefined ? { finish: profile.finish } : {}) });
    }
    if (profile.writeConfig !== undefined) profile.writeConfig(spec);
    else writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
    trace("start: spec written");
    const launched = await profile.launch(command);
    let exitCode: number;
    try {
      exitCode = await launched.exited;
      trace("start: runc exited");
    } finally {
      await launched.done?.();
    }
    if (exitCode !== 0 && launched.killed?.() !== true) {
      if (rootMount === undefined && !existsSync(logFile)) throw await mountFailure(mountErr, rootfs);
      const failure = await runcFailure(logFile, id);
      if (failure !== undefined) {
        await runc.delete(id).catch(() => undefined);
        // runc's own overlay mount failed: the message says "no such file or directory" about
        // a layer, not a command — 125, as the mount(8) chain reports it
        if (rootMount !== undefined && /error mounting "overlay" to rootfs at "\/"/.test(failure.message)) {
          throw new RuntimeError(`mounting the container's root file system on ${rootfs} failed: ${failure.message}`);
        }
        throw failure;
      }
    }
    return exitCode;
  } finally {
    unprime();
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
