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
});
