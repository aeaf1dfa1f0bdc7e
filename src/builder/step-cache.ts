import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import type { Digest } from "../image/digest.js";
import type { HistoryEntry } from "../image/types.js";
import type { Instruction } from "../instructions/index.js";
import { BerthError } from "../errors.js";
import { trace } from "../sys/trace.js";
import { PENDING_DIFF_ID } from "../store/store.js";
import type { BuilderStore } from "./store-port.js";
import type { CacheEntry, LayerInfo, Snapshot } from "../store/types.js";
import type { CacheExchange } from "./cache-exchange.js";
import { BuildError } from "./errors.js";
import type { BuildEvent } from "./events.js";
import { formatTime, HISTORY_COMMENT } from "./history.js";
import { cacheKey, explainMiss, type KeyInputs } from "./keys.js";
import type { StageState } from "./stage-state.js";
import { removeTree } from "../sys/remove-tree.js";

/** The cache record of one layer step. */
interface StepRecord {
  layers: Digest[];
  diffId: Digest | null;
  created: string;
  [k: string]: unknown;
}

/** The last inputs seen at a Dockerfile position, for --explain. */
interface SlotRecord {
  layers: Digest[];
  inputs: KeyInputs;
  [k: string]: unknown;
}

function stepRecord(layer: LayerInfo | undefined, created: string): StepRecord {
  return { layers: layer !== undefined ? [layer.diffId] : [], diffId: layer?.diffId ?? null, created };
}

function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Where a layer step is: its stage, its position there (ONBUILD triggers first), and how its cache is used. */
export interface StepPlace {
  index: number;
  position: number;
  state: StageState;
  noCache: boolean;
  onbuild: boolean;
  node?: Instruction;
}

export interface StepCacheOptions {
  store: BuilderStore;
  epoch: number | undefined;
  emit(e: BuildEvent): void;
  deferCleanup(p: Promise<void>): void;
  /** What names this Dockerfile position across builds (context, Dockerfile, target), for --explain. */
  slotPrefix: string;
  /** A step of the stage missed: what follows will run (see Builder.noteMiss). */
  noteMiss(index: number, node: Instruction | undefined): void;
}

/**
 * The build cache as steps use it: a step's key is looked up (in the store, then in a shared
 * cache), a miss runs over a fresh snapshot whose layer is committed behind the build, and its
 * cache entry and --explain inputs are written behind the build too.
 */
export class StepCache {
  /** --cache-from / --cache-to (src/builder/cache-exchange.ts), when given. */
  exchange: CacheExchange | undefined;
  cached = 0;
  executed = 0;
  /**
   * Step cache entries written behind the build (see putEntry): what is not on disk yet, and
   * the chain of writes in order, with its first failure.
   */
  private readonly pendingEntries = new Map<string, CacheEntry>();
  private readonly entryWrites = new Map<string, Promise<void>>();
  private entryWriteError: unknown;
  /** Layers being committed behind the build (commitBehind), and dirs their commits left over. */
  private readonly commits = new Map<LayerInfo, Promise<LayerInfo>>();
  private readonly leftoverDirs: string[] = [];

  constructor(private readonly options: StepCacheOptions) {}

  private get store(): BuilderStore {
    return this.options.store;
  }

  private slotKey(s: { index: number; position: number }): string {
    return `slot:${sha(`${this.options.slotPrefix}\0${s.index}\0${s.position}`)}`;
  }

  /**
   * A step that makes a layer: look the key up; on a miss run `execute` over a fresh snapshot,
   * commit it (an empty change makes no layer, history says empty_layer as BuildKit's exporter),
   * record the result and the inputs for --explain.
   */
  async layerStep(
    s: StepPlace,
    id: number,
    keyInputs: KeyInputs,
    createdBy: string,
    /** `previous`: the layer the last build of this step (this Dockerfile position) made, if any is still in the store. */
    execute: (snap: Snapshot, previous: () => Promise<LayerInfo | undefined>) => Promise<void>,
    explainFiles?: () => Promise<Record<string, string> | undefined>,
    /** The step writes the upper dir itself and sets no xattrs (COPY, ADD, WORKDIR), RUN does not. */
    noXattrs = false,
  ): Promise<{ ready: Promise<LayerInfo | undefined> }> {
    const { emit, epoch } = this.options;
    const state = s.state;
    let inputs = keyInputs;
    const key = cacheKey(inputs);
    let record: StepRecord | undefined;
    let reasons: string[] | undefined;
    if (!s.noCache) {
      const entry = (await this.getEntry(key)) as StepRecord | undefined;
      if (entry !== undefined && (entry.diffId === null || (await this.store.layer(entry.diffId)) !== undefined)) record = entry;
      // A local miss may be a hit in a shared cache (--cache-from), which pulls the step's layer.
      else if (this.exchange !== undefined) record = (await this.exchange.lookup(key)) as StepRecord | undefined;
    } else reasons = ["--no-cache"];
    let layer: LayerInfo | undefined;
    let created = record?.created;
    if (record !== undefined) {
      this.cached++;
      emit({ type: "cached", id, time: Date.now() });
      if (record.diffId !== null) layer = await this.store.layer(record.diffId);
    } else {
      this.executed++;
      this.options.noteMiss(s.index, s.node);
      const slot = this.slotKey(s);
      if (explainFiles !== undefined) {
        const files = await explainFiles();
        if (files !== undefined) inputs = { ...inputs, files };
      }
      const prev = (await this.getEntry(slot)) as SlotRecord | undefined;
      reasons ??= explainMiss(prev?.inputs, inputs);
      const prevKey = prev !== undefined ? cacheKey(prev.inputs) : undefined;
      emit({ type: "explain", id, reasons, time: Date.now() });
      // not durable: a build step's snapshot does not outlive a crash (check --repair removes
      // a snapshot without a readable owner); saves two fsyncs per step
      trace(`build: step ${id} runs`);
      const madeAt = epoch !== undefined ? formatTime(new Date(epoch * 1000)) : formatTime(new Date());
      created = madeAt;
      const snap = await this.store.prepareSnapshot(state.layers, { durable: false });
      let committed = false;
      const previous = async (): Promise<LayerInfo | undefined> => {
        const before = prevKey !== undefined ? ((await this.getEntry(prevKey)) as StepRecord | undefined) : undefined;
        return typeof before?.diffId === "string" ? this.store.layer(before.diffId) : undefined;
      };
      try {
        await execute(snap, previous);
        trace(`build: step ${id} executed`);
        this.store.flushEarly();
        if (readdirSync(snap.upperDir).length > 0) {
          const commitOpts = { ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}), noXattrs };
          if (this.exchange === undefined) {
            // The layer's digest is made while the next steps run (their containers mount the
            // dir meanwhile); its cache entry follows it. A shared cache export wants the
            // record now: it commits in line.
            layer = this.commitBehind(this.store.detachSnapshot(snap), commitOpts, (made) => {
              trace(`build: step ${id} committed`);
              this.putEntry(key, stepRecord(made, madeAt));
            });
          } else layer = await this.store.commitSnapshot(snap, commitOpts);
          committed = true;
        }
      } finally {
        // removed behind the build (the end of the build waits for it)
        if (!committed) this.options.deferCleanup(this.store.removeSnapshot(snap));
      }
      if (layer === undefined || layer.diffId !== PENDING_DIFF_ID) {
        trace(`build: step ${id} committed`);
        record = stepRecord(layer, madeAt);
        this.putEntry(key, record);
      }
      // The position's inputs only need writing when they changed (not on --no-cache reruns).
      if (prevKey !== key || prevKey === undefined) {
        const slotRecord: SlotRecord = { layers: [], inputs };
        this.putEntry(slot, slotRecord);
      }
    }
    if (record !== undefined) this.exchange?.use(s.index, key, record);
    if (layer !== undefined) state.layers.push(layer);
    state.key = key;
    const entry: HistoryEntry = { created_by: createdBy, comment: HISTORY_COMMENT };
    if (layer === undefined) entry.empty_layer = true;
    const range = s.onbuild ? undefined : s.node?.range;
    state.newHistory.push({ entry, layerCreated: created, ...(range !== undefined ? { lines: [range.start.line, range.end.column === 1 && range.end.line > range.start.line ? range.end.line - 1 : range.end.line] as [number, number] } : {}) });
    // the step's layer once its digest is made (wrapped: an async function would wait for it)
    return { ready: layer !== undefined ? (this.commits.get(layer) ?? Promise.resolve(layer)) : Promise.resolve(undefined) };
  }

  /**
   * Commits a detached layer dir behind the build (Store.commitDetached) and returns the layer
   * for the next steps to mount now: its diff_id and sizes are filled in when the digest is
   * made, and `then` runs. A dir the store did not need (the layer existed) is removed at the
   * build's end, once no container can be using it. The build waits for every commit before it
   * names layers in an image and before it returns or fails.
   */
  private commitBehind(dir: string, opts: { sourceDateEpoch?: number; noXattrs?: boolean }, then: (made: LayerInfo) => void): LayerInfo {
    const layer: LayerInfo = { diffId: PENDING_DIFF_ID, size: 0, contentSize: 0, dir };
    const done = this.store.commitDetached(dir, { ...opts, yieldMs: 0.25 }).then(({ layer: made, leftover }) => {
      if (leftover !== undefined) this.leftoverDirs.push(leftover);
      Object.assign(layer, made);
      then(layer);
      return layer;
    });
    done.catch(() => undefined); // awaited at the build's end (waitForCommits)
    this.commits.set(layer, done);
    return layer;
  }

  /** Every commit made behind the build; the first failure is thrown. */
  async waitForCommits(): Promise<void> {
    await Promise.all(this.commits.values());
  }

  /**
   * Writes a step's cache entry behind the build: each write (temp file, fsync, rename, fsync of
   * the dir) overlaps the next steps instead of delaying them, and the writes run side by side,
   * one after another only for the same key. The store writes an entry only once the layers it
   * names are durable (Store.putCacheEntry), so a crash can lose entries, never point one at a
   * missing layer; lookups in this build see pending entries; the build waits for all of them
   * before it returns or fails.
   */
  putEntry(key: string, entry: CacheEntry): void {
    this.pendingEntries.set(key, entry);
    const write = (this.entryWrites.get(key) ?? Promise.resolve()).then(() => this.store.putCacheEntry(key, entry)).then(
      () => {
        if (this.pendingEntries.get(key) === entry) this.pendingEntries.delete(key);
      },
      (err: unknown) => {
        this.entryWriteError ??= err;
      },
    );
    this.entryWrites.set(key, write);
  }

  async getEntry(key: string): Promise<CacheEntry | undefined> {
    return this.pendingEntries.get(key) ?? (await this.store.getCacheEntry(key));
  }

  /** Waits for the cache entries written behind the build; throws the first write's failure. */
  async flushEntries(): Promise<void> {
    await Promise.all(this.entryWrites.values());
    if (this.entryWriteError !== undefined) {
      const err = this.entryWriteError;
      throw err instanceof BerthError ? err : new BuildError(`writing the build cache failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The build's end, success or not: commits and entry writes settled (their cache entries kept). */
  async settle(): Promise<void> {
    // commits behind the build write their cache entries when they end
    await Promise.allSettled(this.commits.values());
    await Promise.allSettled(this.entryWrites.values());
  }

  /** Once no container runs any more: dirs of layers that turned out to exist already. */
  async removeLeftovers(): Promise<void> {
    await Promise.all(this.leftoverDirs.map((dir) => removeTree(dir).catch(() => undefined)));
  }
}
