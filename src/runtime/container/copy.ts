import { spawn } from "node:child_process";
import { closeSync, constants, openSync, readlinkSync, statSync, type Stats } from "node:fs";
import { basename, dirname, join, posix, resolve as resolveHost } from "node:path";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { RuntimeError } from "../errors.js";
import { lstatAt, openInRoot, openParentInRoot, at } from "../in-root.js";
import { inMountNamespace, isMounted, mountFailure } from "../overlay.js";
import { ROOTFS, ROOTFS_LOCK, type RuntimeContext } from "./context.js";
import { extractInto, isDirInRoot, packTree, type PackRoot } from "./copy-tar.js";
import { findContainer } from "./lookup.js";
import { readRecord, type ContainerRecord } from "./record.js";
import { acquireFlock, type HeldLock } from "../../sys/flock.js";

export interface CopyOptions {
  /** -L: follow a symlink named by the source (Docker's --follow-link) */
  followLink?: boolean;
  /** the tar stream of `cp - CTR:PATH` (default: process.stdin) */
  stdin?: Readable;
  /** where `cp CTR:PATH -` writes its tar stream (default: process.stdout) */
  stdout?: Writable;
}

/** A container's root as a directory fd, held until `close`. */
interface OpenRoot {
  fd: number;
  close(): void;
}

/**
 * The root of a container as a directory fd. A running container's is its init's
 * `/proc/<pid>/root` (its mounts, as it sees them). A stopped one's overlay is mounted in a
 * private mount namespace by a helper process (`unshare -m`, as containers start), opened
 * through the helper's /proc entry, and the helper ends at once: the fd keeps the detached
 * overlay alive until it is closed, and nothing is ever mounted in the host's namespace, so a
 * SIGKILLed `cp` leaves no mount behind. Reading, the mount is read-only (any number may exist,
 * beside a writer); writing, it is writable and the container's ROOTFS_LOCK is held until
 * `close`, so `start` or another `cp` in waits for it.
 */
async function openContainerRoot(ctx: RuntimeContext, dir: string, found: ContainerRecord, mode: "read" | "write"): Promise<OpenRoot> {
  const direct = (path: string, release?: HeldLock): OpenRoot => {
    const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
    return { fd, close: () => { closeSync(fd); void release?.release(); } };
  };
  const lock = mode === "write" ? await acquireFlock(join(dir, ROOTFS_LOCK)) : undefined;
  try {
    const record = lock !== undefined ? await readRecord(dir) : found; // as it is now that nobody starts it
    const pid = await runningPid(ctx, dir, record);
    if (pid !== undefined) {
      await lock?.release();
      return direct(`/proc/${pid}/root`);
    }
    return await mountPrivately(dir, record, mode, lock);
  } catch (err) {
    await lock?.release();
    throw err;
  }
}

/** The container's overlay (its image's layers and its own writes) mounted in a private mount namespace: see openContainerRoot. */
async function mountPrivately(dir: string, record: ContainerRecord, mode: "read" | "write", lock?: HeldLock): Promise<OpenRoot> {
  const direct = (path: string): OpenRoot => {
    const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
    return { fd, close: () => { closeSync(fd); void lock?.release(); } };
  };
  const rootfs = join(dir, ROOTFS);
  if (isMounted(rootfs)) return direct(rootfs); // mounted by an older berth
  const errFile = join(dir, "cp-mount.err");
  const chain = await inMountNamespace(record.snapshot, rootfs, ["sh", "-c", "echo ready; read _"], errFile, { readOnly: mode === "read" });
  const helper = spawn(chain.file, chain.args, { cwd: chain.cwd, stdio: ["pipe", "pipe", "ignore"] });
  try {
    const ready = await new Promise<boolean>((resolve, reject) => {
      helper.once("error", reject);
      helper.stdout.once("data", () => resolve(true));
      helper.once("exit", () => resolve(false));
    });
    if (!ready) throw await mountFailure(errFile, rootfs);
    return direct(`/proc/${helper.pid}/root${rootfs}`);
  } finally {
    helper.stdin.end();
  }
}

/**
 * `berth export`: the container's file system as one tar, as `docker export` makes it: the
 * merged view of its image's layers and its writes (no whiteouts), without its volumes, bind
 * mounts or /proc — a read-only overlay of its own, whether the container runs or not.
 */
export async function exportContainer(ctx: RuntimeContext, ref: string, out: Writable): Promise<void> {
  const { dir, record } = await findContainer(ctx, ref);
  const root = await mountPrivately(dir, record, "read");
  try {
    await pipeline(packTree({ fd: root.fd, stat: statSync(at(root.fd, ".")) }, ".", { omitTop: true }), out);
  } finally {
    root.close();
  }
}

/**
 * A running container's init pid; undefined when nothing runs on its root. Between `start` writing
 * "running" and runc creating the container there is no pid yet: wait for it (or the end).
 */
async function runningPid(ctx: RuntimeContext, dir: string, record: ContainerRecord): Promise<number | undefined> {
  for (let i = 0; record.state === "running" && i < 100; i++) {
    const pid = record.pid?.pid ?? (await ctx.runc.state(record.id))?.pid;
    if (pid !== undefined && pid > 0) return pid;
    await sleep(20);
    record = await readRecord(dir);
  }
  return undefined; // runc has no such container: nothing runs on its root
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** The source of a copy out of a root: followed (an fd) or not (its directory and name). Undefined when missing. */
function openSource(rootFd: number, path: string, follow: boolean): (PackRoot & { close(): void }) | undefined {
  try {
    if (follow) {
      const fd = openInRoot(rootFd, path, constants.O_RDONLY | constants.O_NONBLOCK);
      const stat = statSync(at(fd, "."));
      return { fd, stat, close: () => closeSync(fd) };
    }
    const { dirFd, name } = openParentInRoot(rootFd, path);
    const stat = lstatAt(dirFd, name);
    if (stat === undefined) {
      closeSync(dirFd);
      return undefined;
    }
    if (!stat.isSymbolicLink()) {
      closeSync(dirFd);
      return openSource(rootFd, path, true);
    }
    return { dirFd, name, stat, close: () => closeSync(dirFd) };
  } catch (err) {
    if (errCode(err) === "ENOENT" || errCode(err) === "ENOTDIR") return undefined;
    throw err;
  }
}

/**
 * Where a copy into a root lands, as Docker's cp decides it: a symlink named by the
 * destination is followed (inside the root, each step); then the final path and what is there.
 */
function resolveDestination(rootFd: number, path: string): { path: string; stat: Stats | undefined } | undefined {
  let current = posix.normalize(path);
  for (let links = 0; links <= 40; links++) {
    let parent: { dirFd: number; name: string };
    try {
      parent = openParentInRoot(rootFd, current);
    } catch (err) {
      if (errCode(err) === "ENOENT" || errCode(err) === "ENOTDIR") return undefined;
      throw err;
    }
    try {
      const stat = lstatAt(parent.dirFd, parent.name);
      if (stat?.isSymbolicLink() !== true) return { path: current, stat };
      const target = readlinkAt(parent.dirFd, parent.name);
      current = posix.normalize(target.startsWith("/") ? target : posix.join(posix.dirname(current), target));
    } finally {
      closeSync(parent.dirFd);
    }
  }
  throw new RuntimeError(`${path}: too many levels of symbolic links`);
}

function readlinkAt(dirFd: number, name: string): string {
  return readlinkSync(at(dirFd, name));
}

/** The host's root as a root fd: host paths resolve as usual, through the same code. */
function openHostRoot(): OpenRoot {
  const fd = openSync("/", constants.O_RDONLY | constants.O_DIRECTORY);
  return { fd, close: () => closeSync(fd) };
}

/** The name a copied tree gets at its destination, Docker's way: `x/.` copies x's content. */
function entryName(path: string): string {
  if (path.endsWith("/.")) return ".";
  const base = posix.basename(posix.normalize(path));
  return base === "" || base === "/" ? "." : base;
}

/**
 * `berth cp`: copy between a container (running or not) and the host, as `docker cp` does,
 * through tar streams both ways; `-` as the host side is a tar stream on stdin or stdout.
 * Every path inside the container is resolved inside its root, the last component too
 * (runtime/in-root.ts): a symlink planted in the container never leads onto the host.
 */
export async function copyFiles(ctx: RuntimeContext, src: string, dest: string, options: CopyOptions = {}): Promise<void> {
  const split = (s: string) => {
    const colon = s.indexOf(":");
    return colon > 0 && !s.startsWith("/") && !s.startsWith(".") ? { container: s.slice(0, colon), path: s.slice(colon + 1) } : undefined;
  };
  const from = split(src);
  const to = split(dest);
  if ((from === undefined) === (to === undefined)) throw new RuntimeError("copying between containers or between host paths is not supported: name one side as CONTAINER:PATH");
  const side = (from ?? to) as { container: string; path: string };
  const { dir, record } = await findContainer(ctx, side.container);
  const ctrPath = posix.isAbsolute(side.path) ? side.path : posix.join(record.config.cwd || "/", side.path);
  const root = await openContainerRoot(ctx, dir, record, from !== undefined ? "read" : "write");
  try {
    if (from !== undefined) await copyOut(root.fd, ctrPath, side, dest, options);
    else await copyIn(root.fd, ctrPath, side, src, options);
  } finally {
    root.close();
  }
}

async function copyOut(rootFd: number, ctrPath: string, side: { container: string; path: string }, dest: string, options: CopyOptions): Promise<void> {
  const follow = options.followLink === true || side.path.endsWith("/") || side.path.endsWith("/.");
  const source = openSource(rootFd, ctrPath, follow);
  if (source === undefined) throw new RuntimeError(`Could not find the file ${side.path} in container ${side.container}`);
  try {
    const srcIsDir = source.stat.isDirectory();
    if (dest === "-") {
      await pipeline(packTree(source, entryName(side.path)), options.stdout ?? process.stdout, { end: options.stdout !== undefined });
      return;
    }
    const hostDest = resolveHost(dest);
    let destStat: Stats | undefined;
    try {
      destStat = statSync(hostDest);
    } catch {
      destStat = undefined;
    }
    let into: string;
    let name: string;
    if (destStat?.isDirectory() === true) {
      into = hostDest;
      name = srcIsDir && side.path.endsWith("/.") ? "." : entryName(side.path);
    } else {
      if (destStat !== undefined && srcIsDir) throw new RuntimeError(`cannot copy directory to file ${dest}`);
      if (destStat === undefined && dest.endsWith("/") && !srcIsDir) throw new RuntimeError(`no such directory: ${dest}`);
      into = dirname(hostDest);
      name = basename(hostDest);
      if (statSync(into, { throwIfNoEntry: false })?.isDirectory() !== true) throw new RuntimeError(`no such directory: ${into}`);
    }
    const host = openHostRoot();
    try {
      await extractInto(host.fd, into, packTree(source, name), { noOverwriteDirNonDir: false });
    } finally {
      host.close();
    }
  } finally {
    source.close();
  }
}

async function copyIn(rootFd: number, ctrPath: string, side: { container: string; path: string }, src: string, options: CopyOptions): Promise<void> {
  if (src === "-") {
    // Docker: the stream is extracted into the destination, which must be a directory
    const target = resolveDestination(rootFd, ctrPath);
    if (target?.stat === undefined) throw new RuntimeError(`Could not find the file ${side.path} in container ${side.container}`);
    if (!isDirInRoot(rootFd, target.path)) throw new RuntimeError(`destination "${side.container}:${side.path}" must be a directory`);
    await extractInto(rootFd, target.path, options.stdin ?? process.stdin, { noOverwriteDirNonDir: true });
    return;
  }
  const host = openHostRoot();
  const hostSrc = resolveHost(src);
  const source = openSource(host.fd, hostSrc, options.followLink === true || src.endsWith("/") || src.endsWith("/."));
  try {
    if (source === undefined) throw new RuntimeError(`could not find the file ${src} on the host`);
    const srcIsDir = source.stat.isDirectory();
    const target = resolveDestination(rootFd, ctrPath);
    if (target === undefined) throw new RuntimeError(`Could not find the file ${posix.dirname(ctrPath)} in container ${side.container}`);
    let into: string;
    let name: string;
    if (target.stat?.isDirectory() === true) {
      into = target.path;
      name = srcIsDir && src.endsWith("/.") ? "." : entryName(src);
    } else {
      if (target.stat !== undefined && srcIsDir) throw new RuntimeError(`cannot copy directory to file ${side.container}:${side.path}`);
      if (target.stat === undefined && side.path.endsWith("/")) throw new RuntimeError(`Could not find the file ${side.path} in container ${side.container}`);
      into = posix.dirname(target.path);
      name = posix.basename(target.path);
    }
    await extractInto(rootFd, into, packTree(source, name), { noOverwriteDirNonDir: true });
  } finally {
    source?.close();
    host.close();
  }
}
