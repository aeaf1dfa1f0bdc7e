import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BuildContext, resolveCopySources } from "../../../src/context/index.js";
import { writeCopy } from "../../../src/builder/copy/index.js";
import { makeTree } from "./tree.js";

const scratch = mkdtempSync("/tmp/berth-copy-overlay-");
const merged = join(scratch, "merged");
let mounted = false;
afterAll(() => {
  if (mounted) execFileSync("umount", [merged]);
  rmSync(scratch, { recursive: true, force: true });
});

describe("a COPY layer stacked on its parent with real overlayfs", () => {
  it("shows the copied files next to the parent's, with the parent's directories unchanged", async () => {
    const lower = join(scratch, "lower");
    makeTree(lower, {
      "usr/": { dir: true, mode: "0755" },
      "usr/local/": { dir: true, mode: "0755" },
      "usr/local/bin/": { dir: true, mode: "0751", uid: 2, gid: 3, mtime: 1234567890 },
      "usr/local/bin/old": { content: "old", mode: "0755" },
      "bin": { symlink: "usr/local/bin" },
    });
    const ctxDir = join(scratch, "ctx");
    makeTree(ctxDir, { "tool": { content: "#!/bin/sh\necho hi\n", mode: "0755" } });
    const upper = join(scratch, "upper");
    mkdirSync(upper);
    const ctx = await BuildContext.load(ctxDir, { ignorePatterns: [] });
    await writeCopy({ source: ctx, sources: resolveCopySources(ctx, ["tool"]), dest: "/bin/", upperDir: upper, lowerDirs: [lower], isOpaque: () => false });

    mkdirSync(merged);
    execFileSync("mount", ["-t", "overlay", "overlay", "-o", `ro,lowerdir=${upper}:${lower}`, merged]);
    mounted = true;
    expect(readdirSync(join(merged, "usr/local/bin")).sort()).toEqual(["old", "tool"]);
    expect(readFileSync(join(merged, "bin/tool"), "utf8")).toContain("echo hi");
    const dir = statSync(join(merged, "usr/local/bin"));
    expect(dir.mode & 0o7777).toBe(0o751);
    expect([dir.uid, dir.gid]).toEqual([2, 3]);
    // a new entry dates its directory (as the kernel does under BuildKit's copy); its parents keep theirs
    expect(dir.mtimeMs / 1000).toBeGreaterThan(1234567890);
    // (Node's utimes takes seconds as a double: digits below about a microsecond are lost)
    expect(Math.abs(statSync(join(merged, "usr/local")).mtimeMs - statSync(join(lower, "usr/local")).mtimeMs)).toBeLessThan(0.01);
    expect(statSync(join(merged, "usr/local/bin/tool")).mode & 0o7777).toBe(0o755);
  });
});
