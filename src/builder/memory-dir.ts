import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostUid } from "../sys/host-uid.js";
import { removeTree } from "../sys/remove-tree.js";
import { pidAlive } from "../store/check.js";

/**
 * A build's directory in memory: the files of `--secret`s while a RUN has them mounted, and the
 * context's whiteout layer (context-view.ts). It lives on a tmpfs, never on a disk: /run is
 * one on most systems but not on all (on some VMs it is a disk, where a mknod costs 0.3 ms),
 * so the first tmpfs of /dev/shm, $XDG_RUNTIME_DIR and /run is taken. Named after the build's
 * state dir, with an `owner` file (the build's pid): the build removes it at its end, and a
 * later build sweeps those whose owner is gone (SIGKILL, crash), as it sweeps state dirs.
 */
const TMPFS_MAGIC = 0x01021994;
/** berth-build as root, berth-build-<uid> for an ordinary user (each must own the one it uses). */
function dirName(): string {
  const uid = hostUid();
  return uid === 0 ? "berth-build" : `berth-build-${uid}`;
}

let base: string | null | undefined;

/** The tmpfs that holds builds' memory dirs, or null when the machine has none berth may use. */
export function memoryBase(): string | null {
  if (base === undefined) {
    base = null;
    // BERTH_MEMORY_DIR, when set, is the only candidate (and must be a tmpfs too)
    const chosen = process.env.BERTH_MEMORY_DIR;
    const candidates = chosen !== undefined && chosen !== "" ? [chosen] : ["/dev/shm", process.env.XDG_RUNTIME_DIR, "/run"];
    for (const dir of candidates) {
      if (dir === undefined || dir === "") continue;
      try {
        if (statfsSync(dir).type === TMPFS_MAGIC) {
          base = join(dir, dirName());
          break;
        }
      } catch {
        // not there
      }
    }
  }
  return base;
}

/** This build's memory dir (made, mode 0700), or undefined when there is no tmpfs. */
export function makeMemoryDir(stateDir: string): string | undefined {
  const root = memoryBase();
  if (root === null) return undefined;
  mkdirSync(root, { recursive: true, mode: 0o700 });
  // /dev/shm is writable by everyone: a base someone else made (or a symlink) could hand them
  // the secrets, so it must be this user's own private directory
  const st = lstatSync(root);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) return undefined;
  const dir = memoryDirOf(root, stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, "owner"), `${process.pid}\n${stateDir}\n`, { mode: 0o600 });
  return dir;
}

/** Where `stateDir`'s memory dir is (whether made or not). */
export function memoryDirOf(root: string, stateDir: string): string {
  return join(root, createHash("sha256").update(stateDir).digest("hex").slice(0, 16));
}

/** Removes the memory dirs whose build is gone: its pid is dead. */
export async function sweepMemoryDirs(): Promise<string[]> {
  const root = memoryBase();
  if (root === null) return [];
  const swept: string[] = [];
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  for (const name of names) {
    const dir = join(root, name);
    let pid = NaN;
    try {
      pid = Number(readFileSync(join(dir, "owner"), "utf8").split("\n")[0]);
    } catch {
      // being made (a moment), or a build killed in that moment: gone after a minute
      try {
        if (Date.now() - statSync(dir).mtimeMs < 60_000) continue;
      } catch {
        continue;
      }
    }
    if (!Number.isNaN(pid) && pidAlive(pid)) continue;
    await removeTree(dir).catch(() => undefined);
    swept.push(dir);
  }
  return swept;
}
