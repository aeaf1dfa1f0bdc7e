import { execFileSync } from "node:child_process";
import { cpSync, createReadStream, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../../src/store/index.js";
import { ok } from "./helpers.js";

/**
 * Sizes as Docker (overlay2) shows them: a layer's size is the sum of its dir's non-directory
 * entries, each inode once (moby pkg/directory.Size) — file contents plus symlink target
 * lengths; tar headers, padding, directories and hard links add nothing. history shows it per
 * layer; images and inspect's .Size show the sum over the image's layers.
 */
const work = mkdtempSync("/tmp/berth-store-sz-");
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** 100 + 1000 bytes of files, a hard link (counted once), a symlink of 11 bytes, an empty file: 1111. */
function makeTree(dir: string): void {
  mkdirSync(join(dir, "sub/deeper"), { recursive: true });
  writeFileSync(join(dir, "a"), Buffer.alloc(100, 1));
  writeFileSync(join(dir, "sub/b"), Buffer.alloc(1000, 2));
  linkSync(join(dir, "sub/b"), join(dir, "sub/deeper/b-again"));
  symlinkSync("target-name", join(dir, "link"));
  writeFileSync(join(dir, "empty"), "");
}
const EXPECTED = 1111;

describe("layer and image sizes", () => {
  const tree = join(work, "tree");
  mkdirSync(tree);
  makeTree(tree);
  const tarFile = join(work, "tree.tar");
  execFileSync("tar", ["-C", tree, "-cf", tarFile, "."]);

  it("history, images and inspect show the files' sizes, not the tar's", () => {
    const root = join(work, "cli");
    ok(root, ["import", tarFile, "sz:1"]);
    const history = ok(root, ["history", "--human=false", "--format", "{{.Size}}", "sz:1"]).trim();
    expect(history).toBe(String(EXPECTED));
    const inspect = JSON.parse(ok(root, ["inspect", "sz:1"])) as { Size: number }[];
    expect(inspect[0]!.Size).toBe(EXPECTED);
    // the tar itself is 10 KiB (headers and padding): that is not the size Docker shows
    expect(ok(root, ["images", "--format", "{{.Size}}", "sz"]).trim()).toBe("1.11kB");
  });

  it("a committed snapshot and an applied tar of the same tree agree; a tar that replaces its own files is measured on disk", async () => {
    const store = await openStore(join(work, "lib"));
    const applied = await store.importLayer(createReadStream(tarFile), { source: tarFile });
    expect(applied.contentSize).toBe(EXPECTED);
    const snap = await store.prepareSnapshot([]);
    cpSync(tree, snap.upperDir, { recursive: true, verbatimSymlinks: true });
    rmSync(join(snap.upperDir, "sub/deeper/b-again"));
    linkSync(join(snap.upperDir, "sub/b"), join(snap.upperDir, "sub/deeper/b-again"));
    const committed = await store.commitSnapshot(snap);
    expect(committed.contentSize).toBe(EXPECTED);

    // `a` twice in one tar: the second (30 bytes) replaces the first (100)
    const dup = join(work, "dup");
    mkdirSync(dup);
    writeFileSync(join(dup, "a"), Buffer.alloc(100, 1));
    const dupTar = join(work, "dup.tar");
    execFileSync("tar", ["-C", dup, "-cf", dupTar, "a"]);
    writeFileSync(join(dup, "a"), Buffer.alloc(30, 1));
    execFileSync("tar", ["-C", dup, "-rf", dupTar, "a"]);
    expect((await store.importLayer(createReadStream(dupTar), { source: dupTar })).contentSize).toBe(30);
  });
});
