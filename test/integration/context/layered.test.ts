import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LayeredSourceFs, resolveCopySources } from "../../../src/context/index.js";
import { writeCopy } from "../../../src/builder/copy/index.js";
import { makeTree, readTree } from "./tree.js";

const scratch = mkdtempSync("/tmp/berth-layered-");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const mknod = (p: string): void => void execFileSync("mknod", [p, "c", "0", "0"]);

describe("COPY --from an image's layers (LayeredSourceFs)", () => {
  it("honours whiteouts and opaque directories, and keeps owners", async () => {
    const bottom = join(scratch, "l0");
    const top = join(scratch, "l1");
    makeTree(bottom, {
      "opt/": { dir: true },
      "opt/keep": { content: "keep", uid: 5, gid: 6 },
      "opt/gone": { content: "deleted above" },
      "opt/old/": { dir: true },
      "opt/old/stale": { content: "hidden by opaque dir" },
      "opt/replaced": { content: "bottom" },
    });
    makeTree(
      top,
      {
        "opt/": { dir: true },
        "opt/gone": { whiteout: true },
        "opt/old/": { dir: true },
        "opt/old/fresh": { content: "new" },
        "opt/replaced": { content: "top" },
      },
      mknod,
    );
    const opaque = new Set([join(top, "opt/old")]);
    const fs = new LayeredSourceFs([top, bottom], "image base", (d) => opaque.has(d));
    expect(fs.readdir("opt")).toEqual(["keep", "old", "replaced"]);
    const upper = join(scratch, "upper");
    makeTree(upper, {});
    await writeCopy({ source: fs, sources: resolveCopySources(fs, ["/opt"]), dest: "/dst/", upperDir: upper });
    const t = readTree(upper);
    expect(Object.keys(t)).toEqual(["/dst", "/dst/keep", "/dst/old", "/dst/old/fresh", "/dst/replaced"]);
    expect(t["/dst/keep"]).toMatchObject({ content: "keep", uid: 5, gid: 6 });
    expect(t["/dst/replaced"].content).toBe("top");
    expect(() => resolveCopySources(fs, ["/opt/gone"])).toThrow(/"\/opt\/gone": not found in the image base/);
  });
});

describe("COPY --from a stage with device nodes and fifos", () => {
  it("recreates them with the same numbers (BuildKit copies devices)", async () => {
    const { DirSourceFs } = await import("../../../src/context/index.js");
    const { lstatSync } = await import("node:fs");
    const stage = join(scratch, "stage");
    makeTree(stage, { "dev/": { dir: true } });
    execFileSync("mknod", [join(stage, "dev/null"), "c", "1", "3"]);
    execFileSync("mknod", [join(stage, "dev/loopx"), "b", "7", "300"]);
    execFileSync("mkfifo", [join(stage, "dev/pipe")]);
    const fs = new DirSourceFs(stage, "stage");
    const upper = join(scratch, "upper-dev");
    makeTree(upper, {});
    await writeCopy({ source: fs, sources: resolveCopySources(fs, ["/dev"]), dest: "/dev/", upperDir: upper });
    const want = lstatSync(join(stage, "dev/null"));
    const got = lstatSync(join(upper, "dev/null"));
    expect(got.isCharacterDevice()).toBe(true);
    expect(got.rdev).toBe(want.rdev);
    expect(lstatSync(join(upper, "dev/loopx")).rdev).toBe(lstatSync(join(stage, "dev/loopx")).rdev);
    expect(lstatSync(join(upper, "dev/pipe")).isFIFO()).toBe(true);
  });
});

describe("COPY with worker threads", () => {
  it("writes the same tree as the main thread", async () => {
    const { BuildContext } = await import("../../../src/context/index.js");
    const { readTree } = await import("./tree.js");
    const ctxDir = join(scratch, "many");
    const tree: Record<string, { content: string; mode?: string; mtime?: number }> = {};
    for (let i = 0; i < 300; i++) tree[`d${i % 7}/f${i}`] = { content: `file ${i}`, mode: i % 2 ? "0600" : "0755", mtime: 1600000000 + i };
    tree["big"] = { content: "y".repeat(3 << 20) };
    makeTree(ctxDir, tree);
    const ctx = await BuildContext.load(ctxDir, { ignorePatterns: [] });
    const sources = resolveCopySources(ctx, ["."]);
    const one = join(scratch, "one");
    const two = join(scratch, "two");
    makeTree(one, {});
    makeTree(two, {});
    await writeCopy({ source: ctx, sources, dest: "/", upperDir: one, parallelism: 1, owner: { uid: 9, gid: 9 } });
    await writeCopy({ source: ctx, sources, dest: "/", upperDir: two, parallelism: 2, owner: { uid: 9, gid: 9 } });
    const strip = (t: ReturnType<typeof readTree>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { ...v, ino: 0 }]));
    const a = strip(readTree(one));
    expect(Object.keys(a)).toHaveLength(308);
    expect(strip(readTree(two))).toEqual(a);
  });
});

describe("overlay opaque directories read with getfattr", () => {
  it("hides lower entries below a directory marked trusted.overlay.opaque=y", async () => {
    const { overlayOpaque, LayeredSourceFs: Layered } = await import("../../../src/context/index.js");
    const bottom = join(scratch, "op0");
    const top = join(scratch, "op1");
    makeTree(bottom, { "etc/": { dir: true }, "etc/old.conf": { content: "old" } });
    makeTree(top, { "etc/": { dir: true }, "etc/new.conf": { content: "new" } });
    expect(overlayOpaque(join(top, "etc"))).toBe(false);
    execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(top, "etc")]);
    expect(overlayOpaque(join(top, "etc"))).toBe(true);
    expect(new Layered([top, bottom]).readdir("etc")).toEqual(["new.conf"]);
  });
});
