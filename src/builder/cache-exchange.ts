import { availableParallelism } from "node:os";
import { PassThrough, type Readable } from "node:stream";
import { isDigest, type Digest } from "../image/digest.js";
import type { Descriptor } from "../image/types.js";
import type { BuildPlan } from "../plan/index.js";
import type { CacheIndex, CacheRecord, RegistryClient, RegistryClientOptions, RemoteReference } from "../registry/index.js";
import type { BuilderStore } from "./store-port.js";
import type { CacheEntry } from "../store/types.js";
import type { CacheExportSpec, CacheImportSpec } from "./cache-options.js";
import { BuildError } from "./errors.js";
import type { BuildEvent } from "./events.js";

/**
 * The shared build cache (`--cache-from` / `--cache-to`): BuildKit's remote cache for berth.
 *
 * Import: each source's index (cache key → the builder's step record, diff_id → layer blob) is
 * fetched once when the build starts; a key the local store does not have is looked up there,
 * and only on a hit are that step's layers pulled into the store (then the record is written
 * to the local cache too, so the next build on this store hits locally). A source that cannot
 * be read (unreachable, not a berth cache, corrupt index) is a warning naming it and the build
 * goes on without it, as BuildKit does; the store is not touched by a failed import.
 *
 * What "only the layers it needs" means here: the layer of every step that hits, and nothing
 * of steps that miss or stages not built. A stage used only through `COPY --from` still has its
 * hit layers pulled, because COPY's key includes the checksum of the files it copies, read from
 * those layers. (BuildKit tries a definition-based key first and reads files only when it
 * misses; berth could do the same by exporting COPY's definition key → content digest and
 * deferring layer pulls until a directory is read.)
 *
 * Export: after the image is made, the records of the steps this build used (hits and misses)
 * go out with their layers: `mode=min` the stages the image is built from (the target and
 * its FROM-stage chain), `mode=max` every stage built. A failure is the build's error (exit
 * non-zero) naming the destination, unless `ignore-error=true`.
 *
 * Keys are store-independent (parent chain from the base image ID, evaluated instruction, env,
 * content checksums; no paths, no local times), and a record carries the time its layer was
 * first made (BuildKit keeps the same in its cache as the `buildkit/createdat` layer
 * annotation "to support maintaining original timestamps"), so without SOURCE_DATE_EPOCH a
 * remote hit still gives the history times, and the image ID, the exporting machine built.
 */
export interface CacheExchangeStats {
  /** Steps whose record came from an imported cache. */
  remoteHits: number;
  /** Layers pulled for those hits, and their compressed bytes. */
  layersFetched: number;
  bytesFetched: number;
  /** Bytes of manifests and indexes read from imported caches. */
  indexBytes: number;
  exported: { to: string; digest: Digest; entries: number; layers: number }[];
}

export interface CacheExchangeOptions {
  store: BuilderStore;
  /** A platform of a multi-platform build: its cache is exported with the others' (CacheExportGroup). */
  group?: { group: CacheExportGroup; member: number };
  imports: readonly CacheImportSpec[];
  exports: readonly CacheExportSpec[];
  registry?: RegistryClientOptions;
  emit(e: BuildEvent): void;
  newId(): number;
  warn(message: string): void;
}

interface ImportedCache {
  label: string;
  index: CacheIndex;
  fetchLayer(diffId: Digest, desc: Descriptor): Promise<void>;
}

/** A step record as the builder writes it (src/builder/step-cache.ts StepRecord). */
function checkRecord(key: string, rec: unknown, layers: CacheIndex["layers"]): string | undefined {
  if (rec === null || typeof rec !== "object") return `entry ${key} is not an object`;
  const r = rec as Record<string, unknown>;
  if (!Array.isArray(r.layers) || !r.layers.every((d) => typeof d === "string" && isDigest(d) && layers[d] !== undefined)) return `entry ${key} names layers the index does not carry`;
  if (r.diffId !== null && !(typeof r.diffId === "string" && r.layers.includes(r.diffId))) return `entry ${key} has a bad diffId`;
  // It becomes the image's history time: an RFC 3339 time, as BuildKit parses buildkit/createdat.
  if (typeof r.created !== "string") return `entry ${key} has no created time`;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(r.created)) return `entry ${key} has a bad created time ${JSON.stringify(r.created).slice(0, 60)}`;
  return undefined;
}

/** Checks an index's shape so that a corrupt one is refused up front, not half-used. */
export function checkCacheIndex(index: unknown): string | undefined {
  if (index === null || typeof index !== "object") return "the index is not an object";
  const i = index as CacheIndex;
  if (i.version !== 1) return `index version ${String(i.version)} is not one berth reads`;
  if (i.entries === null || typeof i.entries !== "object" || i.layers === null || typeof i.layers !== "object") return "the index has no entries or layers";
  for (const [diffId, d] of Object.entries(i.layers)) {
    if (!isDigest(diffId) || d === null || typeof d !== "object" || typeof d.digest !== "string" || !isDigest(d.digest) || typeof d.size !== "number" || d.size < 0 || typeof d.mediaType !== "string") {
      return `layer ${diffId} has a bad descriptor`;
    }
  }
  for (const [key, rec] of Object.entries(i.entries)) {
    const bad = checkRecord(key, rec, i.layers);
    if (bad !== undefined) return bad;
  }
  return undefined;
}

/** The target stage and the stages it is built FROM: what `mode=min` exports. */
export function imageStageChain(plan: Pick<BuildPlan, "stages" | "target">): number[] {
  const chain: number[] = [];
  let i: number | undefined = plan.target;
  while (i !== undefined && !chain.includes(i)) {
    chain.push(i);
    const base: BuildPlan["stages"][number]["base"] | undefined = plan.stages[i]?.base;
    i = base?.kind === "stage" ? base.index : undefined;
  }
  return chain;
}

/**
 * `build --platform a,b` exports one cache for all its platforms, as BuildKit does (its
 * runCacheExporters hands every platform's result to one exporter and finalizes it once): each
 * platform's CacheExchange hands over the index it would export, per `--cache-to`, and member
 * 0's merges them (their keys differ: each chain starts at its platform's base image) and
 * exports it once every platform has. A platform that failed leaves without handing anything
 * over, and then nothing is exported (the build fails).
 */
export class CacheExportGroup {
  private readonly parts: (CacheIndex[] | undefined)[] = [];
  private pending: number;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(members: number) {
    this.pending = members;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** A member's indexes, one per `--cache-to` in order. */
  handOver(member: number, indexes: CacheIndex[]): void {
    if (member in this.parts) return;
    this.parts[member] = indexes;
    if (--this.pending === 0) this.resolveDone();
  }

  /** A member's build ended (called for every member, after handOver or instead of it). */
  leave(member: number): void {
    if (member in this.parts) return;
    this.parts[member] = undefined;
    if (--this.pending === 0) this.resolveDone();
  }

  /** The merged indexes, once every member has handed over or left; undefined when one failed. */
  async merged(): Promise<CacheIndex[] | undefined> {
    await this.done;
    if (this.parts.some((p) => p === undefined)) return undefined;
    const all = this.parts as CacheIndex[][];
    return all[0]!.map((_, i) => ({
      version: 1,
      entries: Object.assign({}, ...all.map((p) => p[i]!.entries)) as CacheIndex["entries"],
      layers: Object.assign({}, ...all.map((p) => p[i]!.layers)) as CacheIndex["layers"],
    }));
  }
}

export class CacheExchange {
  readonly stats: CacheExchangeStats = { remoteHits: 0, layersFetched: 0, bytesFetched: 0, indexBytes: 0, exported: [] };
  private readonly o: CacheExchangeOptions;
  private client: RegistryClient | undefined;
  private readonly sources: Promise<ImportedCache[]>;
  /** Stage index → cache key → record, for every layer step this build resolved. */
  private readonly used = new Map<number, Map<string, CacheEntry>>();
  private readonly inflight = new Map<string, Promise<void>>();

  private constructor(o: CacheExchangeOptions, registry: typeof import("../registry/index.js") | undefined) {
    this.o = o;
    if (registry !== undefined) this.client = new registry.RegistryClient(o.registry);
    this.sources = this.loadSources(registry);
    this.sources.catch(() => undefined);
  }

  /** Starts fetching the import indexes; a `--cache-to` ref that cannot be parsed fails here, before the build. */
  static async open(o: CacheExchangeOptions): Promise<CacheExchange> {
    const needsRegistry = [...o.imports, ...o.exports].some((s) => s.type === "registry");
    const registry = needsRegistry ? await import("../registry/index.js") : undefined;
    for (const spec of o.exports) {
      if (spec.type === "registry") {
        try {
          registry!.parseRemoteReference(spec.ref);
        } catch (err) {
          throw new BuildError(`--cache-to ${spec.text}: ${(err as Error).message}`, { exitCode: 125, cause: err });
        }
      }
    }
    return new CacheExchange(o, registry);
  }

  private async loadSources(registry: typeof import("../registry/index.js") | undefined): Promise<ImportedCache[]> {
    const out: ImportedCache[] = [];
    for (const spec of this.o.imports) {
      const label = spec.type === "registry" ? spec.ref : spec.src;
      const id = this.o.newId();
      this.o.emit({ type: "step", id, name: `importing cache manifest from ${label}`, time: Date.now() });
      try {
        const src = spec.type === "registry" ? await this.loadRegistry(registry!, spec.ref) : await this.loadLocal(spec);
        const bad = checkCacheIndex(src.index);
        if (bad !== undefined) throw new Error(`corrupt build cache index: ${bad}`);
        out.push(src);
      } catch (err) {
        this.o.warn(`--cache-from ${spec.text}: cannot import the build cache, building without it: ${(err as Error).message}`);
      }
      this.o.emit({ type: "done", id, time: Date.now() });
    }
    return out;
  }

  private async loadRegistry(registry: typeof import("../registry/index.js"), refText: string): Promise<ImportedCache> {
    const client = this.client!;
    const ref = registry.parseRemoteReference(refText);
    const { index } = await registry.fetchCacheIndex(client, ref);
    this.stats.indexBytes += Buffer.byteLength(JSON.stringify(index));
    return {
      label: refText,
      index,
      fetchLayer: async (diffId, desc) => {
        const fetched = await registry.fetchCacheLayers(client, this.o.store, ref, index, [diffId]);
        if (fetched.length > 0) this.countFetch(desc);
      },
    };
  }

  private async loadLocal(spec: Extract<CacheImportSpec, { type: "local" }>): Promise<ImportedCache> {
    const { readCacheLayout, openLayoutBlob } = await import("./cache-layout.js");
    const { index, bytes } = await readCacheLayout(spec.src, { tag: spec.tag, ...(spec.digest !== undefined ? { digest: spec.digest } : {}) });
    this.stats.indexBytes += bytes;
    return {
      label: spec.src,
      index,
      fetchLayer: async (diffId, desc) => {
        if ((await this.o.store.layer(diffId)) !== undefined) return;
        await this.o.store.importLayer(openLayoutBlob(spec.src, desc), { expectedDigest: desc.digest, expectedDiffId: diffId, source: `${spec.src} layer ${desc.digest}` });
        this.countFetch(desc);
      },
    };
  }

  private countFetch(desc: Descriptor): void {
    this.stats.layersFetched++;
    this.stats.bytesFetched += desc.size;
  }

  /**
   * A key the local cache missed: its record from the first imported cache that has it, with
   * the layers it needs now in the store and the record kept in the local cache.
   */
  async lookup(key: string): Promise<CacheEntry | undefined> {
    const sources = await this.sources;
    for (const src of sources) {
      const rec = src.index.entries[key];
      if (rec === undefined) continue;
      try {
        for (const diffId of rec.layers) await this.fetchOnce(src, diffId);
      } catch (err) {
        this.o.warn(`--cache-from ${src.label}: cannot fetch a cached layer, running the step instead: ${(err as Error).message}`);
        continue;
      }
      const entry: CacheEntry = { ...(rec as CacheRecord) };
      await this.o.store.putCacheEntry(key, entry);
      this.stats.remoteHits++;
      return entry;
    }
    return undefined;
  }

  /** Two stages hitting the same layer at once download it once. */
  private fetchOnce(src: ImportedCache, diffId: Digest): Promise<void> {
    const k = `${src.label}\0${diffId}`;
    let p = this.inflight.get(k);
    if (p === undefined) {
      p = src.fetchLayer(diffId, src.index.layers[diffId]!);
      this.inflight.set(k, p);
      p.catch(() => this.inflight.delete(k));
    }
    return p;
  }

  /** The record a layer step resolved to (hit or miss), for export. */
  use(stage: number, key: string, record: CacheEntry): void {
    let m = this.used.get(stage);
    if (m === undefined) this.used.set(stage, (m = new Map()));
    m.set(key, record);
  }

  /**
   * After the image is made: waits for the imports to settle (a fully local build may finish
   * before an index arrives, and its warnings belong to this build), then exports the cache to
   * every `--cache-to`; throws the first failure after trying them all.
   */
  async finish(plan: Pick<BuildPlan, "stages" | "target">, imageId: Digest): Promise<void> {
    await this.sources;
    if (this.o.exports.length === 0) return;
    let indexes = await Promise.all(this.o.exports.map((spec) => this.indexFor(spec.mode === "max" ? [...this.used.keys()] : imageStageChain(plan))));
    const g = this.o.group;
    if (g !== undefined) {
      g.group.handOver(g.member, indexes);
      if (g.member !== 0) return;
      const merged = await g.group.merged();
      if (merged === undefined) return;
      indexes = merged;
    }
    let failure: BuildError | undefined;
    for (const [i, spec] of this.o.exports.entries()) {
      const label = spec.type === "registry" ? spec.ref : spec.dest;
      const id = this.o.newId();
      this.o.emit({ type: "step", id, name: `exporting cache to ${spec.type === "registry" ? "registry" : "client directory"} ${label}`, time: Date.now() });
      try {
        const index = indexes[i]!;
        const digest = spec.type === "registry" ? await this.pushRegistry(spec.ref, index) : await this.writeLocal(spec.dest, spec.tag, index);
        this.stats.exported.push({ to: spec.text, digest, entries: Object.keys(index.entries).length, layers: Object.keys(index.layers).length });
        this.o.emit({ type: "done", id, time: Date.now() });
      } catch (err) {
        const message = `--cache-to ${spec.text}: failed to export the build cache (image ${imageId} was built): ${(err as Error).message}`;
        this.o.emit({ type: "error", id, message: (err as Error).message, time: Date.now() });
        if (spec.ignoreError) this.o.warn(message);
        else failure ??= new BuildError(message, { exitCode: 1, cause: err });
      }
    }
    if (failure !== undefined) throw failure;
  }

  private async indexFor(stages: number[]): Promise<CacheIndex> {
    const entries: Record<string, CacheRecord> = {};
    for (const s of stages) for (const [key, rec] of this.used.get(s) ?? []) entries[key] = rec as CacheRecord;
    const diffIds = [...new Set(Object.values(entries).flatMap((r) => r.layers))];
    const layers: Record<string, Descriptor> = {};
    const { mapLimit } = await import("../registry/limit.js");
    // The store gzips each layer once and keeps the blob ("compress lazily"); zlib uses the thread pool.
    await mapLimit(diffIds, availableParallelism(), async (diffId) => {
      const desc = await this.o.store.compressedLayerBlob(diffId);
      // containerd's and BuildKit's annotation, so other tools see what the blob unpacks to.
      layers[diffId] = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size, annotations: { "containerd.io/uncompressed": diffId } };
    });
    return { version: 1, entries, layers };
  }

  private openStoreBlob(desc: Descriptor): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    this.o.store.exportBlob(desc.digest).then(
      ({ stream }) => {
        stream.on("error", (err) => out.destroy(err));
        stream.pipe(out);
      },
      (err: unknown) => out.destroy(err as Error),
    );
    return out;
  }

  private async pushRegistry(refText: string, index: CacheIndex): Promise<Digest> {
    const registry = await import("../registry/index.js");
    const ref: RemoteReference = registry.parseRemoteReference(refText);
    return registry.pushCache(this.client!, ref, index, async (desc) => ({
      size: desc.size,
      open: (start) => {
        const stream = this.openStoreBlob(desc);
        if (start === 0) return stream;
        // A resumed upload: drop what the registry already has.
        let left = start;
        const out = new PassThrough();
        stream.on("data", (chunk: Buffer) => {
          if (left >= chunk.length) left -= chunk.length;
          else {
            out.write(chunk.subarray(left));
            left = 0;
          }
        });
        stream.on("end", () => out.end());
        stream.on("error", (err) => out.destroy(err));
        return out;
      },
    }));
  }

  private async writeLocal(dest: string, tag: string, index: CacheIndex): Promise<Digest> {
    const { writeCacheLayout } = await import("./cache-layout.js");
    return writeCacheLayout(dest, tag, index, async (desc) => this.openStoreBlob(desc));
  }

  close(): void {
    this.client?.close();
  }
}

export type { CacheExportSpec, CacheImportSpec };
