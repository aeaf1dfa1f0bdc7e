import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, rename, rm, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import { cleanPath } from "../context/path-match.js";
import { MountSpecError, type CacheMount } from "../instructions/index.js";
import { acquireFlock, tryAcquireFlock, type HeldLock } from "../sys/flock.js";

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
  /**
   * Fills a new instance (the directory named, which it creates) with the mount's base tree:
   * from=/source (see planCacheMount). Runs once per instance, under `<base>.seed.lock`, into a
   * temporary name renamed into place, so a crash never leaves a half-seeded cache.
   */
  seed?: (dir: string) => Promise<void>;
}

/** How one `--mount=type=cache` maps onto a directory (pure; see planCacheMount). */
export interface CacheMountPlan {
  /** What the directory is named by: BuildKit's cache ref key, `id` or `id:<base ref>`. */
  key: string;
  /** A new directory is a copy of `from`'s tree at `source` (slash path, "" = its root). */
  seed?: {
    from: string;
    source: string;
    /** The seed may be missing: then an empty directory with this mode and owner (BuildKit's mkdir /cache). */
    mkdir?: { mode: number; uid: number; gid: number };
  };
  /** Below the cache directory, what is mounted ("" = the directory itself). */
  subpath: string;
}

/** A `source=` as a slash path relative to the tree's root ("" = the root); refuses `..` above the root. */
function sourceRel(m: CacheMount): string {
  const raw = (m.source ?? "").replace(/^\/+/, "");
  const rel = cleanPath(raw === "" ? "." : raw);
  // BuildKit joins the source to "/" and so silently clamps `..` at the root; a source that
  // climbs out of the tree is a mistake berth names instead.
  if (rel === ".." || rel.startsWith("../")) throw new MountSpecError(`source ${JSON.stringify(m.source)} is outside the ${m.from !== undefined ? `tree of from=${m.from}` : "cache"}`);
  return rel === "." ? "" : rel;
}

/**
 * BuildKit's rules for a cache mount's directory (dockerfile2llb dispatchRunMounts and
 * mounts.getRefCacheDir): the cache ref is keyed by its id and, when it has one, the ID of the
 * ref it starts from; a mount without `from` starts from an empty directory.
 *
 * - no `from`: the key is the id (berth's directories made before from= existed keep theirs);
 *   `uid`, `gid` and `mode` make BuildKit's base an empty dir with that owner and mode (a
 *   "settings cache mount permissions" FileOp), a ref of its own, so they are part of the key;
 *   `source` picks a subdirectory of the cache, which must exist (an earlier RUN made it);
 * - `from`: the base is from's tree (`fromIdentity`: a stage's cache key, an image's ID), so a
 *   changed stage gives a fresh cache; a new directory is seeded with a copy of it, later RUNs
 *   see what earlier ones left. BuildKit keeps the whole tree and mounts `source` below it;
 *   berth copies only `source` and keys by it too (copying a whole image for one directory is
 *   the cost this avoids); the difference shows only when one id and from are mounted with
 *   different sources in the same cache, where BuildKit shares one tree.
 * - `from` with `uid`/`gid`/`mode` and no `source`: BuildKit mkdirs `/cache` in from's tree with
 *   them and mounts that (so the stage's own files are not seen unless it has a /cache); odd,
 *   but what docker build does, so berth does the same.
 */
export function planCacheMount(m: CacheMount, fromIdentity: string | undefined): CacheMountPlan {
  const src = sourceRel(m);
  const perms = m.uid !== undefined || m.gid !== undefined || m.mode !== undefined;
  const mkdirOpts = { mode: m.mode ?? 0o755, uid: m.uid ?? 0, gid: m.gid ?? 0 };
  const permsKey = `mkdir:${mkdirOpts.mode.toString(8)}:${mkdirOpts.uid}:${mkdirOpts.gid}`;
  if (fromIdentity === undefined) {
    if (src !== "" || !perms) return { key: m.id, subpath: src };
    return { key: `${m.id}:scratch+${permsKey}`, subpath: "" };
  }
  if (src === "" && perms) {
    return { key: `${m.id}:${fromIdentity}+${permsKey}`, seed: { from: fromIdentity, source: "cache", mkdir: mkdirOpts }, subpath: "" };
  }
  return { key: src === "" ? `${m.id}:${fromIdentity}` : `${m.id}:${fromIdentity}:/${src}`, seed: { from: fromIdentity, source: src }, subpath: "" };
}

/** The directory of a cache key under the directory that holds the store's cache mounts. */
export function cacheMountDir(mountsDir: string, key: string): string {
  return join(mountsDir, createHash("sha256").update(key).digest("hex").slice(0, 32));
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
      await makeDir(held, base, o);
    } catch (err) {
      await lock.release();
      throw err;
    }
    // the lock file's time says when the cache was last used (builder prune --filter until=)
    const now = new Date();
    await utimes(`${held}.lock`, now, now).catch(() => undefined);
    return { dir: held, release: () => lock.release() };
  }
}

async function makeDir(dir: string, base: string, o: LeaseOptions): Promise<void> {
  if (o.seed !== undefined) {
    if (existsSync(dir)) return;
    const lock = await acquireFlock(`${base}.seed.lock`, "exclusive", o.signal !== undefined ? { signal: o.signal } : {});
    try {
      if (existsSync(dir)) return;
      const tmp = `${dir}.seed-${randomBytes(4).toString("hex")}`;
      try {
        await o.seed(tmp);
        await rename(tmp, dir);
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
    } finally {
      await lock.release();
    }
    return;
  }
  const created = await mkdir(dir, { recursive: true });
  if (created === undefined) return;
  await chmod(dir, o.mode ?? 0o755);
  await chown(dir, o.uid ?? 0, o.gid ?? 0);
}
