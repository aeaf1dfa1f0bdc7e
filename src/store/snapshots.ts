import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Digest } from "../image/digest.js";
import { removeTree } from "../sys/remove-tree.js";
import { writeFileAtomic } from "./atomic.js";
import { StoreError } from "./errors.js";
import type { LayerImports } from "./layer-import.js";
import { layerModule, PENDING_DIFF_ID, type Layers } from "./layers.js";
import type { Staging } from "./staging.js";
import type { LayerInfo, Snapshot } from "./types.js";

/**
 * How a snapshot's upper dir is diffed: mtimes clamped to the epoch; with `noXattrs` (the
 * caller wrote the dir itself and set no xattr: COPY, WORKDIR) no xattr is looked for.
 */
function snapshotDiffOptions(opts: { sourceDateEpoch?: number; noXattrs?: boolean }): { sourceDateEpoch?: number; xattrs?: Map<string, Map<string, Buffer>> } {
  return { ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}), ...(opts.noXattrs === true ? { xattrs: new Map() } : {}) };
}

/** What `s/<id>/owner.json` says: who made the snapshot, and on which layers (gc keeps them). */
export interface SnapshotOwner {
  pid: number;
  parents: Digest[];
  created: string;
}

/**
 * Snapshots in progress, `s/<id>/{u,w}` (upper and work dir of an overlay over layers);
 * `owner.json` says who made it and on what.
 */
export class Snapshots {
  readonly dir: string;

  constructor(root: string, private readonly layers: Layers, private readonly imports: LayerImports, private readonly staging: Staging) {
    this.dir = join(root, "s");
  }

  /**
   * A fresh upper/work dir over `parents` (bottom first): diff_ids, looked up, or layers the
   * caller holds (a build's, some still being committed: see detach), used as they are.
   * `durable: false` skips the fsyncs of owner.json (for a snapshot nobody keeps, such as a
   * `run --rm` container's: after a power cut its owner is gone either way, and `system check
   * --repair` removes a snapshot without owner).
   */
  async prepare(parents: readonly (Digest | LayerInfo)[], opts: { durable?: boolean } = {}): Promise<Snapshot> {
    const lowers: string[] = [];
    const parentDiffIds: Digest[] = [];
    for (const p of parents) {
      const l = typeof p === "string" ? await this.layers.layer(p) : p;
      if (l === undefined) throw new StoreError(`cannot prepare a snapshot: layer ${p as string} is not in the store`);
      lowers.unshift(l.dir);
      // a layer still being committed has no diff_id yet, nor a record for gc to remove
      if (l.diffId !== PENDING_DIFF_ID) parentDiffIds.push(l.diffId);
    }
    dropRepeatedLowerDirs(lowers);
    if (lowers.length === 0) lowers.push(this.layers.emptyDir);
    const id = randomBytes(6).toString("hex");
    this.staging.note("s", id);
    const dir = join(this.dir, id);
    // synchronous: three tiny calls, cheaper than three thread-pool round trips per build step
    mkdirSync(join(dir, "u"), { recursive: true, mode: 0o755 });
    mkdirSync(join(dir, "w"), { mode: 0o700 });
    const owner = JSON.stringify({ pid: process.pid, parents: parentDiffIds, created: new Date().toISOString() } satisfies SnapshotOwner);
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
  async commit(s: Snapshot, opts: { sourceDateEpoch?: number; keep?: boolean; noXattrs?: boolean } = {}): Promise<LayerInfo> {
    if (opts.keep) {
      const { diffDirectory } = await layerModule();
      const prepared = await this.imports.prepare(diffDirectory(join(this.pathOf(s.id), "u"), snapshotDiffOptions(opts)), { source: `snapshot ${s.id}` });
      try {
        return await prepared.commit();
      } finally {
        await prepared.discard();
      }
    }
    // nothing mounts the detached dir: a layer that existed already lets it go at once
    const { layer, leftover } = await this.commitDetached(this.detach(s), opts);
    if (leftover !== undefined) await removeTree(leftover);
    return layer;
  }

  /**
   * commit in two halves, for a build that goes on while the layer's digest is made. This one
   * moves the upper dir to its place under l/ at once (a later step may mount it as a lower dir
   * meanwhile: nothing writes it any more) and drops the rest of the snapshot; commitDetached
   * digests and records it. Until then the dir has no record: `system check` leaves such dirs
   * alone for gc's grace period.
   */
  detach(s: Snapshot): string {
    const dir = this.pathOf(s.id);
    const target = this.layers.adoptDir(join(dir, "u"));
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
    return this.layers.recordDir(diffId, size, fields, layerDir);
  }

  /**
   * `sync`: remove it with synchronous calls, for a process with nothing else to do meanwhile
   * (a `run --rm` ending): several times faster for small trees than an async recursive rm, whose
   * every lstat/readdir/unlink is a thread-pool round trip — but it blocks the event loop
   * for as long as a big tree takes.
   */
  async remove(s: Pick<Snapshot, "id">, opts: { sync?: boolean } = {}): Promise<void> {
    if (opts.sync === true) rmSync(this.pathOf(s.id), { recursive: true, force: true });
    else await removeTree(this.pathOf(s.id));
  }

  /** Every snapshot with its owner.json (undefined when unreadable: being made or half removed). */
  async list(): Promise<{ id: string; path: string; owner?: SnapshotOwner }[]> {
    const out: { id: string; path: string; owner?: SnapshotOwner }[] = [];
    for (const id of await readdir(this.dir)) {
      const path = join(this.dir, id);
      try {
        out.push({ id, path, owner: JSON.parse(await readFile(join(path, "owner.json"), "utf8")) as SnapshotOwner });
      } catch {
        out.push({ id, path });
      }
    }
    return out;
  }

  private pathOf(id: string): string {
    if (!/^[a-f0-9]{12}$/.test(id)) throw new StoreError(`invalid snapshot id ${JSON.stringify(id)}`);
    return join(this.dir, id);
  }
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
