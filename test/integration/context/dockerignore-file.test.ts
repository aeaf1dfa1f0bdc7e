import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BuildContext } from "../../../src/context/index.js";
import { makeTree } from "./tree.js";

const scratch = mkdtempSync("/tmp/berth-ignorefile-");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("which .dockerignore applies", () => {
  const dir = join(scratch, "ctx");
  makeTree(dir, {
    ".dockerignore": { content: "a\n" },
    "build/web.Dockerfile": { content: "FROM scratch\n" },
    "build/web.Dockerfile.dockerignore": { content: "# only b\nb\n" },
    "a": { content: "" },
    "b": { content: "" },
  });

  it("uses <context>/.dockerignore by default", async () => {
    const ctx = await BuildContext.load(dir);
    expect(ctx.lstat("a")).toBeUndefined();
    expect(ctx.lstat("b")).toBeDefined();
    expect(ctx.ignoreFile).toBe(".dockerignore");
  });

  it("prefers <Dockerfile>.dockerignore next to a named Dockerfile", async () => {
    const ctx = await BuildContext.load(dir, { dockerfile: "build/web.Dockerfile" });
    expect(ctx.lstat("a")).toBeDefined();
    expect(ctx.lstat("b")).toBeUndefined();
    expect(ctx.ignoreFile).toBe("build/web.Dockerfile.dockerignore");
  });

  it("names the file and pattern when a pattern is malformed", async () => {
    const bad = join(scratch, "bad");
    makeTree(bad, { ".dockerignore": { content: "ok\nx[\n" } });
    await expect(BuildContext.load(bad)).rejects.toThrow(/^\.dockerignore:2: syntax error in pattern: "x\["$/);
  });

  it("says when the context directory does not exist", async () => {
    await expect(BuildContext.load(join(scratch, "nope"))).rejects.toThrow(/unable to prepare context: path .* not found/);
  });

  it("indexes a context of more directories than it lists at once: exclusions, re-includes, order", async () => {
    // more directories than the walk lists at once, nested, with excluded trees and a
    // re-included file deep in an excluded one
    const wide = join(scratch, "wide");
    const files: Record<string, { content: string }> = { ".dockerignore": { content: "d0*\n!d03/s1/keep\nd1*/s2\n" } };
    for (let d = 0; d < 20; d++) for (let s2 = 0; s2 < 3; s2++) for (let f = 0; f < 5; f++) files[`d${String(d).padStart(2, "0")}/s${s2}/f${f}`] = { content: `${d} ${s2} ${f}` };
    files["d03/s1/keep"] = { content: "kept" };
    makeTree(wide, files);
    const ctx = await BuildContext.load(wide);
    expect(ctx.readdir("")).toEqual([".dockerignore", "d03", ...Array.from({ length: 10 }, (_, i) => `d${10 + i}`)]);
    expect(ctx.readdir("d03")).toEqual(["s1"]);
    expect(ctx.readdir("d03/s1")).toEqual(["keep"]);
    expect(ctx.lstat("d05")).toBeUndefined();
    expect(ctx.readdir("d12")).toEqual(["s0", "s1"]);
    expect(ctx.lstat("d12/s2/f0")).toBeUndefined();
    expect(ctx.readdir("d19/s1")).toEqual(["f0", "f1", "f2", "f3", "f4"]);
    // the root, .dockerignore, d03, d03/s1, its keep; ten d1* of two s* of five files
    expect(ctx.size).toBe(5 + 10 * (1 + 2 * (1 + 5)));
  });
});
