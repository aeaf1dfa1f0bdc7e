import { closeSync, constants, lstatSync, openSync, readlinkSync, type Stats } from "node:fs";
import { posix } from "node:path";
import { openat2InRoot } from "../sys/open-in-root.js";

/**
 * Paths inside a container's root, resolved as the container sees them and never outside it:
 * an absolute symlink restarts at the root, ".." stops there, and a symlink swapped in by a
 * process of the container while berth walks cannot lead berth onto the host.
 *
 * The root is a directory fd (`/proc/<pid>/root` of a running container, the overlay of a
 * stopped one: see container/copy.ts). With the addon, one openat2(2) with RESOLVE_IN_ROOT
 * resolves a path (the kernel does what a chroot would). Without it (BERTH_NO_NATIVE=1, a
 * kernel before 5.6, a seccomp filter that refuses openat2) the same walk is done here, one
 * component at a time: each directory is held as an fd, the next component is looked up in it
 * through `/proc/self/fd/<fd>/<name>` (the kernel jumps to the fd's own directory, no path is
 * walked again), opened with O_NOFOLLOW, and symlinks are read and resolved by this code.
 *
 * Entries are then made or read relative to a held directory fd (`at(fd, name)`), never by a
 * path from the host's root.
 */

/** A path that names `name` inside the directory held by `dirFd` (no symlink followed there, with O_NOFOLLOW or lstat). */
export function at(dirFd: number, name: string): string {
  return name === "" || name === "." ? `/proc/self/fd/${dirFd}` : `/proc/self/fd/${dirFd}/${name}`;
}

const MAX_LINKS = 40;

function errnoError(code: string, path: string, message: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: ${message}, ${path}`);
  e.code = code;
  e.path = path;
  return e;
}

/** Whether openat2 is worth trying: false once it failed as unsupported (ENOSYS, EPERM from seccomp). */

/**
 * Opens `path` (a path inside the root; relative ones start at the root too) with `flags`
 * (O_RDONLY | O_DIRECTORY …). Every component is followed inside the root, the last one too
 * unless `flags` has O_NOFOLLOW (then a symlink there fails with ELOOP). The caller closes the fd.
 */
export function openInRoot(rootFd: number, path: string, flags: number, mode = 0o644): number {
  return openat2InRoot(rootFd, path, flags, mode) ?? walkInRoot(rootFd, path, flags, mode);
}

/** openInRoot without the addon: the component walk described above. */
export function walkInRoot(rootFd: number, path: string, flags: number, mode = 0o644): number {
  const followLast = (flags & constants.O_NOFOLLOW) === 0;
  const pending = path.split("/").filter((c) => c !== "" && c !== ".");
  // the directories walked so far, as fds (the root is the caller's: never closed here)
  const stack: number[] = [rootFd];
  const top = () => stack[stack.length - 1] as number;
  const popTo = (depth: number) => {
    while (stack.length > depth) closeSync(stack.pop() as number);
  };
  let links = 0;
  try {
    while (pending.length > 0) {
      const name = pending.shift() as string;
      if (name === "..") {
        if (stack.length > 1) popTo(stack.length - 1);
        continue;
      }
      const last = pending.length === 0;
      const here = at(top(), name);
      let st: Stats;
      try {
        st = lstatSync(here);
      } catch (err) {
        if (last && (flags & constants.O_CREAT) !== 0 && (err as NodeJS.ErrnoException).code === "ENOENT") {
          return openSync(here, flags | constants.O_NOFOLLOW | constants.O_EXCL, mode);
        }
        throw err;
      }
      if (st.isSymbolicLink() && (!last || followLast)) {
        if (++links > MAX_LINKS) throw errnoError("ELOOP", path, "too many levels of symbolic links");
        const target = readlinkSync(here);
        if (target.startsWith("/")) popTo(1);
        pending.unshift(...target.split("/").filter((c) => c !== "" && c !== "."));
        continue;
      }
      if (last) {
        if (st.isSymbolicLink()) throw errnoError("ELOOP", path, "the last component is a symbolic link");
        try {
          return openSync(here, flags | constants.O_NOFOLLOW, mode);
        } catch (err) {
          // swapped for a symlink since the lstat: look again
          if ((err as NodeJS.ErrnoException).code === "ELOOP" && ++links <= MAX_LINKS) {
            pending.unshift(name);
            continue;
          }
          throw err;
        }
      }
      if (!st.isDirectory()) throw errnoError("ENOTDIR", path, "not a directory");
      try {
        stack.push(openSync(here, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ELOOP" && ++links <= MAX_LINKS) {
          pending.unshift(name);
          continue;
        }
        throw err;
      }
    }
    // the path named the root itself (or climbed back to it): a new fd on the directory held last
    return openSync(at(top(), "."), flags & ~constants.O_NOFOLLOW, mode);
  } finally {
    popTo(1);
  }
}

/** A directory inside the root, followed all the way, as an fd. */
export function openDirInRoot(rootFd: number, path: string): number {
  return openInRoot(rootFd, path, constants.O_RDONLY | constants.O_DIRECTORY);
}

/** lstat of `name` in the directory `dirFd`, or undefined when it does not exist. */
export function lstatAt(dirFd: number, name: string): Stats | undefined {
  try {
    return lstatSync(at(dirFd, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Splits a path inside the root into its parent and last name; the parent opened as a
 * directory fd (followed), the name left alone (the caller decides whether to follow it).
 * A path naming the root gives the root's own fd again and name ".".
 */
export function openParentInRoot(rootFd: number, path: string): { dirFd: number; name: string } {
  const clean = posix.normalize(`/${path}`);
  if (clean === "/") return { dirFd: openDirInRoot(rootFd, "/"), name: "." };
  const trimmed = clean.endsWith("/") ? clean.slice(0, -1) : clean;
  const name = posix.basename(trimmed);
  return { dirFd: openDirInRoot(rootFd, posix.dirname(trimmed)), name };
}
