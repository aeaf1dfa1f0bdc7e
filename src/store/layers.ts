import { randomBytes } from "node:crypto";
import { renameSync } from "node:fs";
import { lstat, readFile, readdir, rename, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Readable, Transform } from "node:stream";
import { digestHex, isDigest, type Digest } from "../image/digest.js";
import { MediaType, type Descriptor } from "../image/types.js";
import { removeTree } from "../sys/remove-tree.js";
import { createFileLinked, fsyncDir, readRecordFile, writeFileAtomic } from "./atomic.js";
import { verifyingTransform, type BlobStore } from "./blobs.js";
import type { Durability } from "./durability.js";
import { StoreError } from "./errors.js";
import type { Locks } from "./locks.js";
import type { Staging } from "./staging.js";
import type { LayerInfo, LayerRecord } from "./types.js";

/**
 * The layer module (tar, gzip, xattr tools) loads on first use: most commands — `berth run`
 * above all — open the store only to read records and make a snapshot.
 */
export const layerModule = () => import("../layer/index.js");
/** Gzip detection and gunzip (zlib loads with its first use). */
export const compressionModule = () => import("../image/compression.js");
/** zlib, for tar-split records only (imports and exports): not loaded by builds. */
export const zlib = () => import("node:zlib");

/** The diff_id of a layer a build holds while its commit runs (see Snapshots.detach). */
export const PENDING_DIFF_ID = "sha256:pending" as Digest;

export type LayerFields = Pick<LayerRecord, "reproducible" | "sourceDateEpoch" | "opaque" | "contentSize">;

/**
 * Extracted layers and their records:
 *
 *   l/<12 hex>/          extracted layers, used as overlay lower dirs; l/empty for scratch
 *   layers/<hex>.json    layer records (diff_id → dir, size, known blobs)
 *   ts/<hex>.gz          tar-split records: a layer's tar made again from its dir (no blob kept)
 *
 * A record is written only after its dir (and tar-split) is in place.
 */
export class Layers {
  /** Where the extracted layers live (overlay lower dirs). */
  readonly dir: string;
  readonly recordsDir: string;
  readonly splitsDir: string;
  /** The lower dir that stands in for no layer at all (scratch). */
  readonly emptyDir: string;
  /** Opaque dirs of the layers handed out so far, by layer dir (see knownOpaque). */
  private readonly opaqueByDir = new Map<string, ReadonlySet<string>>();

  constructor(root: string, private readonly blobs: BlobStore, private readonly locks: Locks, private readonly staging: Staging, private readonly durability: Durability) {
    this.dir = join(root, "l");
    this.recordsDir = join(root, "layers");
    this.splitsDir = join(root, "ts");
    this.emptyDir = join(this.dir, "empty");
  }

  recordPath(diffId: Digest): string {
    return join(this.recordsDir, `${digestHex(diffId)}.json`);
  }

  /** Where a layer's tar-split record lives (see layer/tarsplit.ts). */
  tarSplitPath(diffId: Digest): string {
    return join(this.splitsDir, `${digestHex(diffId)}.gz`);
  }

  /** A layer dir by its name under l/. */
  dirOf(name: string): string {
    return join(this.dir, name);
  }

  async record(diffId: Digest): Promise<LayerRecord | undefined> {
    try {
      return JSON.parse(await readRecordFile(this.recordPath(diffId))) as LayerRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new StoreError(`layer record for ${diffId} is unreadable: ${(err as Error).message}`);
    }
  }

  private info(r: LayerRecord): LayerInfo {
    const info: LayerInfo = { diffId: r.diffId, size: r.size, contentSize: r.contentSize ?? r.size, dir: this.dirOf(r.dir), ...(r.opaque !== undefined ? { opaque: r.opaque } : {}) };
    if (r.opaque !== undefined) this.opaqueByDir.set(info.dir, new Set(r.opaque));
    return info;
  }

  /**
   * Whether `absDir`, a directory inside a layer dir this store handed out, is opaque, from the
   * layer's record: true or false, or undefined when the record does not say (older records,
   * paths outside layers). Spares a getfattr process per question.
   */
  knownOpaque(absDir: string): boolean | undefined {
    const prefix = this.dir + "/";
    if (!absDir.startsWith(prefix)) return undefined;
    const slash = absDir.indexOf("/", prefix.length);
    const set = this.opaqueByDir.get(slash < 0 ? absDir : absDir.slice(0, slash));
    return set === undefined ? undefined : slash >= 0 && set.has(absDir.slice(slash + 1));
  }

  async layer(diffId: Digest): Promise<LayerInfo | undefined> {
    const r = await this.record(diffId);
    return r === undefined ? undefined : this.info(r);
  }

  async listRecords(): Promise<LayerRecord[]> {
    const out: LayerRecord[] = [];
    for (const f of await readdir(this.recordsDir)) {
      if (!f.endsWith(".json") || f.startsWith(".")) continue;
      const d = `sha256:${f.slice(0, -5)}`;
      if (!isDigest(d)) continue;
      const r = await this.record(d).catch(() => undefined);
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  /** Removes a layer: its record first (never a record without its dir), then its dir and tar-split. */
  async remove(r: Pick<LayerRecord, "diffId" | "dir" | "tarSplit">): Promise<void> {
    await rm(this.recordPath(r.diffId), { force: true });
    await removeTree(this.dirOf(r.dir));
    if (r.tarSplit) await rm(this.tarSplitPath(r.diffId), { force: true });
  }

  /**
   * Moves `dir` (unmounted, on the store's file system) under l/ with a fresh name, noted in
   * this process's lease; returns its new path. It has no record until recordDir.
   */
  adoptDir(dir: string): string {
    const name = randomBytes(6).toString("hex");
    this.staging.note("l", name);
    const target = this.dirOf(name);
    renameSync(dir, target);
    return target;
  }

  /**
   * Makes `stagedDir` the layer `diffId` (or drops it when the layer exists already) and
   * records `blob`, a temp file holding the layer's bytes as `blobDesc` says, or `split`, a temp
   * file holding its tar-split record (fsync'd by the caller).
   */
  async commit(diffId: Digest, size: number, stagedDir: string, fields: LayerFields, blob?: { tmp: string; desc: Descriptor }, split?: string): Promise<LayerInfo> {
    return this.locks.with("layers", async () => {
      const existing = await this.record(diffId);
      if (blob !== undefined) {
        if (await this.blobs.has(blob.desc.digest)) await rm(blob.tmp, { force: true });
        else await this.blobs.adopt(blob.tmp, blob.desc.digest);
      }
      if (existing !== undefined) {
        await rm(stagedDir, { recursive: true, force: true });
        if (split !== undefined) await rm(split, { force: true });
        if (blob !== undefined && !existing.blobs.some((b) => b.digest === blob.desc.digest)) {
          existing.blobs.push(blob.desc);
          await writeFileAtomic(this.recordPath(diffId), JSON.stringify(existing));
        }
        return this.info(existing);
      }
      // what the record points to first: the tar-split, then the dir
      if (split !== undefined) {
        await rename(split, this.tarSplitPath(diffId));
        await fsyncDir(this.splitsDir);
      }
      let name = digestHex(diffId).slice(0, 12);
      if (await lstat(this.dirOf(name)).then(() => true, () => false)) name = randomBytes(6).toString("hex");
      this.staging.note("l", name);
      await rename(stagedDir, this.dirOf(name));
      const record: LayerRecord = {
        diffId, size, dir: name, blobs: blob ? [blob.desc] : [], ...fields, ...(split !== undefined ? { tarSplit: true } : {}), created: new Date().toISOString(),
      };
      await writeFileAtomic(this.recordPath(diffId), JSON.stringify(record));
      return this.info(record);
    });
  }

  /**
   * Records the layer `diffId` whose dir is already in place under l/ (a build step's
   * snapshot, see Snapshots.detach), without the "layers" lock — nothing is read, modified and
   * written back here. The record is created by link(2), which fails when it exists: of two
   * processes committing the same diff_id at once, exactly one record wins and the other gets
   * the winner's layer back, as it does when the layer was recorded before; `leftover` is then
   * `dir`, for the caller to remove (once nothing mounts it). The record appears whole (a
   * complete temp file is linked); it and the layer's files reach the disk with the next sync of
   * the store's file system, which whatever refers to the layer durably — a cache entry, an
   * image — waits for first (Durability.layersDurable). A power cut before then can lose the
   * record or leave it empty: the layer is then an orphan, which nothing refers to, and `system
   * check --repair` removes (a commit replaces such a record).
   */
  async recordDir(diffId: Digest, size: number, fields: LayerFields, dir: string): Promise<{ layer: LayerInfo; leftover?: string }> {
    const path = this.recordPath(diffId);
    const existing = await this.record(diffId).catch(async (err: unknown) => {
      // an empty or torn record left by a power cut before it was synced: replace it
      if (!(err instanceof StoreError)) throw err;
      await rm(path, { force: true });
      return undefined;
    });
    if (existing !== undefined) return { layer: this.info(existing), leftover: dir };
    const record: LayerRecord = { diffId, size, dir: basename(dir), blobs: [], ...fields, created: new Date().toISOString() };
    if (createFileLinked(path, JSON.stringify(record))) {
      this.durability.noteCommit(diffId);
      return { layer: this.info(record) };
    }
    const winner = await this.record(diffId);
    if (winner === undefined) throw new StoreError(`layer record for ${diffId} vanished while it was committed`);
    return { layer: this.info(winner), leftover: dir };
  }

  /** The layer's tar, uncompressed: a stored blob if there is one, else made again from its directory. */
  async openTar(diffId: Digest): Promise<{ stream: Readable; size: number }> {
    const r = await this.record(diffId);
    if (r === undefined) throw new StoreError(`layer ${diffId} is not in the store`);
    const plain = r.blobs.find((b) => b.digest === diffId);
    if (plain && (await this.blobs.has(plain.digest))) return { stream: this.blobs.open(plain.digest) as Readable, size: r.size };
    const [{ diffDirectory, reassembleTar }, { gunzipStream }] = await Promise.all([layerModule(), compressionModule()]);
    if (r.tarSplit) {
      const { gunzipSync } = await zlib();
      const split = gunzipSync(await readFile(this.tarSplitPath(diffId)).catch((err: NodeJS.ErrnoException) => {
        throw new StoreError(err.code === "ENOENT" ? `layer ${diffId}: its tar-split record is missing; run \`berth system check\`` : `layer ${diffId}: ${err.message}`);
      }));
      return { stream: verifyDigest(reassembleTar(split, this.dirOf(r.dir)), diffId, `layer ${diffId} (made again from l/${r.dir})`), size: r.size };
    }
    if (r.reproducible) {
      return { stream: diffDirectory(this.dirOf(r.dir), r.sourceDateEpoch !== undefined ? { sourceDateEpoch: r.sourceDateEpoch } : {}), size: r.size };
    }
    const gz = r.blobs.find((b) => b.mediaType.endsWith("gzip"));
    if (gz) return { stream: (this.blobs.open(gz.digest) as Readable).pipe(gunzipStream(`layer ${diffId}`) as Transform), size: r.size };
    throw new StoreError(`layer ${diffId} has no stored blob and cannot be recreated`);
  }

  /**
   * A gzip blob of the layer ("compress lazily"): made the first time save or push needs it,
   * recorded in the layer record, then kept.
   */
  async compressedBlob(diffId: Digest): Promise<Descriptor> {
    const r = await this.record(diffId);
    if (r === undefined) throw new StoreError(`layer ${diffId} is not in the store`);
    const have = r.blobs.find((b) => b.mediaType === MediaType.OciLayerGzip || b.mediaType === MediaType.DockerLayerGzip);
    if (have && (await this.blobs.has(have.digest))) return have;
    const { stream } = await this.openTar(diffId);
    const { parallelGzip } = await layerModule();
    const { digest, size } = await this.blobs.put(stream.pipe(parallelGzip()));
    const desc: Descriptor = { mediaType: MediaType.OciLayerGzip, digest, size };
    await this.locks.with("layers", async () => {
      const cur = await this.record(diffId);
      if (cur && !cur.blobs.some((b) => b.digest === digest)) {
        cur.blobs.push(desc);
        await writeFileAtomic(this.recordPath(diffId), JSON.stringify(cur));
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
    const r = await this.record(d);
    if (r !== undefined) return this.openTar(d);
    throw new StoreError(`blob ${d} is missing from the store`);
  }
}

/** `stream`, failing at its end unless its bytes hash to `digest`. */
function verifyDigest(stream: Readable, digest: Digest, what: string): Readable {
  const verify = verifyingTransform(digest, (got) => new StoreError(`${what}: content hashes to ${got}, not ${digest}; run \`berth system check\``));
  stream.on("error", (err) => verify.destroy(err));
  return stream.pipe(verify);
}
