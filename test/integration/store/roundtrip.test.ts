import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, checkStore, removeImage } from "../../../src/store/index.js";
import { importRootfs, saveImagesToFile, loadArchive } from "../../../src/image/index.js";
import { busyboxTarball } from "../../helpers/busybox.js";

const work = mkdtempSync("/tmp/berth-store-rt-");
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("import → save → load", () => {
  it("keeps every digest and tag, and the store checks clean", async () => {
    const a = await openStore(join(work, "a"));
    const img = await importRootfs(a, createReadStream(busyboxTarball()), { source: "busybox.tar", tag: "bb:1", changes: ["CMD [\"sh\"]", "ENV A=b"] });
    expect(img.repoTags).toEqual(["bb:1"]);
    expect(img.config.config?.Cmd).toEqual(["sh"]);
    expect(img.layers).toHaveLength(1);
    expect(existsSync(join(img.layers[0]!.dir, "bin/busybox"))).toBe(true);
    const saved = join(work, "saved.tar");
    await saveImagesToFile(a, ["bb:1"], saved);
    const names = execFileSync("tar", ["-tf", saved], { encoding: "utf8" }).split("\n");
    expect(names).toEqual(expect.arrayContaining(["oci-layout", "index.json", "manifest.json", "repositories"]));

    const b = await openStore(join(work, "b"));
    const res = await loadArchive(b, createReadStream(saved), saved);
    expect(res.loaded).toEqual([{ id: img.id, tags: ["bb:1"] }]);
    const back = await b.resolveImage("bb:1");
    expect(back.id).toBe(img.id);
    expect(back.manifestDigest).toBe(img.manifestDigest);
    expect(back.layers.map((l) => l.diffId)).toEqual(img.layers.map((l) => l.diffId));
    expect((await checkStore(b)).problems).toEqual([]);
    expect((await checkStore(a)).problems).toEqual([]);

    // short ID and full ID resolve
    expect((await b.resolveImage(img.id.slice(7, 19))).id).toBe(img.id);
    await removeImage(b, "bb:1");
    expect(await b.listImages()).toEqual([]);
    expect((await checkStore(b)).problems).toEqual([]);
  });

  it("refuses a file that is not an image and leaves the store as it was", async () => {
    const s = await openStore(join(work, "c"));
    const bogus = join(work, "bogus.tar");
    writeFileSync(join(work, "x.txt"), "hello");
    execFileSync("tar", ["-C", work, "-cf", bogus, "x.txt"]);
    await expect(loadArchive(s, createReadStream(bogus), bogus)).rejects.toThrow(/bogus.tar: not an image archive/);
    expect(await s.listImages()).toEqual([]);
    expect((await checkStore(s)).problems).toEqual([]);
  });
});

describe("system check", () => {
  it("finds a corrupt blob, the image it breaks, the tag pointing at it, and stale temp files; --repair removes them", async () => {
    const { readdirSync, readFileSync: read } = await import("node:fs");
    const s = await openStore(join(work, "chk"));
    const keep = await importRootfs(s, createReadStream(busyboxTarball()), { source: "busybox.tar", tag: "keep:1" });
    const img = await s.createImage({ ...keep.config, config: { Cmd: ["other"] } }, { tags: ["broken:1"] });
    // flip a byte of the second image's config blob, leave a temp file of a dead writer
    const cfgPath = join(work, "chk/blobs/sha256", img.id.slice(7));
    const buf = read(cfgPath);
    buf[10] ^= 1;
    writeFileSync(cfgPath, buf);
    writeFileSync(join(work, "chk/tmp/blob-999999-abcdef"), "partial");
    const report = await checkStore(s);
    expect(report.problems.map((p) => p.kind).sort()).toEqual(["broken-image", "corrupt-blob", "dangling-tag", "stale-temp"]);
    expect(report.problems.every((p) => !p.repaired)).toBe(true);
    await expect(s.resolveImage("broken:1")).rejects.toThrow(/corrupt on disk/);
    const repaired = await checkStore(s, { repair: true });
    expect(repaired.problems.every((p) => p.repaired)).toBe(true);
    // the removed image's manifest was found orphaned in the same pass
    expect(repaired.problems.map((p) => p.kind)).toContain("orphan-blob");
    expect((await checkStore(s)).problems).toEqual([]);
    expect((await s.listImages()).map((i) => i.repoTags)).toEqual([["keep:1"]]);
    expect(readdirSync(join(work, "chk/tmp"))).toEqual([]);
  });
});
