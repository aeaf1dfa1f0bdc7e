import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkStore, collectGarbage, openStore, type Snapshot, type Store } from "../../../src/store/index.js";
import { importRootfs, loadArchive, saveImagesToFile } from "../../../src/image/index.js";
import { busyboxTarball } from "../../helpers/busybox.js";

const work = mkdtempSync("/tmp/berth-store-snap-");
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) execFileSync("umount", [m], { stdio: "ignore" });
  rmSync(work, { recursive: true, force: true });
});

/** What a RUN step does: mount the snapshot, change files through overlay, unmount. */
function runInSnapshot(s: Snapshot, change: (merged: string) => void): void {
  const merged = join(work, `m-${s.id}`);
  mkdirSync(merged);
  execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${s.lowerDirs.join(":")},upperdir=${s.upperDir},workdir=${s.workDir}`, merged]);
  mounts.push(merged);
  try {
    change(merged);
  } finally {
    execFileSync("umount", [merged]);
    mounts.pop();
  }
}

const step = (m: string): void => {
  rmSync(join(m, "bin/ls"));
  rmSync(join(m, "etc"), { recursive: true });
  mkdirSync(join(m, "etc"));
  writeFileSync(join(m, "etc/hostname"), "berth\n");
  writeFileSync(join(m, "new.txt"), "new\n");
};

describe("snapshots: prepare → overlay → commit → image", () => {
  let store: Store;
  it("commits an overlay upper dir into a layer whose whiteouts hide lower files", async () => {
    store = await openStore(join(work, "root"));
    const base = await importRootfs(store, createReadStream(busyboxTarball()), { source: "busybox.tar", tag: "base:1" });
    const s = await store.prepareSnapshot(base.config.rootfs.diff_ids);
    expect(s.lowerDirs).toEqual([base.layers[0]!.dir]);
    runInSnapshot(s, step);
    const layer = await store.commitSnapshot(s, { sourceDateEpoch: 1_700_000_000 });
    expect(existsSync(join(work, "root/s", s.id))).toBe(false);
    expect(lstatSync(join(layer.dir, "bin/ls")).isCharacterDevice()).toBe(true);
    // the record names the opaque dir: the builder asks it instead of running getfattr
    expect(layer.opaque).toEqual(["etc"]);
    expect(store.knownOpaque(join(layer.dir, "etc"))).toBe(true);
    expect(store.knownOpaque(join(layer.dir, "bin"))).toBe(false);
    expect(store.knownOpaque(join(work, "elsewhere"))).toBeUndefined();

    // the same step again gives the same diff_id (mtimes clamped)
    const s2 = await store.prepareSnapshot(base.config.rootfs.diff_ids);
    runInSnapshot(s2, step);
    const again = await store.commitSnapshot(s2, { sourceDateEpoch: 1_700_000_000, keep: true });
    expect(again.diffId).toBe(layer.diffId);
    expect(again.dir).toBe(layer.dir);
    // with keep (docker commit of a running container) the snapshot stays usable
    expect(readFileSync(join(s2.upperDir, "new.txt"), "utf8")).toBe("new\n");
    await store.removeSnapshot(s2);

    const image = await store.createImage({
      ...base.config,
      rootfs: { type: "layers", diff_ids: [...base.config.rootfs.diff_ids, layer.diffId] },
      history: [...(base.config.history ?? []), { created: new Date(0).toISOString(), created_by: "RUN step" }],
    }, { tags: ["child:1"] });
    expect(image.layers.map((l) => l.dir)).toEqual([base.layers[0]!.dir, layer.dir]);

    // a child snapshot sees the merged view: ls gone, etc replaced
    const s3 = await store.prepareSnapshot(image.config.rootfs.diff_ids);
    expect(s3.lowerDirs).toEqual([layer.dir, base.layers[0]!.dir]);
    runInSnapshot(s3, (m) => {
      expect(existsSync(join(m, "bin/ls"))).toBe(false);
      expect(existsSync(join(m, "etc/passwd"))).toBe(false);
      expect(readFileSync(join(m, "etc/hostname"), "utf8")).toBe("berth\n");
    });
    await store.removeSnapshot(s3);
    expect((await checkStore(store)).problems).toEqual([]);
  });

  it("saves the built image (layer re-diffed from its dir) and loads it elsewhere with the same digests", async () => {
    const out = join(work, "child.tar");
    await saveImagesToFile(store, ["child:1"], out);
    const other = await openStore(join(work, "other"));
    const res = await loadArchive(other, createReadStream(out), out);
    const a = await store.resolveImage("child:1");
    const b = await other.resolveImage("child:1");
    expect(res.loaded[0]!.id).toBe(a.id);
    expect(b.manifestDigest).toBe(a.manifestDigest);
    expect(lstatSync(join(b.layers[1]!.dir, "bin/ls")).isCharacterDevice()).toBe(true);
    expect(execFileSync("getfattr", ["--absolute-names", "--only-values", "-n", "trusted.overlay.opaque", join(b.layers[1]!.dir, "etc")], { encoding: "utf8" })).toBe("y");
    expect(b.layers[1]!.opaque).toEqual(["etc"]);
    // compress lazily: the first call makes the gzip blob, the second finds it
    const gz = await store.compressedLayerBlob(a.layers[1]!.diffId);
    expect(gz.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    expect(await store.compressedLayerBlob(a.layers[1]!.diffId)).toEqual(gz);
    expect((await checkStore(store)).problems).toEqual([]);
  });

  it("cache entries keep their layers alive through garbage collection", async () => {
    const s = await store.prepareSnapshot([]);
    writeFileSync(join(s.upperDir, "cached"), "c");
    const layer = await store.commitSnapshot(s);
    await store.putCacheEntry("key-1", { layers: [layer.diffId], note: "opaque" });
    expect(await store.getCacheEntry("key-1")).toEqual({ layers: [layer.diffId], note: "opaque" });
    await collectGarbage(store, { graceMs: 0 });
    expect(await store.layer(layer.diffId)).toBeDefined();
    const orphan = await store.prepareSnapshot([]);
    writeFileSync(join(orphan.upperDir, "orphan"), "o");
    const gone = await store.commitSnapshot(orphan);
    await collectGarbage(store, { graceMs: 0 });
    expect(await store.layer(gone.diffId)).toBeUndefined();
    expect(await store.layer(layer.diffId)).toBeDefined();
  });

  it("a committed container snapshot is kept, and check keeps a snapshot a container record names", async () => {
    const base = await store.resolveImage("base:1");
    const s = await store.prepareSnapshot(base.config.rootfs.diff_ids);
    writeFileSync(join(s.upperDir, "work"), "w");
    rmSync(join(s.upperDir, "..", "owner.json")); // as if its creator had exited long ago
    const dir = await store.containerDir("c1", { create: true });
    writeFileSync(join(dir, "record.json"), JSON.stringify({ id: "c1", name: "c1", imageId: base.id, created: new Date().toISOString(), state: "exited", snapshot: s }));
    const layer = await store.commitSnapshot(s, { keep: true });
    expect(readFileSync(join(layer.dir, "work"), "utf8")).toBe("w");
    expect(readFileSync(join(s.upperDir, "work"), "utf8")).toBe("w");
    expect((await checkStore(store, { repair: true })).problems).toEqual([]);
    expect(existsSync(s.upperDir)).toBe(true);
    await store.removeContainerDir("c1");
    await store.removeSnapshot(s);
  });

  it("commits of the same change at once give one layer: one record, one dir, the others dropped", async () => {
    const snaps = await Promise.all(Array.from({ length: 6 }, () => store.prepareSnapshot([])));
    for (const s of snaps) writeFileSync(join(s.upperDir, "same.txt"), "same\n");
    const layers = await Promise.all(snaps.map((s) => store.commitSnapshot(s, { sourceDateEpoch: 0 })));
    expect(new Set(layers.map((l) => l.diffId)).size).toBe(1);
    expect(new Set(layers.map((l) => l.dir)).size).toBe(1);
    expect(readFileSync(join(layers[0]!.dir, "same.txt"), "utf8")).toBe("same\n");
    expect((await store.layer(layers[0]!.diffId))?.dir).toBe(layers[0]!.dir);
    for (const s of snaps) expect(existsSync(join(work, "root/s", s.id))).toBe(false);
    // no orphan dir, no stale temp record
    expect((await checkStore(store)).problems).toEqual([]);
  });

  it("container dirs: create, list, remove", async () => {
    const dir = await store.containerDir("abc123", { create: true });
    expect(await store.listContainerIds()).toEqual(["abc123"]);
    expect(await store.containerDir("abc123")).toBe(dir);
    await store.removeContainerDir("abc123");
    await expect(store.containerDir("abc123")).rejects.toThrow(/No such container/);
    await expect(store.containerDir("../x", { create: true })).rejects.toThrow(/invalid container id/);
  });
});
