import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/**
 * berth's own N-API addon (native/berth_native.c, built by `npm install`:
 * scripts/build-native.mjs): the system calls Node lacks. Only src/sys/ calls it: one file per
 * capability (flock, syncfs, xattr, lstat, directory listing, tree removal, spawn, sealed runc,
 * mknod, openat2, exit), each with its one fallback beside it, which runs where the addon could
 * not be built, is of another version, or with BERTH_NO_NATIVE=1 (`npm run test:fallbacks`).
 * The helper binaries built beside it (berth-secret-env, berth-netplug) are found here too.
 */
export interface BerthNative {
  /** syncfs(2) of the file system holding `path`, on libuv's thread pool. */
  syncfs(path: string): Promise<void>;
  /** flock(fd, LOCK_EX or LOCK_SH | LOCK_NB): true when taken, false when held elsewhere. */
  tryFlock(fd: number, exclusive: boolean): boolean;
  /** llistxattr(2): a path's attribute names (a symlink's own). */
  listAttributesSync(path: string): string[];
  /** lgetxattr(2): the value, or null when the attribute is not set. */
  getAttributeSync(path: string, name: string): Buffer | null;
  /** lsetxattr(2). */
  setAttributeSync(path: string, name: string, value: Uint8Array | string): void;
  /**
   * A directory's entry names (no "." or "..") and their lstat: STAT_DIR_FIELDS numbers per
   * name — dev, mode, nlink, uid, gid, rdev, ino, size, mtimeMs, ctimeMs; mode 0 for an entry
   * removed meanwhile.
   */
  statDir(path: string): [string[], Float64Array];
  /** lstat(2) of one path into `out` (STAT_DIR_FIELDS numbers, as statDir's); false when nothing is there. */
  lstat(path: string, out: Float64Array): boolean;
  /** statDir on libuv's thread pool. */
  statDirAsync(path: string): Promise<[string[], Float64Array]>;
  /** `rm -rf` on libuv's thread pool (symlinks removed, not followed; a missing path is fine). */
  removeTree(path: string): Promise<void>;
  /** The file copied into a memfd with runc's seals (close-on-exec), on the thread pool: its fd. */
  sealedCopy(path: string): Promise<number>;
  /** posix_spawn of `file` with `argv`, stdin /dev/null: [pid, stdout fd, stderr fd, exit code]. */
  spawnPiped(file: string, argv: string[]): [number, number, number, Promise<number>];
  /**
   * openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: `path` resolved inside `rootFd`
   * as a chroot would (see runtime/in-root.ts); the fd (close-on-exec). Throws Node-shaped
   * errno errors (ENOSYS before Linux 5.6).
   */
  openInRoot(rootFd: number, path: string, flags: number, mode?: number): number;
  /** mknod(2) with a full st_mode (S_IFCHR | perm …) and a device number (0 for a whiteout). */
  mknodSync(path: string, mode: number, dev: number): void;
  /** _exit(2): ends the process without Node's teardown (bin/berth, once the loop has drained). */
  exitNow(code: number): never;
}

export const STAT_DIR_FIELDS = 10;

/**
 * The addon's interface version (BERTH_NATIVE_ABI in native/berth_native.c). A build of another
 * version (a checkout updated without `npm run setup`) is not used at all: berth runs on its
 * fallbacks, as without the addon, rather than calling functions that are missing or changed.
 */
export const BERTH_NATIVE_ABI = 2;

let loaded: BerthNative | null | undefined;

/** The addon, loaded at first use; null when it is not built, is of another version, or with BERTH_NO_NATIVE=1. */
export function berthNative(): BerthNative | null {
  if (loaded === undefined) {
    loaded = null;
    if (process.env.BERTH_NO_NATIVE !== "1") {
      // native/ at the package root: two levels up from src/sys/, dist/sys/ and dist/bundle/
      for (const rel of ["../../native/build/Release/berth_native.node", "../native/build/Release/berth_native.node"]) {
        const path = fileURLToPath(new URL(rel, import.meta.url));
        if (!existsSync(path)) continue;
        try {
          const mod = createRequire(import.meta.url)(path) as BerthNative & { abi?: number };
          loaded = mod.abi === BERTH_NATIVE_ABI ? mod : null;
        } catch {
          loaded = null;
        }
        break;
      }
    }
  }
  return loaded;
}

/** A helper binary built beside the addon (native/build/Release), or undefined: not built, or BERTH_NO_NATIVE=1. */
function helperBinary(name: string): string | undefined {
  if (process.env.BERTH_NO_NATIVE === "1") return undefined;
  for (const rel of [`../../native/build/Release/${name}`, `../native/build/Release/${name}`]) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  return undefined;
}

/**
 * The host path of berth-secret-env (native/secret-env.c), the wrapper that passes env secrets
 * to a step's command through an fd; without it they go through config.json on a tmpfs
 * (builder/run/execute.ts).
 */
export function secretEnvWrapper(): string | undefined {
  return helperBinary("berth-secret-env");
}

/**
 * The host path of berth-netplug (native/netplug.c): plugs a container into its bridge networks
 * with netlink calls in one process, as the createRuntime hook or for a running container;
 * without it a shell hook with nsenter and ip does it (runtime/network/attach.ts).
 */
export function netplugHelper(): string | undefined {
  return helperBinary("berth-netplug");
}

/**
 * The host path of berth-chroot (native/chroot.c), which runs a RUN step of `berth build
 * --isolation chroot` chrooted with the job's own privileges; without it coreutils' chroot(8)
 * does (runtime/chroot.ts).
 */
export function chrootHelper(): string | undefined {
  return helperBinary("berth-chroot");
}

/** Whether the addon is in use (for `berth info`): false means every fallback runs. */
export function addonLoaded(): boolean {
  return berthNative() !== null;
}
