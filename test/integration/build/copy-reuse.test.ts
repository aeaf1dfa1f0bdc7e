import { chmodSync, linkSync, lstatSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Digest } from "../../../src/image/digest.js";
import type { ImageRecord, Store } from "../../../src/store/index.js";
import { runBuild, workspace, writeContext } from "./helpers.js";

// A COPY that reruns links the files it would write unchanged from the layer the last build of
// the same step made (copy/writer.ts ReuseSource). What a user must see: the same layer bytes as
// a copy from scratch, the new content where a file changed, the old layer left as it was.

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
let fresh: { dir: string; store: Store; stateDir: string; cleanup(): void };
beforeAll(async () => {
  ws = await workspace("reuse");
  fresh = await workspace("reuse-fresh");
}, 60_000);
afterAll(() => {
  ws?.cleanup();
  fresh?.cleanup();
});

const EPOCH = { sourceDateEpoch: 1_700_000_000 };

/** The COPY step's layer: the image's last one. */
function copyLayer(image: ImageRecord): { diffId: string; dir: string } {
  return image.layers[image.layers.length - 1]!;
}

function ino(dir: string, rel: string): number {
  return lstatSync(join(dir, rel)).ino;
}

describe("COPY links unchanged files from its previous layer", () => {
  it("links what did not change, writes what did, and makes the same layer as a copy from scratch", async () => {
    const ctx = writeContext(join(ws.dir, "ctx"), {
      Dockerfile: "FROM busybox\nCOPY src /app/\n",
      "src/a.txt": "a one\n",
      "src/b.txt": "b\n",
      "src/sub/c.txt": "c\n",
    });
    const first = await runBuild(ws, ctx, EPOCH);
    const l1 = copyLayer(first.image);

    writeFileSync(join(ctx, "src/a.txt"), "a two, longer\n");
    const second = await runBuild(ws, ctx, EPOCH);
    expect(second.executedNames.some((n) => n.includes("COPY"))).toBe(true);
    const l2 = copyLayer(second.image);
    expect(l2.diffId).not.toBe(l1.diffId);
    // unchanged files are the same inodes; the changed one is new, with the new content
    expect(ino(l2.dir, "app/b.txt")).toBe(ino(l1.dir, "app/b.txt"));
    expect(ino(l2.dir, "app/sub/c.txt")).toBe(ino(l1.dir, "app/sub/c.txt"));
    expect(ino(l2.dir, "app/a.txt")).not.toBe(ino(l1.dir, "app/a.txt"));
    expect(readFileSync(join(l2.dir, "app/a.txt"), "utf8")).toBe("a two, longer\n");
    // the earlier layer is untouched
    expect(readFileSync(join(l1.dir, "app/a.txt"), "utf8")).toBe("a one\n");

    // a store that never built this: the same layer, byte for byte
    const scratch = await runBuild(fresh, ctx, EPOCH);
    expect(copyLayer(scratch.image).diffId).toBe(l2.diffId);
  }, 60_000);

  it("copies a file whose mode or mtime changed, though its content did not", async () => {
    const ctx = writeContext(join(ws.dir, "meta"), {
      Dockerfile: "FROM busybox\nCOPY . /m/\n",
      "x.sh": "echo x\n",
      "y.txt": "y\n",
      "z.txt": "z\n",
    });
    const first = await runBuild(ws, ctx);
    const l1 = copyLayer(first.image);
    chmodSync(join(ctx, "x.sh"), 0o755);
    utimesSync(join(ctx, "y.txt"), 1_600_000_000, 1_600_000_000);
    const second = await runBuild(ws, ctx);
    const l2 = copyLayer(second.image);
    expect(ino(l2.dir, "m/x.sh")).not.toBe(ino(l1.dir, "m/x.sh"));
    expect(lstatSync(join(l2.dir, "m/x.sh")).mode & 0o777).toBe(0o755);
    expect(lstatSync(join(l1.dir, "m/x.sh")).mode & 0o777).toBe(0o644);
    expect(ino(l2.dir, "m/y.txt")).not.toBe(ino(l1.dir, "m/y.txt"));
    expect(lstatSync(join(l2.dir, "m/y.txt")).mtimeMs).toBe(1_600_000_000_000);
    expect(ino(l2.dir, "m/z.txt")).toBe(ino(l1.dir, "m/z.txt"));
  }, 60_000);

  it("keeps hard links of the context as links of their own, never shared with the old layer", async () => {
    const ctx = writeContext(join(ws.dir, "hard"), { Dockerfile: "FROM busybox\nCOPY h /h/\n", "h/one": "same\n", "h/other": "o\n" });
    linkSync(join(ctx, "h/one"), join(ctx, "h/two"));
    const first = await runBuild(ws, ctx);
    writeFileSync(join(ctx, "h/other"), "o changed\n");
    const second = await runBuild(ws, ctx);
    const [l1, l2] = [copyLayer(first.image), copyLayer(second.image)];
    expect(ino(l2.dir, "h/one")).toBe(ino(l2.dir, "h/two"));
    expect(ino(l2.dir, "h/one")).not.toBe(ino(l1.dir, "h/one"));
  }, 60_000);

  it("copies everything when the hint it links by is unreadable", async () => {
    const ctx = writeContext(join(ws.dir, "torn"), { Dockerfile: "FROM busybox\nCOPY t /t/\n", "t/p": "p\n", "t/q": "q\n" });
    const first = await runBuild(ws, ctx, EPOCH);
    const l1 = copyLayer(first.image);
    await ws.store.putPlaced(l1.diffId as Digest, "{ torn");
    writeFileSync(join(ctx, "t/q"), "q2\n");
    const second = await runBuild(ws, ctx, EPOCH);
    const l2 = copyLayer(second.image);
    expect(ino(l2.dir, "t/p")).not.toBe(ino(l1.dir, "t/p"));
    expect(readFileSync(join(l2.dir, "t/q"), "utf8")).toBe("q2\n");
    const scratch = await runBuild(fresh, ctx, EPOCH);
    expect(copyLayer(scratch.image).diffId).toBe(l2.diffId);
  }, 60_000);
});
