import { execFile } from "node:child_process";
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Digest } from "../image/digest.js";
import { tryAcquireFlock } from "../sys/flock.js";
import type { BuilderStore } from "./store-port.js";

const execFileP = promisify(execFile);

export interface PruneBuildCacheOptions {
  /** `-a`: every unused cache object, not only the dangling ones (see pruneBuildCache). */
  all?: boolean;
  /** `--filter until=<duration>`: keep what was written or used less than this many ms ago. */
  keepDurationMs?: number;
  /**
   * `--keep-storage`: remove only while the build cache (see buildCacheUsage) is bigger than
   * this many bytes, the least recently written or used first. 0 is no limit (docker's unset).
   */
  keepBytes?: number;
  /** Called once when running builds make the prune wait for them. */
  onWait?: () => void;
}

export interface PruneBuildCacheResult {
  /** IDs of what was removed, in removal order (docker prints them under "Deleted build cache objects:"). */
  deleted: string[];
  reclaimedBytes: number;
}

/** Entry keys the builder writes besides step records (src/builder/step-cache.ts, copy/dispatch.ts). */
const SLOT_PREFIX = "slot:";
const SELECTION_PREFIX = "selection:";

/** Instance directories of cache mounts: `<32 hex>` and extra instances `<32 hex>-<n>`. */
const MOUNT_DIR = /^[0-9a-f]{32}(?:-\d+)?$/;

/** What makes up berth's build cache. */
export interface BuildCacheUsage {
  /** Step records with their layers that no image uses, cache mounts. */
  count: number;
  bytes: number;
}

/**
 * `docker builder prune`: removes build cache no running build uses, then the layers that only
 * the removed records kept alive (the store's garbage collection; images' layers stay).
 *
 * What is "dangling" (removed without `-a`): BuildKit's prune without `all` skips records of
 * type internal and frontend, and records that are "shared" (their layers are also an image's,
 * per the image store's ExternalRefChecker); everything else unused goes, cache mounts
 * included. berth's closest equivalents:
 * - a step record whose layer an image uses is shared: kept (so rebuilding that image still
 *   hits, and removing it would free nothing); a step record that holds no layer frees nothing
 *   either and is kept too; a step record whose layers no image uses is dangling;
 * - cache mount directories (BuildKit's exec.cachemount records) are dangling;
 * - the COPY source checksum memos (`selection:`, BuildKit's source.local records) are dangling;
 * - the per-position inputs kept for `--explain` (`slot:`) and the context stat caches are
 *   berth's internal records: only `-a` removes them.
 * With `-a` everything goes. `keepDurationMs` keeps what was written (step records) or last
 * mounted (cache mounts) more recently, as BuildKit's keepDuration does with last use.
 *
 * Safety: builds hold the store's "build" lock shared from start to end (Builder.run); the
 * prune takes it exclusively, so it waits for running builds and none starts meanwhile: no build
 * can be holding a record's layer or a cache directory that goes. The layer removal is the
 * store's collectGarbage (its "gc" and "layers" locks; image, snapshot and remaining records'
 * layers stay).
 */
export async function pruneBuildCache(store: BuilderStore, o: PruneBuildCacheOptions = {}): Promise<PruneBuildCacheResult> {
  const waiting = setTimeout(() => o.onWait?.(), 300);
  let lock;
  try {
    lock = await store.holdLock("build", "exclusive");
  } finally {
    clearTimeout(waiting);
  }
  try {
    return await pruneLocked(store, o);
  } finally {
    await lock.release();
  }
}

/** Something the prune may remove: its size, when it was last written or used, how it goes. */
interface Prunable {
  id: string;
  /** its share of buildCacheUsage (for --keep-storage) */
  bytes: number;
  /** what its removal frees besides layers (collectGarbage counts those) */
  freed: number;
  time: number | undefined;
  /** Removes it; false when it turned out to be in use (a held cache mount). */
  remove(): Promise<boolean>;
}

async function pruneLocked(store: BuilderStore, o: PruneBuildCacheOptions): Promise<PruneBuildCacheResult> {
  const cutoff = o.keepDurationMs !== undefined && o.keepDurationMs > 0 ? Date.now() - o.keepDurationMs : undefined;
  const recent = (ms: number | undefined): boolean => cutoff !== undefined && ms !== undefined && ms > cutoff;
  const imageLayers = await layersOfImages(store);
  const candidates = new Set<Digest>();
  const prunable: Prunable[] = [];

  for (const c of await store.listCacheEntries()) {
    if (c.key === "") continue; // unreadable: `berth system check --repair` deals with it
    const layers = c.entry.layers ?? [];
    let dangling: boolean;
    if (c.key.startsWith(SLOT_PREFIX)) dangling = false;
    else if (c.key.startsWith(SELECTION_PREFIX)) dangling = true;
    else dangling = layers.length > 0 && !layers.some((d) => imageLayers.has(d));
    if (!dangling && o.all !== true) continue;
    const time = c.written !== undefined ? Date.parse(c.written) : undefined;
    if (recent(time)) continue;
    // its share of buildCacheUsage: the layers no image uses
    let bytes = 0;
    for (const d of layers) if (!imageLayers.has(d)) bytes += (await store.layer(d))?.contentSize ?? 0;
    prunable.push({
      id: c.file.replace(/\.json$/, "").slice(0, 25),
      bytes,
      freed: c.bytes ?? 0,
      time,
      remove: async () => {
        await store.removeCacheEntry(c.key);
        for (const d of layers) candidates.add(d);
        return true;
      },
    });
  }

  const mountsDir = store.cacheMountsDir();
  const names = await readdir(mountsDir).catch(() => [] as string[]);
  const dirs = names.filter((n) => MOUNT_DIR.test(n));
  const sizes = await diskUsage(dirs.map((n) => join(mountsDir, n)));
  for (const name of dirs) {
    const dir = join(mountsDir, name);
    const used = await stat(`${dir}.lock`).then((s) => s.mtimeMs, () => undefined);
    const time = used ?? (await stat(dir).then((s) => s.mtimeMs, () => undefined));
    if (recent(time)) continue;
    prunable.push({
      id: name,
      bytes: sizes.get(dir) ?? 0,
      freed: sizes.get(dir) ?? 0,
      time,
      remove: async () => {
        // No build runs (we hold the build lock), yet a cache dir someone holds is never removed.
        const held = await tryAcquireFlock(`${dir}.lock`, "exclusive");
        if (held === undefined) return false;
        try {
          await rm(dir, { recursive: true, force: true });
        } finally {
          await held.release();
        }
        // Lock files go too: only builds open them, and none runs while we hold the build lock.
        await rm(`${dir}.lock`, { force: true });
        return true;
      },
    });
  }

  if (o.all === true) {
    // the context stat caches (hashes of unchanged files), berth's internal records
    for (const f of await store.statCacheFiles()) {
      if (recent(f.mtimeMs)) continue;
      prunable.push({ id: f.name.replace(/\.json$/, ""), bytes: f.size, freed: f.size, time: f.mtimeMs, remove: async () => (await rm(f.path, { force: true }), true) });
    }
  }

  // --keep-storage, as BuildKit's KeepBytes: nothing goes while the whole cache fits; then the
  // least recently written (step records: berth does not note hits) or used (cache mounts) go
  // first, until it does.
  let chosen = prunable;
  if (o.keepBytes !== undefined && o.keepBytes > 0) {
    let total = (await buildCacheUsage(store)).bytes;
    chosen = [];
    for (const p of [...prunable].sort((a, b) => (a.time ?? 0) - (b.time ?? 0))) {
      if (total <= o.keepBytes) break;
      chosen.push(p);
      total -= p.bytes;
    }
  }

  const result: PruneBuildCacheResult = { deleted: [], reclaimedBytes: 0 };
  for (const p of chosen) {
    if (!(await p.remove())) continue;
    result.deleted.push(p.id);
    result.reclaimedBytes += p.freed;
  }
  // Leftovers of seeding (a killed build's unfinished copy) and seed locks: with no build
  // running, nobody is seeding.
  for (const name of names) {
    if (/\.seed(?:-[0-9a-f]+|\.lock)$/.test(name)) await rm(join(mountsDir, name), { recursive: true, force: true });
  }

  // Only layers no image, snapshot or remaining record needs go (collectGarbage decides).
  const gc = await store.collectGarbage({ candidates });
  result.reclaimedBytes += gc.reclaimedBytes;
  return result;
}

async function layersOfImages(store: BuilderStore): Promise<Set<Digest>> {
  const out = new Set<Digest>();
  for (const img of await store.listImages()) for (const l of img.layers) out.add(l.diffId);
  return out;
}

/** Bytes of each directory (apparent sizes, one du process for all of them). */
async function diskUsage(dirs: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (dirs.length === 0) return out;
  const { stdout } = await execFileP("du", ["-sb", "--", ...dirs], { maxBuffer: 1 << 26 }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? "" }));
  for (const line of stdout.split("\n")) {
    const tab = line.indexOf("\t");
    if (tab > 0) out.set(line.slice(tab + 1), Number(line.slice(0, tab)));
  }
  return out;
}

/**
 * The build cache as `system df` counts it: step records whose layers no image uses (their
 * layers' sizes) and cache mount directories (their contents).
 */
export async function buildCacheUsage(store: BuilderStore): Promise<BuildCacheUsage> {
  const imageLayers = await layersOfImages(store);
  let count = 0;
  let bytes = 0;
  const counted = new Set<Digest>();
  for (const c of await store.listCacheEntries()) {
    const layers = c.entry.layers ?? [];
    if (layers.length === 0) continue;
    count++;
    for (const d of layers) {
      if (imageLayers.has(d) || counted.has(d)) continue;
      counted.add(d);
      bytes += (await store.layer(d))?.contentSize ?? 0;
    }
  }
  const mountsDir = store.cacheMountsDir();
  const dirs = (await readdir(mountsDir).catch(() => [] as string[])).filter((n) => MOUNT_DIR.test(n)).map((n) => join(mountsDir, n));
  for (const size of (await diskUsage(dirs)).values()) bytes += size;
  return { count: count + dirs.length, bytes };
}
