import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { lstat, mkdir, open, readFile, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { Transform, pipeline, type Readable, type TransformCallback, type Writable } from "node:stream";
import { digestHex, isDigest, sha256Digest, shortId, type Digest } from "../image/digest.js";
import { MediaType, type Descriptor, type ImageConfig, type ImageManifest } from "../image/types.js";
import { familiarString, looksLikeImageId, normalizeTag, parseReference, InvalidReferenceError, DEFAULT_TAG, formatReference } from "../image/reference.js";
import { createFileLinked, fsyncDir, replaceFile, syncFile, writeFileAtomic } from "./atomic.js";
import { syncFileSystem } from "../sys/syncfs.js";
import { BlobStore, verifyingTransform } from "./blobs.js";
import { NoSuchImageError, StoreError } from "./errors.js";
import { acquireFlock, type HeldLock } from "../sys/flock.js";
import { Lease, deadLeases, sweepDeadLeases, type LeaseNote } from "./leases.js";
import { resolveStoreRoot } from "./root.js";
import { trace } from "../sys/trace.js";
import type { CacheEntry, ImageEntry, ImageRecord, LayerInfo, LayerRecord, Snapshot } from "./types.js";
import { removeTree } from "../sys/remove-tree.js";

/**
 * The layer module (tar, gzip, xattr tools) loads on first use: most commands — `berth run`
 * above all — open the store only to read records and make a snapshot.
 */
const layerModule = () => import("../layer/index.js");
/** zlib, for tar-split records only (imports and exports): not loaded by builds. */
const zlib = () => import("node:zlib");

/**
 * How a snapshot's upper dir is diffed: mtimes clamped to the epoch; with `noXattrs` (the
 * caller wrote the dir itself and set no xattr: COPY, WORKDIR) no xattr is looked for.
 */
function snapshotDiffOptions(opts: { sourceDateEpoch?: number; noXattrs?: boolean }): { sourceDateEpoch?: number; xattrs?: Map<string, Map<string, Buffer>> } {
  return { ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}), ...(opts.noXattrs === true ? { xattrs: new Map() } : {}) };
}

/** The diff_id of a layer a build holds while its commit runs (see detachSnapshot). */
export const PENDING_DIFF_ID = "sha256:pending" as Digest;


/**
 * A small record file (refs, image and layer records: JSON of a few KB), read synchronously:
 * fs.promises.readFile is four thread-pool round trips (open, fstat, read, close), which on a
 * busy machine cost more than the read itself, and every `berth run` reads several records.
 */
function readRecordFile(path: string): Promise<string> {
  try {
    return Promise.resolve(readFileSync(path, "utf8"));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * berth's on-disk store. Layout (all under one root, short names because overlay's option
 * string is limited to a page):
 *
 *   blobs/sha256/<hex>   content (configs, manifests, layer blobs), verified on write and read
 *   l/<12 hex>/          extracted layers, used as overlay lower dirs; l/empty for scratch
 *   layers/<hex>.json    layer records (diff_id → dir, size, known blobs)
 *   ts/<hex>.gz          tar-split records: a layer's tar made again from its dir (no blob kept)
 *   images/<hex>.json    image records (config digest → manifest digest)
 *   refs.json            tags: normalized reference → image ID (under the "refs" lock)
 *   cache/<hex>.json     build cache entries (key hashed)
 *   c/<id>/              container directories (record.json owned by the runtime)
 *   s/<id>/{u,w}         snapshots in progress (owner.json says who and on what)
 *   tmp/                 staging: nothing here is part of the store
 *   locks/<name>.lock    flock files; locks/live/ leases of processes that may leave things behind (leases.ts)
 *
 * Every record appears by one rename; a record is written only after what it points to is
 * in place. So after a crash there can be orphans (unreferenced blobs, dirs, tmp files) but no
 * dangling records; `berth system check --repair` removes orphans.
 */
/** Dirty data (kB, /proc/meminfo) above which a build starts writing it back (flushEarly). */
const EARLY_FLUSH_KB = 32 * 1024;

/** How long a sync that nobody waits for urgently gathers commits (see layersDurable). */
const SYNC_GATHER_MS = 250;

export class Store {
  readonly blobs: BlobStore;
  private readonly tmpDir: string;
  /**
   * Layers this process committed whose files and record may not be on disk yet, each with the
   * number of its commit (see commitLayerUnlocked and layersDurable).
   */
  private readonly unsynced = new Map<Digest, number>();
  private commits = 0;
  /** Every commit up to this number is on disk. */
  private syncedUpTo = 0;
  /** The file system sync in flight (covering commits up to `upTo`), and the one queued after it. */
  private syncRunning: { upTo: number; done: Promise<void> } | undefined;
  private syncQueued: { done: Promise<void>; now: () => void } | undefined;
  private earlyFlush: Promise<void> | undefined;
  /** Opaque dirs of the layers handed out so far, by layer dir (see knownOpaque). */
  private readonly opaqueByDir = new Map<string, ReadonlySet<string>>();

  /** This process's lease (leases.ts), taken before it first makes something a kill would leave behind. */
  private lease: Lease | null | undefined;
  /**
   * The sweep of what killed processes left (leases.ts), started by open when it found one;
   * it runs behind the command.
   */
  sweeping: Promise<void> = Promise.resolve();

  private constructor(readonly root: string) {
    this.tmpDir = join(root, "tmp");
    this.blobs = new BlobStore(root, this.tmpDir, () => this.noteLeftover());
  }

  /** Holds this process's lease from now on, and notes in it a snapshot or layer dir it makes. */
  private noteLeftover(kind?: LeaseNote, name?: string): void {
    if (this.lease === undefined) this.lease = Lease.take(this.root) ?? null;
    if (kind !== undefined && name !== undefined) this.lease?.note(kind, name);
  }

  /**
   * Ends this process's lease on the store (its file is held open until then). berth's commands
   * need not call it (the lease ends with the process); a library user whose process goes on
   * (and, say, unmounts the store's file system) does, once nothing of its work is in flight.
   */
  async close(): Promise<void> {
    await this.sweeping;
    this.lease?.end();
    this.lease = undefined;
  }

  static async open(root?: string): Promise<Store> {
    const store = new Store(resolveStoreRoot(root));
    // synchronous: 9 directories that exist after the first open cost 18 quick syscalls, far
    // less than 9 round trips through libuv's thread pool (every command opens the store)
    for (const d of ["blobs/sha256", "l/empty", "layers", "ts", "images", "cache", "c", "s", "tmp", "locks"]) {
      mkdirSync(join(store.root, d), { recursive: true });
    }
    const dead = deadLeases(store.root);
    if (dead.length > 0) store.sweeping = sweepDeadLeases(store, dead).catch(() => undefined);
    return store;
  }

  // ---------------------------------------------------------------- blobs

  putBlob(data: Uint8Array | NodeJS.ReadableStream, expected?: Digest): Promise<{ digest: Digest; size: number }> {
    return this.blobs.put(data, expected);
  }
  hasBlob(d: Digest): Promise<boolean> {
    return this.blobs.has(d);
  }
  openBlob(d: Digest): NodeJS.ReadableStream {
    return this.blobs.open(d);
  }
  readBlob(d: Digest): Promise<Buffer> {
    return this.blobs.read(d);
  }

  // ---------------------------------------------------------------- locks

  async withLock<T>(name: string, fn: () => Promise<T>, mode: "exclusive" | "shared" = "exclusive"): Promise<T> {
    const lock = await this.holdLock(name, mode);
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /**
   * withLock's lock, held until released: for a holder whose extent is not one function call
   * (a build holds "build" shared from its start to its end, see builder prune).
   */
  holdLock(name: string, mode: "exclusive" | "shared" = "exclusive", opts: { signal?: AbortSignal } = {}): Promise<HeldLock> {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) return Promise.reject(new StoreError(`invalid lock name ${JSON.stringify(name)}`));
    return acquireFlock(join(this.root, "locks", `${name}.lock`), mode, opts);
  }

  /** A fresh staging path under tmp/ (same file system, so commits are renames). */
  stagingPath(prefix: string): string {
    this.noteLeftover();
    return join(this.tmpDir, `${prefix}-${process.pid}-${randomBytes(6).toString("hex")}`);
  }

  // ---------------------------------------------------------------- layers

  /**
   * Waits until these layers — files and records — are on disk, for those this process
   * committed from a build step (commitLayerUnlocked). One sync of the store's file system
   * (syncfs, `sync -f`) covers every commit made before it: the steps' containers mount their
   * overlays volatile and nothing of a step is fsync'd on its path; a cache entry or an image
   * waits here before it names the layers. Syncs run one at a time; callers arriving meanwhile
   * share the next one.
   */
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
   * without fsync, to publish them after (addImage). A layer another process committed is on
   * disk too: that process synced it before anything could name it.
   */
  private async syncNow(): Promise<void> {
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

  private layerRecordPath(diffId: Digest): string {
    return join(this.root, "layers", `${digestHex(diffId)}.json`);
  }

  async layerRecord(diffId: Digest): Promise<LayerRecord | undefined> {
    try {
      return JSON.parse(await readRecordFile(this.layerRecordPath(diffId))) as LayerRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new StoreError(`layer record for ${diffId} is unreadable: ${(err as Error).message}`);
    }
  }

  private layerInfo(r: LayerRecord): LayerInfo {
    const info: LayerInfo = { diffId: r.diffId, size: r.size, contentSize: r.contentSize ?? r.size, dir: join(this.root, "l", r.dir), ...(r.opaque !== undefined ? { opaque: r.opaque } : {}) };
    if (r.opaque !== undefined) this.opaqueByDir.set(info.dir, new Set(r.opaque));
    return info;
  }

  /**
   * Whether `absDir`, a directory inside a layer dir this store handed out, is opaque, from the
   * layer's record: true or false, or undefined when the record does not say (older records,
   * paths outside layers). Spares a getfattr process per question.
   */
  knownOpaque(absDir: string): boolean | undefined {
    const prefix = join(this.root, "l") + "/";
    if (!absDir.startsWith(prefix)) return undefined;
    const slash = absDir.indexOf("/", prefix.length);
    const set = this.opaqueByDir.get(slash < 0 ? absDir : absDir.slice(0, slash));
    return set === undefined ? undefined : slash >= 0 && set.has(absDir.slice(slash + 1));
  }

  async layer(diffId: Digest): Promise<LayerInfo | undefined> {
    const r = await this.layerRecord(diffId);
    return r === undefined ? undefined : this.layerInfo(r);
  }

  async listLayerRecords(): Promise<LayerRecord[]> {
    const out: LayerRecord[] = [];
    for (const f of await readdir(join(this.root, "layers"))) {
      if (!f.endsWith(".json") || f.startsWith(".")) continue;
      const d = `sha256:${f.slice(0, -5)}`;
      if (!isDigest(d)) continue;
      const r = await this.layerRecord(d).catch(() => undefined);
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  /**
   * Where the builder keeps what a COPY layer placed (a hint for the next build of the step to
   * link unchanged files from; see build/copy/writer.ts ReuseSource); removed with the layer.
   */
  placedPath(diffId: Digest): string {
    return join(this.root, "buildcache", "placed", `${digestHex(diffId)}.json`);
  }

  /** Where a layer's tar-split record lives (see layer/tarsplit.ts). */
  tarSplitPath(diffId: Digest): string {
    return join(this.root, "ts", `${digestHex(diffId)}.gz`);
  }

  /**
   * Makes `stagedDir` the layer `diffId` (or drops it when the layer exists already) and
   * records `blob`, a temp file holding the layer's bytes as `blobDesc` says, or `split`, a temp
   * file holding its tar-split record (fsync'd by the caller).
   */
  private async commitLayer(diffId: Digest, size: number, stagedDir: string, fields: Pick<LayerRecord, "reproducible" | "sourceDateEpoch" | "opaque" | "contentSize">, blob?: { tmp: string; desc: Descriptor }, split?: string): Promise<LayerInfo> {
    return this.withLock("layers", async () => {
      const existing = await this.layerRecord(diffId);
      if (blob !== undefined) {
        if (await this.blobs.has(blob.desc.digest)) await rm(blob.tmp, { force: true });
        else await this.blobs.adopt(blob.tmp, blob.desc.digest);
      }
      if (existing !== undefined) {
        await rm(stagedDir, { recursive: true, force: true });
        if (split !== undefined) await rm(split, { force: true });
        if (blob !== undefined && !existing.blobs.some((b) => b.digest === blob.desc.digest)) {
          existing.blobs.push(blob.desc);
          await writeFileAtomic(this.layerRecordPath(diffId), JSON.stringify(existing));
        }
        return this.layerInfo(existing);
      }
      // what the record points to first: the tar-split, then the dir
      if (split !== undefined) {
        await rename(split, this.tarSplitPath(diffId));
        await fsyncDir(join(this.root, "ts"));
      }
      let name = digestHex(diffId).slice(0, 12);
      if (await lstat(join(this.root, "l", name)).then(() => true, () => false)) name = randomBytes(6).toString("hex");
      this.noteLeftover("l", name);
      await rename(stagedDir, join(this.root, "l", name));
      const record: LayerRecord = {
        diffId, size, dir: name, blobs: blob ? [blob.desc] : [], ...fields, ...(split !== undefined ? { tarSplit: true } : {}), created: new Date().toISOString(),
      };
      await writeFileAtomic(this.layerRecordPath(diffId), JSON.stringify(record));
      return this.layerInfo(record);
    });
  }

  /**
   * Records the layer `diffId` whose dir is already in place under l/ (a build step's
   * snapshot, see detachSnapshot), without the "layers" lock — nothing is read, modified and
   * written back here. The record is created by link(2), which fails when it exists: of two
   * processes committing the same diff_id at once, exactly one record wins and the other gets
   * the winner's layer back, as it does when the layer was recorded before; `leftover` is then
   * `dir`, for the caller to remove (once nothing mounts it). The record appears whole (a
   * complete temp file is linked); it and the layer's files reach the disk with the next sync of
   * the store's file system, which whatever refers to the layer durably — a cache entry, an
   * image — waits for first (layersDurable). A power cut before then can lose the record or
   * leave it empty: the layer is then an orphan, which nothing refers to, and `system check
   * --repair` removes (a commit replaces such a record).
   */
  private async recordLayerDir(
    diffId: Digest, size: number, fields: Pick<LayerRecord, "reproducible" | "sourceDateEpoch" | "opaque" | "contentSize">, dir: string,
  ): Promise<{ layer: LayerInfo; leftover?: string }> {
    const path = this.layerRecordPath(diffId);
    const existing = await this.layerRecord(diffId).catch(async (err: unknown) => {
      // an empty or torn record left by a power cut before it was synced: replace it
      if (!(err instanceof StoreError)) throw err;
      await rm(path, { force: true });
      return undefined;
    });
    if (existing !== undefined) return { layer: this.layerInfo(existing), leftover: dir };
    const record: LayerRecord = { diffId, size, dir: basename(dir), blobs: [], ...fields, created: new Date().toISOString() };
    if (createFileLinked(path, JSON.stringify(record))) {
      this.unsynced.set(diffId, ++this.commits);
      return { layer: this.layerInfo(record) };
    }
    const winner = await this.layerRecord(diffId);
    if (winner === undefined) throw new StoreError(`layer record for ${diffId} vanished while it was committed`);
    return { layer: this.layerInfo(winner), leftover: dir };
  }

  /**
   * A layer tar (gzip or plain) → extracted layer, applied safely, its bytes kept (as a
   * tar-split record or a blob: see prepareLayer). `expected` checks the blob digest and/or
   * diff_id (as a manifest and config state them).
   */
  async importLayer(tar: NodeJS.ReadableStream, opts: PrepareLayerOptions & { expectedDigest?: Digest; expectedDiffId?: Digest } = {}): Promise<LayerInfo> {
    const prepared = await this.prepareLayer(tar, opts);
    try {
      return await prepared.commit(opts);
    } finally {
      await prepared.discard();
    }
  }

  /**
   * The first half of importLayer: applies the tar into a staging dir and keeps its bytes, but
   * adds nothing to the store until `commit` (which checks what the manifest and config
   * expect). `discard` removes what was not committed. A load uses this to apply layers while
   * it reads the archive, before it has read the manifest that names them.
   *
   * What is kept: a gzip layer's own bytes as a blob (a manifest names that digest; gzip
   * output cannot be made again byte for byte) unless `keepCompressed` is false (an import);
   * otherwise a tar-split record, as Docker's layer store keeps: the tar's headers and padding,
   * which with the files in the layer dir give back the exact tar — so a load writes each layer
   * once, not twice. A tar whose later entries replace earlier files cannot be made again from
   * the dir: its bytes are kept as a blob then (the applier switches over mid-stream).
   */
  async prepareLayer(tar: NodeJS.ReadableStream, opts: PrepareLayerOptions = {}): Promise<PreparedLayer> {
    const source = opts.source ?? "layer";
    const { applyLayer, gunzipStream, peekCompression, LayerError } = await layerModule();
    const { compression, stream } = await peekCompression(tar, source).catch((err: unknown) => {
      throw err instanceof StoreError ? err : new StoreError((err as Error).message, { cause: err });
    });
    const staged = this.stagingPath("layer");
    // adoptFile: `tar` reads a staged file under tmp/ (a load); once verified it becomes the
    // blob by a rename instead of being written a second time
    const blobTmp = opts.adoptFile ?? this.blobs.tempPath("blob");
    const useSplit = opts.adoptFile === undefined && (compression === "none" || opts.keepCompressed === false);
    const hashRaw = !(useSplit && compression === "gzip"); // an import's gzip bytes are not kept: no digest needed
    await mkdir(staged, { mode: 0o755 });
    const rawHash = createHash("sha256");
    const diffHash = createHash("sha256");
    let rawSize = 0;
    let size = 0;
    let tarSplit: Buffer | undefined;
    let spilled = false;
    let contentSize = 0;
    let opaque: string[] = [];
    let file: Writable | undefined;
    const cleanup = async (): Promise<void> => {
      file?.destroy();
      await rm(staged, { recursive: true, force: true });
      if (opts.adoptFile === undefined) await rm(blobTmp, { force: true });
    };
    try {
      file = opts.adoptFile === undefined && !useSplit ? createWriteStream(blobTmp, { flags: "wx", mode: 0o644 }) : undefined;
      const fileDone = file === undefined ? Promise.resolve() : new Promise<void>((res, rej) => { file!.on("finish", () => res()); file!.on("error", rej); });
      // heard even when the tar reader fails first and this is never awaited
      fileDone.catch(() => undefined);
      let tarOut: Readable = stream;
      if (compression === "gzip") {
        const tapRaw = new Transform({
          transform(chunk: Buffer, _e, cb: TransformCallback) {
            if (hashRaw) rawHash.update(chunk);
            rawSize += chunk.length;
            if (file === undefined || file.write(chunk)) cb(null, chunk);
            else file.once("drain", () => cb(null, chunk));
          },
          flush(cb) {
            file?.end();
            cb();
          },
        });
        const gunzip = gunzipStream(source) as Transform;
        // pipeline, not pipe(): any stream's error reaches the tar reader (gunzip is destroyed
        // with it), and so does one from before this point: peekCompression buffers the first
        // MB, so a small bad download can be read to its end, found not to match its digest
        // and destroyed while the staging dir is made. pipe() of that stream hung the reader
        // (no data, no end, no error) until the event loop drained: a pull exited 0.
        pipeline(stream, tapRaw, gunzip, () => undefined);
        tarOut = gunzip;
      }
      // the tar is hashed by the applier as it reads it (its diff_id; a plain tar's digest too)
      const applied = await applyLayer(tarOut, staged, {
        source,
        tap: (c) => diffHash.update(c),
        ...(opts.asRoot !== undefined ? { asRoot: opts.asRoot } : {}),
        ...(useSplit ? { split: { spillFile: blobTmp } } : {}),
      });
      size = applied.bytes;
      tarSplit = applied.tarSplit;
      contentSize = applied.contentSize;
      opaque = applied.opaque;
      spilled = applied.spilled === true;
      await fileDone;
    } catch (err) {
      await cleanup();
      if (err instanceof LayerError && !(err instanceof StoreError)) throw new StoreError(err.message, { cause: err });
      if (err instanceof StoreError) throw err;
      throw new StoreError(`${source}: ${(err as Error).message}`, { cause: err });
    }
    const diffId = `sha256:${diffHash.digest("hex")}` as Digest;
    const digest = compression === "gzip" ? (hashRaw ? (`sha256:${rawHash.digest("hex")}` as Digest) : diffId) : diffId;
    if (compression !== "gzip") rawSize = size;
    let committed: Promise<LayerInfo> | undefined;
    let discarded = false;
    return {
      digest,
      diffId,
      size,
      compression,
      commit: (expect = {}) => {
        if (expect.expectedDigest !== undefined && digest !== expect.expectedDigest) {
          return Promise.reject(new StoreError(`${source}: digest mismatch: expected ${expect.expectedDigest}, got ${digest}`));
        }
        if (expect.expectedDiffId !== undefined && diffId !== expect.expectedDiffId) {
          return Promise.reject(new StoreError(`${source}: layer diff_id mismatch: the image config says ${expect.expectedDiffId}, the layer is ${diffId}`));
        }
        if (discarded) return Promise.reject(new StoreError(`${source}: layer was discarded`));
        committed ??= (async () => {
          if (tarSplit !== undefined) {
            const splitTmp = this.stagingPath("split");
            try {
              const { gzip } = await zlib();
              const packed = await new Promise<Buffer>((resolve, reject) => gzip(tarSplit, { level: 1 }, (err, out) => (err !== null ? reject(err) : resolve(out))));
              await writeFileDurable(splitTmp, packed);
              return await this.commitLayer(diffId, size, staged, { reproducible: false, contentSize, opaque }, undefined, splitTmp);
            } catch (err) {
              await rm(splitTmp, { force: true });
              throw err;
            }
          }
          await syncFile(blobTmp);
          // a spilled tar is the plain tar, whatever the input's compression was
          const desc: Descriptor = spilled || compression !== "gzip"
            ? { mediaType: MediaType.OciLayer, digest: diffId, size }
            : { mediaType: MediaType.OciLayerGzip, digest, size: rawSize };
          return this.commitLayer(diffId, size, staged, { reproducible: false, contentSize, opaque }, { tmp: blobTmp, desc });
        })();
        return committed;
      },
      discard: async () => {
        if (committed !== undefined || discarded) return;
        discarded = true;
        await cleanup();
      },
    };
  }

  /** The layer's tar, uncompressed: a stored blob if there is one, else made again from its directory. */
  async openLayerTar(diffId: Digest): Promise<{ stream: Readable; size: number }> {
    const r = await this.layerRecord(diffId);
    if (r === undefined) throw new StoreError(`layer ${diffId} is not in the store`);
    const plain = r.blobs.find((b) => b.digest === diffId);
    if (plain && (await this.blobs.has(plain.digest))) return { stream: this.blobs.open(plain.digest) as Readable, size: r.size };
    const { diffDirectory, gunzipStream, reassembleTar } = await layerModule();
    if (r.tarSplit) {
      const { gunzipSync } = await zlib();
      const split = gunzipSync(await readFile(this.tarSplitPath(diffId)).catch((err: NodeJS.ErrnoException) => {
        throw new StoreError(err.code === "ENOENT" ? `layer ${diffId}: its tar-split record is missing; run \`berth system check\`` : `layer ${diffId}: ${err.message}`);
      }));
      return { stream: verifyDigest(reassembleTar(split, join(this.root, "l", r.dir)), diffId, `layer ${diffId} (made again from l/${r.dir})`), size: r.size };
    }
    if (r.reproducible) {
      return { stream: diffDirectory(join(this.root, "l", r.dir), r.sourceDateEpoch !== undefined ? { sourceDateEpoch: r.sourceDateEpoch } : {}), size: r.size };
    }
    const gz = r.blobs.find((b) => b.mediaType.endsWith("gzip"));
    if (gz) return { stream: (this.blobs.open(gz.digest) as Readable).pipe(gunzipStream(`layer ${diffId}`) as Transform), size: r.size };
    throw new StoreError(`layer ${diffId} has no stored blob and cannot be recreated`);
  }

  /**
   * A gzip blob of the layer ("compress lazily"): made the first time save or push needs it,
   * recorded in the layer record, then kept.
   */
  async compressedLayerBlob(diffId: Digest): Promise<Descriptor> {
    const r = await this.layerRecord(diffId);
    if (r === undefined) throw new StoreError(`layer ${diffId} is not in the store`);
    const have = r.blobs.find((b) => b.mediaType === MediaType.OciLayerGzip || b.mediaType === MediaType.DockerLayerGzip);
    if (have && (await this.blobs.has(have.digest))) return have;
    const { stream } = await this.openLayerTar(diffId);
    const { parallelGzip } = await layerModule();
    const { digest, size } = await this.blobs.put(stream.pipe(parallelGzip()));
    const desc: Descriptor = { mediaType: MediaType.OciLayerGzip, digest, size };
    await this.withLock("layers", async () => {
      const cur = await this.layerRecord(diffId);
      if (cur && !cur.blobs.some((b) => b.digest === digest)) {
        cur.blobs.push(desc);
        await writeFileAtomic(this.layerRecordPath(diffId), JSON.stringify(cur));
      }
    });
    return desc;
  }

  /**
   * A blob by digest as an export (save, push) needs it: a stored blob, or a layer's plain tar
   * made again from its directory when the digest is that layer's diff_id.
   */
  async exportBlob(d: Digest): Promise<{ stream: Readable; size: number }> {
    if (await this.blobs.has(d)) return { stream: this.blobs.open(d) as Readable, size: await this.blobs.size(d) };
    const r = await this.layerRecord(d);
    if (r !== undefined) return this.openLayerTar(d);
    throw new StoreError(`blob ${d} is missing from the store`);
  }

  // ---------------------------------------------------------------- snapshots

  /**
   * Fresh upper/work dirs over the parents. `durable: false` skips the fsyncs of owner.json
   * (for a snapshot nobody keeps, such as a `run --rm` container's: after a power cut its
   * owner is gone either way, and `system check --repair` removes a snapshot without owner).
   */
  /**
   * A fresh upper/work dir over `parents` (bottom first): diff_ids, looked up, or layers the
   * caller holds (a build's, some still being committed: see detachSnapshot), used as they are.
   */
  async prepareSnapshot(parents: readonly (Digest | LayerInfo)[], opts: { durable?: boolean } = {}): Promise<Snapshot> {
    const lowers: string[] = [];
    const parentDiffIds: Digest[] = [];
    for (const p of parents) {
      const l = typeof p === "string" ? await this.layer(p) : p;
      if (l === undefined) throw new StoreError(`cannot prepare a snapshot: layer ${p as string} is not in the store`);
      lowers.unshift(l.dir);
      // a layer still being committed has no diff_id yet, nor a record for gc to remove
      if (l.diffId !== PENDING_DIFF_ID) parentDiffIds.push(l.diffId);
    }
    dropRepeatedLowerDirs(lowers);
    if (lowers.length === 0) lowers.push(join(this.root, "l", "empty"));
    const id = randomBytes(6).toString("hex");
    this.noteLeftover("s", id);
    const dir = join(this.root, "s", id);
    // synchronous: three tiny calls, cheaper than three thread-pool round trips per build step
    mkdirSync(join(dir, "u"), { recursive: true, mode: 0o755 });
    mkdirSync(join(dir, "w"), { mode: 0o700 });
    const owner = JSON.stringify({ pid: process.pid, parents: parentDiffIds, created: new Date().toISOString() });
    if (opts.durable === false) writeFileSync(join(dir, "owner.json"), owner, { mode: 0o644 });
    else await writeFileAtomic(join(dir, "owner.json"), owner);
    return { id, lowerDirs: lowers, upperDir: join(dir, "u"), workDir: join(dir, "w") };
  }

  /**
   * The snapshot's upper dir (unmounted by now) becomes a layer. By default the upper dir itself
   * moves into l/ as the layer dir — no copy — and the snapshot is gone afterwards (a build
   * step's transient container). With `keep` the snapshot stays as it is (a container that goes
   * on running after `commit`): the diff is applied into a new layer dir, its tar kept as a blob.
   */
  async commitSnapshot(s: Snapshot, opts: { sourceDateEpoch?: number; keep?: boolean; noXattrs?: boolean } = {}): Promise<LayerInfo> {
    if (opts.keep) {
      const { diffDirectory } = await layerModule();
      const prepared = await this.prepareLayer(diffDirectory(join(this.snapshotDir(s), "u"), snapshotDiffOptions(opts)), { source: `snapshot ${s.id}` });
      try {
        return await prepared.commit();
      } finally {
        await prepared.discard();
      }
    }
    // nothing mounts the detached dir: a layer that existed already lets it go at once
    const { layer, leftover } = await this.commitDetached(this.detachSnapshot(s), opts);
    if (leftover !== undefined) await removeTree(leftover);
    return layer;
  }

  /**
   * commitSnapshot in two halves, for a build that goes on while the layer's digest is made.
   * This one moves the upper dir to its place under l/ at once (a later step may mount it as a
   * lower dir meanwhile: nothing writes it any more) and drops the rest of the snapshot;
   * commitDetached digests and records it. Until then the dir has no record: `system check`
   * leaves such dirs alone for gc's grace period.
   */
  detachSnapshot(s: Snapshot): string {
    const dir = this.snapshotDir(s);
    const name = randomBytes(6).toString("hex");
    this.noteLeftover("l", name);
    const target = join(this.root, "l", name);
    renameSync(join(dir, "u"), target);
    rmSync(dir, { recursive: true, force: true });
    return target;
  }

  /**
   * The second half of a detached commit. `yieldMs`: the digest walk gives the event loop a
   * turn that often, so the build's next step starts while it runs. When the diff_id is in
   * the store already, that layer comes back and `leftover` is the detached dir, for the
   * caller to remove once no container can be using it.
   */
  async commitDetached(layerDir: string, opts: { sourceDateEpoch?: number; noXattrs?: boolean; yieldMs?: number } = {}): Promise<{ layer: LayerInfo; leftover?: string }> {
    const { digestDirectory } = await layerModule();
    const { diffId, size, opaque, contentSize } = await digestDirectory(layerDir, { ...snapshotDiffOptions(opts), ...(opts.yieldMs !== undefined ? { yieldMs: opts.yieldMs } : {}) });
    const fields = { reproducible: true, opaque, contentSize, ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}) };
    return this.recordLayerDir(diffId, size, fields, layerDir);
  }

  /**
   * `sync`: remove it with synchronous calls, for a process with nothing else to do meanwhile
   * (a `run --rm` ending): several times faster for small trees than an async recursive rm, whose
   * every lstat/readdir/unlink is a thread-pool round trip — but it blocks the event loop
   * for as long as a big tree takes.
   */
  async removeSnapshot(s: Snapshot, opts: { sync?: boolean } = {}): Promise<void> {
    if (opts.sync === true) rmSync(this.snapshotDir(s), { recursive: true, force: true });
    else await removeTree(this.snapshotDir(s));
  }

  private snapshotDir(s: Snapshot): string {
    if (!/^[a-f0-9]{12}$/.test(s.id)) throw new StoreError(`invalid snapshot id ${JSON.stringify(s.id)}`);
    return join(this.root, "s", s.id);
  }

  // ---------------------------------------------------------------- images

  private imageEntryPath(id: Digest): string {
    return join(this.root, "images", `${digestHex(id)}.json`);
  }

  /**
   * Adds an image from its exact config bytes (the ID is their digest) and, when given, the
   * exact manifest bytes (kept so that save → load keeps the manifest digest).
   */
  async addImage(configBytes: Buffer, opts: { manifestBytes?: Buffer; tags?: string[]; repoDigests?: string[] } = {}): Promise<ImageRecord> {
    const config = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
    const diffIds = config.rootfs?.diff_ids ?? [];
    const layerDescs: Descriptor[] = (await Promise.all(diffIds.map((d) => this.layerRecord(d)))).map((r, i) => {
      if (r === undefined) throw new StoreError(`cannot create image: layer ${diffIds[i]} is not in the store`);
      return r.blobs[0] ?? { mediaType: MediaType.OciLayer, digest: r.diffId, size: r.size };
    });
    const cfg = { digest: sha256Digest(configBytes), size: configBytes.length };
    let manifestBytes = opts.manifestBytes;
    if (manifestBytes === undefined) {
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size },
        layers: layerDescs,
      };
      manifestBytes = Buffer.from(JSON.stringify(manifest));
    }
    const manifestDigest = sha256Digest(manifestBytes);
    const tags = (opts.tags ?? []).map((t) => tagKey(t));
    const digestRefs = (opts.repoDigests ?? []).map((r) => digestKey(r));
    const path = this.imageEntryPath(cfg.digest);
    const existing = await readRecordFile(path).then((s) => JSON.parse(s) as ImageEntry, () => undefined);
    const entry: ImageEntry | undefined = existing === undefined || existing.manifestDigest !== manifestDigest
      ? { id: cfg.digest, manifestDigest, added: existing?.added ?? new Date().toISOString() }
      : undefined;
    // Two flushes of the file system (each a journal commit and a device flush, the cost here)
    // instead of an fsync per file and directory: every new file is written to a temp name,
    // one sync makes them durable (with the layers they name), then all are renamed into place
    // — blobs, then the entry, then refs.json, in that order in the journal, so a crash leaves
    // a prefix of them — and a second sync makes the renames durable.
    const lock = refsChange({ ...(await this.readRefs()) }, cfg.digest, tags, digestRefs) ? await this.lockRefs() : undefined;
    const temps: string[] = [];
    try {
      const publish: (() => void)[] = [];
      for (const bytes of [configBytes, manifestBytes]) publish.push(this.blobs.stage(bytes).publish);
      if (entry !== undefined) {
        const tmp = this.stagingPath("image");
        writeFileSync(tmp, JSON.stringify(entry), { flag: "wx", mode: 0o644 });
        temps.push(tmp);
        publish.push(() => renameSync(tmp, path));
      }
      if (lock !== undefined) {
        const refs = await this.readRefs();
        if (refsChange(refs, cfg.digest, tags, digestRefs)) {
          const tmp = this.stagingPath("refs");
          writeFileSync(tmp, refsText(refs), { flag: "wx", mode: 0o644 });
          temps.push(tmp);
          publish.push(() => renameSync(tmp, this.refsPath()));
        }
      }
      await this.syncNow();
      for (const p of publish) p();
      temps.length = 0;
      await syncFileSystem(this.root);
    } finally {
      for (const t of temps) rmSync(t, { force: true });
      await lock?.release();
    }
    return this.imageById(cfg.digest);
  }

  createImage(config: ImageConfig, opts: { tags?: string[] } = {}): Promise<ImageRecord> {
    return this.addImage(Buffer.from(JSON.stringify(config)), opts);
  }

  /** Synchronous underneath, as the records' reads (see readRecordFile): one stat. */
  async imageExists(id: Digest): Promise<boolean> {
    return existsSync(this.imageEntryPath(id));
  }

  async imageById(id: Digest, refs?: Record<string, Digest>): Promise<ImageRecord> {
    let entry: ImageEntry;
    try {
      entry = JSON.parse(await readRecordFile(this.imageEntryPath(id))) as ImageEntry;
    } catch {
      throw new NoSuchImageError(id);
    }
    // the config and the manifest side by side (each is a verified blob read)
    const [configBytes, manifestBytes] = await Promise.all([this.blobs.read(entry.id), this.blobs.read(entry.manifestDigest)]);
    const config = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
    const manifest = JSON.parse(manifestBytes.toString("utf8")) as ImageManifest;
    // the layer records (and refs) side by side: one thread-pool round trip instead of one per layer
    const diffIds = config.rootfs?.diff_ids ?? [];
    const [found, allRefs] = await Promise.all([Promise.all(diffIds.map((d) => this.layer(d))), refs ?? this.readRefs()]);
    const layers = found.map((l, i) => {
      if (l === undefined) throw new StoreError(`image ${shortId(id)} is broken: layer ${diffIds[i]} is missing; run \`berth system check\``);
      return l;
    });
    // refs.json holds tags (`name:tag`) and, for images pulled from or pushed to a registry,
    // digest references (`name@sha256:…`): Docker's RepoTags and RepoDigests
    const mine = Object.entries(allRefs).filter(([, v]) => v === id).map(([k]) => k);
    const repoTags = mine.filter((k) => !k.includes("@")).map((k) => familiarString(parseReference(k))).sort();
    const repoDigests = mine.filter((k) => k.includes("@")).map((k) => familiarString(parseReference(k))).sort();
    return { id, manifestDigest: entry.manifestDigest, config, manifest, repoTags, repoDigests, layers, added: entry.added, size: layers.reduce((a, l) => a + l.contentSize, 0) };
  }

  async listImageIds(): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const f of await readdir(join(this.root, "images"))) {
      const d = `sha256:${f.replace(/\.json$/, "")}`;
      if (f.endsWith(".json") && isDigest(d)) out.push(d);
    }
    return out;
  }

  async listImages(): Promise<ImageRecord[]> {
    const refs = await this.readRefs();
    const out: ImageRecord[] = [];
    for (const id of await this.listImageIds()) out.push(await this.imageById(id, refs));
    return out;
  }

  /**
   * `name[:tag]`, `name@sha256:…`, a full ID (`sha256:…` or 64 hex) or a unique ID prefix, as
   * Docker resolves them: a name that is tagged wins over an ID prefix that looks the same.
   */
  async resolveImage(refOrId: string): Promise<ImageRecord> {
    return this.imageById(await this.resolveImageId(refOrId));
  }

  async resolveImageId(refOrId: string): Promise<Digest> {
    if (isDigest(refOrId)) {
      if (await this.imageExists(refOrId)) return refOrId;
      throw new NoSuchImageError(refOrId);
    }
    const refs = await this.readRefs();
    let parsed;
    try {
      parsed = parseReference(refOrId);
    } catch (err) {
      if (!(err instanceof InvalidReferenceError) || !looksLikeImageId(refOrId)) {
        throw new StoreError(err instanceof Error ? err.message : String(err), { exitCode: 125 });
      }
    }
    if (parsed !== undefined) {
      if (parsed.digest !== undefined) {
        const byRef = refs[formatReference({ ...parsed, tag: undefined })];
        if (byRef !== undefined) return byRef;
        for (const id of await this.listImageIds()) {
          if (id === parsed.digest) return id;
          const e = JSON.parse(await readFile(this.imageEntryPath(id), "utf8")) as ImageEntry;
          if (e.manifestDigest === parsed.digest) return id;
        }
      } else {
        const key = formatReference({ ...parsed, tag: parsed.tag ?? DEFAULT_TAG });
        const id = refs[key];
        if (id !== undefined) return id;
      }
    }
    if (looksLikeImageId(refOrId)) {
      const prefix = refOrId.replace(/^sha256:/, "");
      const matches = (await this.listImageIds()).filter((id) => digestHex(id).startsWith(prefix));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new StoreError(`image ID prefix ${JSON.stringify(refOrId)} is ambiguous: it matches ${matches.length} images`);
    }
    throw new NoSuchImageError(refOrId);
  }

  /** Removes an image record (not its tags, not its layers: see Images.remove and gc). */
  async removeImageEntry(id: Digest): Promise<void> {
    await rm(this.imageEntryPath(id), { force: true });
  }

  // ---------------------------------------------------------------- references

  private refsPath(): string {
    return join(this.root, "refs.json");
  }

  async readRefs(): Promise<Record<string, Digest>> {
    try {
      return JSON.parse(await readRecordFile(this.refsPath())) as Record<string, Digest>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw new StoreError(`${this.refsPath()} is unreadable: ${(err as Error).message}; run \`berth system check --repair\``);
    }
  }

  /** Changes refs.json under the refs lock; `change` returns false to leave it untouched. */
  async updateRefs(change: (refs: Record<string, Digest>) => boolean | Promise<boolean>): Promise<void> {
    await this.withLock("refs", () => this.writeRefsLocked(change));
  }

  private lockRefs(): Promise<HeldLock> {
    return acquireFlock(join(this.root, "locks", "refs.lock"));
  }

  /** updateRefs' body, for a caller that holds the refs lock. */
  private async writeRefsLocked(change: (refs: Record<string, Digest>) => boolean | Promise<boolean>): Promise<void> {
    const refs = await this.readRefs();
    if (await change(refs)) {
      await writeFileAtomic(this.refsPath(), refsText(refs));
    }
  }

  async tag(ref: string, id: Digest): Promise<void> {
    const key = tagKey(ref);
    if (!(await this.imageExists(id))) throw new NoSuchImageError(id);
    // already so (a no-op rebuild re-tags): refs.json is replaced by rename, so a read without
    // the lock is a consistent state, and skipping the lock saves a flock process
    if (!refsChange(await this.readRefs(), id, [key], [])) return;
    await this.updateRefs((refs) => refsChange(refs, id, [key], []));
  }

  /**
   * Records `repo@sha256:<manifest digest>` → image, as Docker does after a pull or push (the
   * digest the registry knows: the image's RepoDigests). Like Docker's reference store, a digest
   * reference never moves to another image: the first one stays.
   */
  async addDigestReference(ref: string, id: Digest): Promise<void> {
    const key = digestKey(ref);
    if (!(await this.imageExists(id))) throw new NoSuchImageError(id);
    if (!refsChange(await this.readRefs(), id, [], [key])) return;
    await this.updateRefs((refs) => refsChange(refs, id, [], [key]));
  }

  async untag(ref: string): Promise<void> {
    const key = normalizeTag(ref);
    let found = true;
    await this.updateRefs((refs) => {
      if (!(key in refs)) {
        found = false;
        return false;
      }
      delete refs[key];
      return true;
    });
    if (!found) throw new NoSuchImageError(ref);
  }

  // ---------------------------------------------------------------- containers

  private containerPath(id: string): string {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(id)) throw new StoreError(`invalid container id ${JSON.stringify(id)}`);
    return join(this.root, "c", id);
  }

  async containerDir(id: string, opts: { create?: boolean } = {}): Promise<string> {
    const dir = this.containerPath(id);
    if (opts.create) await mkdir(dir, { recursive: true, mode: 0o711 });
    else if (!(await stat(dir).then(() => true, () => false))) throw new StoreError(`No such container: ${id}`);
    return dir;
  }

  async listContainerIds(): Promise<string[]> {
    return (await readdir(join(this.root, "c"))).filter((n) => !n.startsWith(".")).sort();
  }

  async removeContainerDir(id: string): Promise<void> {
    // synchronous: the runtime's own dozen small files (the container's data lives in its
    // snapshot), far cheaper than ~40 thread-pool round trips of an async recursive rm
    rmSync(this.containerPath(id), { recursive: true, force: true });
  }

  /** Image IDs that containers' record.json files name (what rmi and prune must not remove). */
  async imagesInUse(): Promise<Map<Digest, string[]>> {
    const used = new Map<Digest, string[]>();
    for (const id of await this.listContainerIds()) {
      try {
        const rec = JSON.parse(await readFile(join(this.root, "c", id, "record.json"), "utf8")) as { imageId?: string; name?: string };
        if (rec.imageId !== undefined && isDigest(rec.imageId)) used.set(rec.imageId, [...(used.get(rec.imageId) ?? []), id]);
      } catch {
        // a container being created has no record yet
      }
    }
    return used;
  }

  // ---------------------------------------------------------------- build cache

  private cachePath(key: string): string {
    return join(this.root, "cache", `${createHash("sha256").update(key).digest("hex")}.json`);
  }

  async getCacheEntry(key: string): Promise<CacheEntry | undefined> {
    try {
      const rec = JSON.parse(await readRecordFile(this.cachePath(key))) as { key: string; entry: CacheEntry };
      return rec.key === key ? rec.entry : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Writes a build cache entry once the layers it names are durable. The entry itself is not
   * fsync'd: a crash may lose it or leave it empty, and getCacheEntry takes an unreadable entry
   * for a miss — a lost hit, never a hit on a missing layer.
   */
  async putCacheEntry(key: string, entry: CacheEntry): Promise<void> {
    await this.layersDurable(entry.layers);
    await replaceFile(this.cachePath(key), JSON.stringify({ key, entry, written: new Date().toISOString() }));
  }

  /** Every build-cache record; `written` (ISO 8601) is when it was last put, `bytes` its record's size. */
  async listCacheEntries(): Promise<{ file: string; key: string; entry: CacheEntry; written?: string; bytes?: number }[]> {
    const out: { file: string; key: string; entry: CacheEntry; written?: string; bytes?: number }[] = [];
    for (const f of await readdir(join(this.root, "cache"))) {
      if (!f.endsWith(".json") || f.startsWith(".")) continue;
      try {
        const text = await readFile(join(this.root, "cache", f), "utf8");
        const rec = JSON.parse(text) as { key: string; entry: CacheEntry; written?: string };
        out.push({ file: f, key: rec.key, entry: rec.entry, ...(rec.written !== undefined ? { written: rec.written } : {}), bytes: Buffer.byteLength(text) });
      } catch {
        out.push({ file: f, key: "", entry: { layers: [] } });
      }
    }
    return out;
  }

  async removeCacheEntry(key: string): Promise<void> {
    await rm(this.cachePath(key), { force: true });
  }
}

export interface PrepareLayerOptions {
  source?: string;
  asRoot?: boolean;
  /** The tar is this staged file under tmp/: it becomes the blob by a rename. */
  adoptFile?: string;
  /** Keep a gzip layer's own bytes as a blob (default); false: keep what a plain tar keeps. */
  keepCompressed?: boolean;
}

/** `stream`, failing at its end unless its bytes hash to `digest`. */
export function verifyDigest(stream: Readable, digest: Digest, what: string): Readable {
  const verify = verifyingTransform(digest, (got) => new StoreError(`${what}: content hashes to ${got}, not ${digest}; run \`berth system check\``));
  stream.on("error", (err) => verify.destroy(err));
  return stream.pipe(verify);
}

async function writeFileDurable(path: string, data: Buffer): Promise<void> {
  const fh = await open(path, "wx", 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A layer applied into staging by prepareLayer, not yet part of the store. */
export interface PreparedLayer {
  digest: Digest;
  diffId: Digest;
  size: number;
  compression: "gzip" | "none";
  commit(expect?: { expectedDigest?: Digest; expectedDiffId?: Digest }): Promise<LayerInfo>;
  discard(): Promise<void>;
}

export function openStore(root?: string): Promise<Store> {
  return Store.open(root);
}

/** A tag as refs.json keys it (`docker.io/library/busybox:latest`); exit 125 when invalid. */
function tagKey(ref: string): string {
  try {
    return normalizeTag(ref);
  } catch (err) {
    throw new StoreError((err as Error).message, { exitCode: 125 });
  }
}

/** A digest reference as refs.json keys it (`repo@sha256:…`); exit 125 when invalid. */
function digestKey(ref: string): string {
  try {
    const parsed = parseReference(ref);
    if (parsed.digest === undefined) throw new InvalidReferenceError(ref, "a digest reference needs a digest");
    return formatReference({ ...parsed, tag: undefined });
  } catch (err) {
    throw new StoreError((err as Error).message, { exitCode: 125 });
  }
}

/**
 * Points `tags` at `id` (a tag moves) and adds `digests` (a digest reference never moves, as in
 * Docker's reference store); returns whether `refs` changed.
 */
/** refs.json's text: sorted keys, one per line. */
function refsText(refs: Record<string, Digest>): string {
  const sorted = Object.fromEntries(Object.entries(refs).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `${JSON.stringify(sorted, null, 1)}\n`;
}

function refsChange(refs: Record<string, Digest>, id: Digest, tags: readonly string[], digests: readonly string[]): boolean {
  let changed = false;
  for (const k of tags) {
    if (refs[k] === id) continue;
    refs[k] = id;
    changed = true;
  }
  for (const k of digests) {
    if (refs[k] !== undefined) continue;
    refs[k] = id;
    changed = true;
  }
  return changed;
}

/**
 * An image may hold one layer several times (the same `COPY a /a` twice: one diff_id, one dir),
 * and overlayfs refuses a lower dir it has already (ELOOP, "Too many levels of symbolic links").
 * Only the topmost occurrence of each dir is kept (`lowers` is top first): a repeated layer has
 * every entry, whiteout and opaque dir that the lower occurrence had, so whatever the lower one
 * showed or hid, the upper one shows or hides again above it, and the merged tree is the same.
 */
function dropRepeatedLowerDirs(lowers: string[]): void {
  if (new Set(lowers).size === lowers.length) return;
  const seen = new Set<string>();
  let kept = 0;
  for (const dir of lowers) {
    if (seen.has(dir)) continue;
    seen.add(dir);
    lowers[kept++] = dir;
  }
  lowers.length = kept;
}
