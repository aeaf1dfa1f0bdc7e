import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { digestHex, isDigest, type Digest } from "../image/digest.js";
import { parseReference } from "../image/reference.js";
import type { ImageConfig, ImageManifest } from "../image/types.js";
import { GC_GRACE_MS, referencedContent } from "./gc.js";
import type { Store } from "./store.js";
import type { ImageEntry, LayerRecord } from "./types.js";
import { ownerPid, pidAlive } from "./owners.js";

export { pidAlive };

/**
 * `berth system check [--repair]`: verifies every blob's digest, every record and reference,
 * and finds what a crash can leave behind (temp files, staging dirs, unreferenced blobs and
 * layer dirs, snapshots whose owner died). With repair, broken and orphaned things are removed
 * (records first, then what they point to); images that lost content are removed with their tags.
 */
export interface CheckProblem {
  kind: "corrupt-blob" | "broken-layer" | "broken-image" | "dangling-tag" | "bad-refs" | "orphan-blob" | "orphan-layer" | "orphan-layer-dir" | "stale-temp" | "stale-snapshot" | "broken-cache-entry" | "orphan-tar-split";
  path: string;
  message: string;
  repaired: boolean;
}

export interface CheckReport {
  problems: CheckProblem[];
  checked: { blobs: number; layers: number; images: number; tags: number };
}

async function hashFile(path: string): Promise<string> {
  return hashStream(createReadStream(path));
}

async function hashStream(stream: NodeJS.ReadableStream): Promise<string> {
  const h = createHash("sha256");
  await pipeline(stream, new Writable({ write: (c: Buffer, _e, cb) => { h.update(c); cb(); } }));
  return `sha256:${h.digest("hex")}`;
}

export async function checkStore(store: Store, opts: { repair?: boolean } = {}): Promise<CheckReport> {
  const repair = opts.repair === true;
  const problems: CheckProblem[] = [];
  const report = (kind: CheckProblem["kind"], path: string, message: string): CheckProblem => {
    const p: CheckProblem = { kind, path, message, repaired: false };
    problems.push(p);
    return p;
  };
  const fix = async (p: CheckProblem, action: () => Promise<void>): Promise<void> => {
    if (!repair) return;
    await action();
    p.repaired = true;
  };
  const checked = { blobs: 0, layers: 0, images: 0, tags: 0 };
  const layers = store.layers;

  await store.locks.with("gc", async () => {
    // 1. temp files and staging dirs of dead writers
    for (const dir of store.tempFileDirs()) {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (dir !== store.staging.dir && !name.includes(".tmp-")) continue;
        const pid = ownerPid(name);
        if (pid !== undefined && pidAlive(pid)) continue;
        const p = report("stale-temp", join(dir, name), "left behind by an interrupted write");
        await fix(p, () => rm(join(dir, name), { recursive: true, force: true }));
      }
    }

    // 2. blobs: every one hashes to its name
    const blobsBad = new Set<Digest>();
    for (const name of await readdir(store.blobs.dir)) {
      const d = `sha256:${name}`;
      const path = join(store.blobs.dir, name);
      checked.blobs++;
      if (!isDigest(d)) {
        const p = report("corrupt-blob", path, "not a blob name");
        await fix(p, () => rm(path, { recursive: true, force: true }));
        continue;
      }
      const got = await hashFile(path);
      if (got !== d) {
        blobsBad.add(d);
        const p = report("corrupt-blob", path, `content hashes to ${got}`);
        await fix(p, () => rm(path, { force: true }));
      }
    }
    const blobOk = async (d: Digest): Promise<boolean> => !blobsBad.has(d) && (await store.blobs.has(d));

    // 3. layer records: readable, dir present, a blob, a reproducible dir, or a tar-split that
    // gives back the layer's exact bytes from its dir (verified like a blob)
    const layersOk = new Set<Digest>();
    const layerDirs = new Set<string>(["empty"]);
    const splits = new Set<string>();
    const splitProblem = async (rec: LayerRecord): Promise<string | undefined> => {
      try {
        const { stream } = await store.layers.openTar(rec.diffId);
        const got = await hashStream(stream);
        return got === rec.diffId ? undefined : `its tar made again from l/${rec.dir} hashes to ${got}`;
      } catch (err) {
        return (err as Error).message;
      }
    };
    for (const name of await readdir(layers.recordsDir)) {
      if (name.includes(".tmp-")) continue;
      const path = join(layers.recordsDir, name);
      checked.layers++;
      let rec: LayerRecord | undefined;
      try {
        rec = JSON.parse(await readFile(path, "utf8")) as LayerRecord;
      } catch {
        rec = undefined;
      }
      const problem = rec === undefined || `${digestHex(rec.diffId)}.json` !== name
        ? "unreadable record"
        : !(await stat(layers.dirOf(rec.dir)).then((s) => s.isDirectory(), () => false))
          ? `directory l/${rec.dir} is missing`
          : rec.tarSplit && !rec.blobs.some((b) => b.digest === rec!.diffId)
            ? await splitProblem(rec)
            : !rec.reproducible && !(await anyAsync(rec.blobs, (b) => blobOk(b.digest)))
              ? "none of its blobs is in the store"
              : undefined;
      if (problem === undefined && rec !== undefined) {
        layersOk.add(rec.diffId);
        layerDirs.add(rec.dir);
        if (rec.tarSplit) splits.add(`${digestHex(rec.diffId)}.gz`);
        continue;
      }
      const p = report("broken-layer", path, problem!);
      await fix(p, async () => {
        await rm(path, { force: true });
        if (rec?.dir) await rm(layers.dirOf(rec.dir), { recursive: true, force: true });
        if (rec?.tarSplit) await rm(layers.tarSplitPath(rec.diffId), { force: true });
      });
      if (!repair && rec?.dir) layerDirs.add(rec.dir);
      if (!repair && rec?.tarSplit) splits.add(`${digestHex(rec.diffId)}.gz`);
    }

    // 4. images: config and manifest blobs, layers
    const imagesOk = new Set<Digest>();
    for (const name of await readdir(store.images.dir)) {
      if (name.includes(".tmp-")) continue;
      const path = join(store.images.dir, name);
      checked.images++;
      let why: string | undefined;
      let entry: ImageEntry | undefined;
      try {
        entry = JSON.parse(await readFile(path, "utf8")) as ImageEntry;
        if (`${digestHex(entry.id)}.json` !== name) why = "record names another image";
        else if (!(await blobOk(entry.id))) why = "config blob missing or corrupt";
        else if (!(await blobOk(entry.manifestDigest))) why = "manifest blob missing or corrupt";
        else {
          const config = JSON.parse((await store.blobs.read(entry.id)).toString("utf8")) as ImageConfig;
          const manifest = JSON.parse((await store.blobs.read(entry.manifestDigest)).toString("utf8")) as ImageManifest;
          const missing = (config.rootfs?.diff_ids ?? []).find((d) => !layersOk.has(d));
          if (missing) why = `layer ${missing} is missing`;
          else if (manifest.config?.digest !== entry.id) why = "manifest names another config";
        }
      } catch (err) {
        why = `unreadable: ${(err as Error).message}`;
      }
      if (why === undefined && entry) {
        imagesOk.add(entry.id);
        continue;
      }
      const p = report("broken-image", path, why!);
      await fix(p, () => rm(path, { force: true }));
    }

    // 5. tags
    let refs: Record<string, string> | undefined;
    try {
      refs = await store.refs.read();
    } catch (err) {
      const p = report("bad-refs", store.refs.path, (err as Error).message);
      await fix(p, () => rm(store.refs.path, { force: true }));
    }
    if (refs) {
      const bad: string[] = [];
      for (const [k, v] of Object.entries(refs)) {
        checked.tags++;
        let valid = isDigest(v) && imagesOk.has(v);
        try {
          parseReference(k);
        } catch {
          valid = false;
        }
        if (!valid) {
          bad.push(k);
          report("dangling-tag", store.refs.path, `${k} → ${v}: no such image`).repaired = repair;
        }
      }
      if (repair && bad.length > 0) {
        await store.refs.update((r) => {
          for (const k of bad) delete r[k];
          return true;
        });
      }
    }

    // 6. cache entries naming missing layers
    for (const c of await store.buildCache.list()) {
      const missing = (c.entry.layers ?? []).find((d) => !layersOk.has(d));
      if (c.key === "" || missing) {
        const p = report("broken-cache-entry", join(store.buildCache.dir, c.file), c.key === "" ? "unreadable" : `layer ${missing} is missing`);
        await fix(p, () => store.buildCache.removeListed(c));
      }
    }

    // 7. snapshots whose owner died and that no container uses (a container's rw layer outlives
    // the process that created it: its record.json names the snapshot)
    const containerSnapshots = await store.containers.snapshotsInUse();
    for (const { id, path, owner } of await store.snapshots.list()) {
      if (containerSnapshots.has(id)) continue;
      const pid = owner?.pid ?? 0;
      if (pidAlive(pid)) continue;
      const p = report("stale-snapshot", path, `its owner (pid ${pid || "unknown"}) is gone`);
      await fix(p, () => rm(path, { recursive: true, force: true }));
    }

    // 8. orphans: layer dirs without records, blobs nothing references
    for (const name of await readdir(layers.dir)) {
      if (layerDirs.has(name)) continue;
      // a build moves a layer's dir into l/ before its record exists (Store.detachSnapshot);
      // the move sets the dir's ctime: a young dir may be one a running build commits
      const moved = await stat(layers.dirOf(name)).then((st) => st.ctimeMs, () => 0);
      if (Date.now() - moved < GC_GRACE_MS) continue;
      const p = report("orphan-layer-dir", layers.dirOf(name), "no layer record names it");
      await fix(p, () => rm(layers.dirOf(name), { recursive: true, force: true }));
    }
    for (const name of await readdir(layers.splitsDir).catch(() => [] as string[])) {
      if (splits.has(name)) continue;
      const p = report("orphan-tar-split", join(layers.splitsDir, name), "no layer record names it");
      await fix(p, () => rm(join(layers.splitsDir, name), { force: true }));
    }
    // a layer nothing uses is an orphan once it is older than gc's grace period (a build or a
    // load may be about to reference it); a younger one keeps its blobs
    const { blobs: used, layers: usedLayers } = await referencedContent(store);
    for (const l of await store.layers.listRecords()) {
      if (!layersOk.has(l.diffId)) continue;
      const recordPath = layers.recordPath(l.diffId);
      const age = Date.now() - ((await stat(recordPath).catch(() => undefined))?.mtimeMs ?? 0);
      if (usedLayers.has(l.diffId) || age < GC_GRACE_MS) {
        for (const b of l.blobs) used.add(b.digest);
        continue;
      }
      const p = report("orphan-layer", recordPath, "no image, cache entry or snapshot uses it");
      await fix(p, () => layers.remove(l));
      if (!repair) for (const b of l.blobs) used.add(b.digest);
    }
    for (const name of await readdir(store.blobs.dir)) {
      const d = `sha256:${name}` as Digest;
      if (used.has(d) || blobsBad.has(d)) continue;
      const p = report("orphan-blob", join(store.blobs.dir, name), "no image or layer references it");
      await fix(p, () => rm(join(store.blobs.dir, name), { force: true }));
    }
  });
  return { problems, checked };
}

async function anyAsync<T>(xs: T[], f: (x: T) => Promise<boolean>): Promise<boolean> {
  for (const x of xs) if (await f(x)) return true;
  return false;
}
