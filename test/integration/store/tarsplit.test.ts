import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { sha256Digest } from "../../../src/image/digest.js";
import { checkStore, openStore, type Store } from "../../../src/store/index.js";
import { importRootfs, loadArchive, saveImagesToFile } from "../../../src/image/index.js";

/**
 * Plain layers are kept as tar-split records (headers and padding) plus the extracted dir, not
 * as blobs: the store must still give back every byte of the original tar, and fall back to a
 * blob when the tar cannot be made again from the dir.
 */
const work = mkdtempSync("/tmp/berth-store-ts-");
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A tree with what tars carry: long names, links, empty and big files, odd modes, xattrs. */
function makeTree(dir: string): void {
  const long = `${"d".repeat(120)}/${"e".repeat(110)}`;
  mkdirSync(join(dir, long), { recursive: true });
  writeFileSync(join(dir, long, `${"f".repeat(150)}.txt`), "deep\n");
  mkdirSync(join(dir, "etc"));
  writeFileSync(join(dir, "etc/empty"), "");
  writeFileSync(join(dir, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n", { mode: 0o600 });
  writeFileSync(join(dir, "big"), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  writeFileSync(join(dir, "suid"), "#!/bin/sh\n", { mode: 0o4755 });
  execFileSync("chmod", ["4755", join(dir, "suid")]);
  linkSync(join(dir, "etc/passwd"), join(dir, "hard"));
  symlinkSync("etc/passwd", join(dir, "sym"));
  writeFileSync(join(dir, "ü-ñame"), "unicode\n");
  execFileSync("setfattr", ["-n", "user.note", "-v", "hello", join(dir, "etc/passwd")]);
  utimesSync(join(dir, "big"), 1_600_000_000.25, 1_600_000_000.25);
}

const formats: [string, string[]][] = [
  ["gnu", ["--format=gnu"]],
  ["pax with xattrs", ["--format=pax", "--xattrs"]],
  ["ustar-less v7 names through gnu longlinks, sorted", ["--format=gnu", "--sort=name"]],
];

describe("tar-split: plain layers kept without a blob", () => {
  const tree = join(work, "tree");
  mkdirSync(tree);
  makeTree(tree);

  it.each(formats)("gives back the exact bytes of a %s tar", async (name, flags) => {
    const tarFile = join(work, `${name.replace(/\W+/g, "-")}.tar`);
    execFileSync("tar", [...flags, "-C", tree, "-cf", tarFile, "."]);
    const original = readFileSync(tarFile);
    const store = await openStore(join(work, `s-${name.replace(/\W+/g, "-")}`));
    const layer = await store.importLayer(createReadStream(tarFile), { source: tarFile });
    expect(layer.diffId).toBe(sha256Digest(original));
    expect(layer.size).toBe(original.length);
    const rec = (await store.layerRecord(layer.diffId))!;
    expect(rec.tarSplit).toBe(true);
    expect(rec.blobs).toEqual([]);
    expect(readdirSync(join(store.root, "blobs/sha256"))).toEqual([]);
    expect(readFileSync(join(layer.dir, "big")).length).toBe(3 * 1024 * 1024 + 17);
    const { stream } = await store.openLayerTar(layer.diffId);
    const back = await readAll(stream);
    expect(back.length).toBe(original.length);
    expect(back.equals(original)).toBe(true);
    expect((await checkStore(store)).problems).toEqual([]);
  });

  it("keeps a blob when a later entry replaces an earlier file (the dir cannot give the tar back)", async () => {
    const d = join(work, "dup");
    mkdirSync(d);
    writeFileSync(join(d, "a"), "first version\n");
    writeFileSync(join(d, "b"), "bee\n");
    writeFileSync(join(d, "big"), Buffer.alloc(3 * 1024 * 1024 + 5, 9)); // recorded before the switch: read back from the dir
    const tarFile = join(work, "dup.tar");
    execFileSync("tar", ["-C", d, "-cf", tarFile, "big", "a", "b"]);
    writeFileSync(join(d, "a"), "second, longer version\n");
    execFileSync("tar", ["-C", d, "-rf", tarFile, "a"]);
    const original = readFileSync(tarFile);
    const store = await openStore(join(work, "s-dup"));
    const layer = await store.importLayer(createReadStream(tarFile), { source: tarFile });
    expect(layer.diffId).toBe(sha256Digest(original));
    const rec = (await store.layerRecord(layer.diffId))!;
    expect(rec.tarSplit).toBeUndefined();
    expect(rec.blobs.map((b) => b.digest)).toEqual([layer.diffId]);
    expect(readFileSync(join(layer.dir, "a"), "utf8")).toBe("second, longer version\n");
    expect(readFileSync(join(layer.dir, "b"), "utf8")).toBe("bee\n");
    expect((await readAll((await store.openLayerTar(layer.diffId)).stream)).equals(original)).toBe(true);
    expect((await checkStore(store)).problems).toEqual([]);
  });

  it("keeps bytes after the end-of-archive marker without parsing them", async () => {
    const tarFile = join(work, "trailer.tar");
    execFileSync("tar", ["-C", tree, "-cf", tarFile, "etc"]);
    const original = Buffer.concat([readFileSync(tarFile), Buffer.from("not a tar header, just bytes a writer left behind")]);
    writeFileSync(tarFile, original);
    const store = await openStore(join(work, "s-trailer"));
    const layer = await store.importLayer(createReadStream(tarFile), { source: tarFile });
    expect(layer.diffId).toBe(sha256Digest(original));
    expect((await store.layerRecord(layer.diffId))!.tarSplit).toBe(true);
    expect((await readAll((await store.openLayerTar(layer.diffId)).stream)).equals(original)).toBe(true);
  });

  it("imports a gzip rootfs as its tar (no gzip blob), and save → load keeps every digest", async () => {
    const tarFile = join(work, "rootfs.tar");
    execFileSync("tar", ["--format=pax", "-C", tree, "-cf", tarFile, "."]);
    const gz = join(work, "rootfs.tar.gz");
    writeFileSync(gz, gzipSync(readFileSync(tarFile)));
    const a = await openStore(join(work, "s-gz"));
    const img = await importRootfs(a, createReadStream(gz), { source: gz, tag: "gz:1" });
    expect(img.layers[0]!.diffId).toBe(sha256Digest(readFileSync(tarFile)));
    // blobs: the config and the manifest only
    expect(readdirSync(join(a.root, "blobs/sha256")).sort()).toEqual([img.id.slice(7), img.manifestDigest.slice(7)].sort());
    const saved = join(work, "gz-saved.tar");
    await saveImagesToFile(a, ["gz:1"], saved);
    const b = await openStore(join(work, "s-gz-b"));
    await loadArchive(b, createReadStream(saved), saved);
    const back = await b.resolveImage("gz:1");
    expect([back.id, back.manifestDigest, back.layers[0]!.diffId]).toEqual([img.id, img.manifestDigest, img.layers[0]!.diffId]);
    expect((await checkStore(b)).problems).toEqual([]);
  });

  it("system check finds a changed layer dir and an orphaned record; --repair removes them", async () => {
    const tarFile = join(work, "chk.tar");
    execFileSync("tar", ["-C", tree, "-cf", tarFile, "etc"]);
    const store: Store = await openStore(join(work, "s-chk"));
    const layer = await store.importLayer(createReadStream(tarFile), { source: tarFile });
    writeFileSync(join(work, "s-chk/ts", `${"0".repeat(64)}.gz`), "left by a crash");
    writeFileSync(join(layer.dir, "etc/passwd"), "root:x:0:0::/root:/bin/bash\n"); // same length, other bytes
    const report = await checkStore(store);
    expect(report.problems.map((p) => p.kind).sort()).toEqual(["broken-layer", "orphan-tar-split"]);
    expect(report.problems.find((p) => p.kind === "broken-layer")!.message).toMatch(/hashes to/);
    await expect(readAll((await store.openLayerTar(layer.diffId)).stream)).rejects.toThrow(/hashes to/);
    await checkStore(store, { repair: true });
    expect((await checkStore(store)).problems).toEqual([]);
    expect(await store.layer(layer.diffId)).toBeUndefined();
    expect(existsSync(store.layers.tarSplitPath(layer.diffId))).toBe(false);
  });
});
