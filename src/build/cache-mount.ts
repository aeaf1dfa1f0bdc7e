import { existsSync } from "node:fs";
import { chmod, chown, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { acquireFlock, tryAcquireFlock, type HeldLock } from "../store/lock.js";

export type CacheSharing = "shared" | "private" | "locked";

/** A cache mount's directory, held for one RUN. */
export interface CacheDirLease {
  dir: string;
  release(): Promise<void>;
}

export interface LeaseOptions {
  sharing: CacheSharing;
  /** Owner and mode of a directory made now (an existing one keeps its own). */
  mode?: number;
  uid?: number;
  gid?: number;
  signal?: AbortSignal;
}

/**
 * Picks the directory of a `--mount=type=cache` for one RUN, as BuildKit's cache mount getter
 * (solver/llbsolver/mounts, getRefCacheDir) does, across processes:
 *
 * - one id may have several instances: `<base>` and, made when every existing one was busy,
 *   `<base>-1`, `<base>-2`, … (BuildKit keeps such refs too; a later RUN reuses any free one);
 * - every user holds a flock on `<instance>.lock` while its RUN runs: `shared` a shared one,
 *   `private` and `locked` an exclusive one, so the kernel drops it when the holder dies;
 * - `shared` joins the first instance no exclusive user holds (several shared RUNs use one
 *   directory at once), and makes a new one when all are held exclusively;
 * - `private` takes the first instance nobody holds, and makes a new (empty) one when all are busy;
 * - `locked` takes the first free instance, else waits for the first one to be released.
 *   (BuildKit polls every existing instance every 100 ms; waiting on the first one spares a
 *   process per poll and differs only when extra instances exist.)
 */
export async function leaseCacheDir(base: string, o: LeaseOptions): Promise<CacheDirLease> {
  const mode = o.sharing === "shared" ? "shared" : "exclusive";
  const instance = (n: number): string => (n === 0 ? base : `${base}-${n}`);
  await mkdir(dirname(base), { recursive: true });
  for (let n = 0; ; n++) {
    const dir = instance(n);
    const exists = n === 0 || existsSync(dir);
    let lock: HeldLock | undefined;
    if (!exists && o.sharing === "locked") lock = await acquireFlock(`${base}.lock`, "exclusive", o.signal !== undefined ? { signal: o.signal } : {});
    else lock = await tryAcquireFlock(`${dir}.lock`, mode);
    if (lock === undefined) continue;
    const held = !exists && o.sharing === "locked" ? base : dir;
    try {
      await makeDir(held, o);
    } catch (err) {
      await lock.release();
      throw err;
    }
    return { dir: held, release: () => lock.release() };
  }
}

async function makeDir(dir: string, o: LeaseOptions): Promise<void> {
  const created = await mkdir(dir, { recursive: true });
  if (created === undefined) return;
  await chmod(dir, o.mode ?? 0o755);
  await chown(dir, o.uid ?? 0, o.gid ?? 0);
}
