import { readFileSync } from "node:fs";
import type { Digest } from "../image/digest.js";
import { syncFileSystem } from "../sys/syncfs.js";
import { trace } from "../sys/trace.js";
import { StoreError } from "./errors.js";

/** Dirty data (kB, /proc/meminfo) above which a build starts writing it back (flushEarly). */
const EARLY_FLUSH_KB = 32 * 1024;

/** How long a sync that nobody waits for urgently gathers commits (see layersDurable). */
const SYNC_GATHER_MS = 250;

/**
 * When what this process wrote reaches the disk. A build step's layer is committed without an
 * fsync on its path (Layers.recordDir): one sync of the store's file system (syncfs, `sync -f`)
 * later covers every commit made before it, and whatever names a layer durably — a cache entry,
 * an image — waits for that first.
 */
export class Durability {
  /** Layers this process committed whose files and record may not be on disk yet, each with the number of its commit. */
  private readonly unsynced = new Map<Digest, number>();
  private commits = 0;
  /** Every commit up to this number is on disk. */
  private syncedUpTo = 0;
  /** The file system sync in flight (covering commits up to `upTo`), and the one queued after it. */
  private syncRunning: { upTo: number; done: Promise<void> } | undefined;
  private syncQueued: { done: Promise<void>; now: () => void } | undefined;
  private earlyFlush: Promise<void> | undefined;

  constructor(private readonly root: string) {}

  /** A layer this process committed without syncing it. */
  noteCommit(diffId: Digest): void {
    this.unsynced.set(diffId, ++this.commits);
  }

  /**
   * Starts writing the file system's dirty data back when there is much of it (a step that
   * wrote hundreds of MB), so that the syncs the build must wait for later find most of it on
   * disk: the kernel would otherwise hold it for 30 s, and the build's end pays for all of it
   * at once. Not waited for; one at a time; errors are the later syncs' to report.
   */
  flushEarly(): void {
    if (this.earlyFlush !== undefined) return;
    let dirtyKb = 0;
    try {
      const m = /^Dirty:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
      dirtyKb = m !== null ? Number(m[1]) : 0;
    } catch {
      return;
    }
    if (dirtyKb < EARLY_FLUSH_KB) return;
    trace("store: early flush");
    this.earlyFlush = syncFileSystem(this.root).catch(() => undefined).finally(() => {
      this.earlyFlush = undefined;
    });
  }

  /**
   * A sync of the store's file system that starts now: whatever this process wrote so far is
   * on disk when it resolves — its layer commits (marked synced) and files a caller wrote
   * without fsync, to publish them after (Images.add). A layer another process committed is on
   * disk too: that process synced it before anything could name it.
   */
  async syncNow(): Promise<void> {
    const upTo = this.commits;
    // a gathering sync (layersDurable) others wait for starts now too, not at its timer
    this.syncQueued?.now();
    await syncFileSystem(this.root);
    this.markSynced(upTo);
  }

  /** Every commit up to number `upTo` is on disk (a sync that started after it ended). */
  private markSynced(upTo: number): void {
    this.syncedUpTo = Math.max(this.syncedUpTo, upTo);
    for (const [d, n] of this.unsynced) if (n <= upTo) this.unsynced.delete(d);
  }

  /**
   * Waits until these layers — files and records — are on disk, for those this process
   * committed unsynced. Syncs run one at a time; callers arriving meanwhile share the next one.
   */
  async layersDurable(diffIds: readonly Digest[], opts: { urgent?: boolean } = {}): Promise<void> {
    let need = 0;
    for (const d of diffIds) need = Math.max(need, this.unsynced.get(d) ?? 0);
    if (need <= this.syncedUpTo) return;
    let wait: Promise<void>;
    if (this.syncRunning !== undefined && this.syncRunning.upTo >= need) wait = this.syncRunning.done;
    else {
      if (this.syncQueued === undefined) {
        // not urgent (a build's cache entries): gather the commits of the next steps too, one
        // sync process for many (each is a fork of this process, on the steps' path)
        let start!: () => void;
        const started = new Promise<void>((resolve) => (start = resolve));
        const timer = setTimeout(start, SYNC_GATHER_MS);
        const previous = this.syncRunning?.done ?? Promise.resolve();
        const done = Promise.all([started, previous.catch(() => undefined)]).then(() => {
          this.syncQueued = undefined;
          const upTo = this.commits;
          const run = syncFileSystem(this.root).then(() => this.markSynced(upTo));
          this.syncRunning = { upTo, done: run };
          run.then(() => {
            if (this.syncRunning?.done === run) this.syncRunning = undefined;
          }, () => undefined);
          return run;
        });
        this.syncQueued = { done, now: () => { clearTimeout(timer); start(); } };
      }
      if (opts.urgent === true) this.syncQueued.now();
      wait = this.syncQueued.done;
    }
    try {
      await wait;
    } catch (err) {
      throw new StoreError(`writing layers to disk failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** A second sync (Images.add publishes by renames after syncNow, and makes them durable with this). */
  syncFileSystem(): Promise<void> {
    return syncFileSystem(this.root);
  }
}
