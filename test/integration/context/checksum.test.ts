import { chmodSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BuildContext, checksumSelection, resolveCopySources, StatCache, type ChecksumOptions } from "../../../src/context/index.js";
import { makeTree } from "./tree.js";

const scratch = mkdtempSync("/tmp/berth-checksum-");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let n = 0;
function context(): string {
  const dir = join(scratch, `ctx${n++}`);
  makeTree(dir, {
    "app/": { dir: true },
    "app/main.js": { content: "console.log(1)\n", mtime: 1600000000 },
    "app/lib/": { dir: true },
    "app/lib/util.js": { content: "export {}\n" },
    "app/link": { symlink: "main.js" },
    "README.md": { content: "readme" },
  });
  return dir;
}

async function digestOf(dir: string, sources = ["app"], options: ChecksumOptions = {}): Promise<string> {
  const ctx = await BuildContext.load(dir, { ignorePatterns: [] });
  return (await checksumSelection(ctx, resolveCopySources(ctx, sources), options)).digest;
}

describe("COPY content checksums", () => {
  it("ignore mtimes but see content, mode, link targets, names, owners and chmod", async () => {
    const dir = context();
    const base = await digestOf(dir);
    utimesSync(join(dir, "app/main.js"), 1, 1);
    expect(await digestOf(dir)).toBe(base);

    writeFileSync(join(dir, "README.md"), "changed, but not selected");
    expect(await digestOf(dir)).toBe(base);

    const variants: [string, () => void][] = [
      ["content", () => writeFileSync(join(dir, "app/main.js"), "console.log(2)\n")],
      ["mode", () => chmodSync(join(dir, "app/lib/util.js"), 0o755)],
      ["link target", () => (unlinkSync(join(dir, "app/link")), symlinkSync("lib", join(dir, "app/link")))],
      ["new file", () => writeFileSync(join(dir, "app/lib/new.js"), "")],
    ];
    const seen = new Set([base]);
    for (const [what, change] of variants) {
      change();
      const d = await digestOf(dir);
      expect(seen.has(d), what).toBe(false);
      seen.add(d);
    }
    const last = [...seen].pop()!;
    expect(await digestOf(dir, ["app"], { owner: { uid: 1, gid: 1 } })).not.toBe(last);
    expect(await digestOf(dir, ["app"], { chmod: () => 0o700 })).not.toBe(last);
  });

  it("a renamed file changes the digest even with the same content", async () => {
    const a = context();
    const b = context();
    makeTree(b, { "app/main2.js": { content: "console.log(1)\n" } });
    unlinkSync(join(b, "app/main.js"));
    unlinkSync(join(b, "app/link"));
    symlinkSync("main.js", join(b, "app/link"));
    expect(await digestOf(a)).not.toBe(await digestOf(b));
  });

  it("reads an unchanged context only once with a persisted stat cache, and re-reads a touched file", async () => {
    const dir = context();
    const cacheFile = join(scratch, "cache", "stat.json");
    const first = StatCache.load(cacheFile);
    const ctx1 = await BuildContext.load(dir, { ignorePatterns: [] });
    const r1 = await checksumSelection(ctx1, resolveCopySources(ctx1, ["."]), { statCache: first });
    first.save();
    expect(r1.hashedFiles).toBe(3);

    const second = StatCache.load(cacheFile);
    const ctx2 = await BuildContext.load(dir, { ignorePatterns: [] });
    const r2 = await checksumSelection(ctx2, resolveCopySources(ctx2, ["."]), { statCache: second });
    expect(r2.hashedFiles).toBe(0);
    expect(r2.digest).toBe(r1.digest);

    utimesSync(join(dir, "README.md"), 2, 2);
    const ctx3 = await BuildContext.load(dir, { ignorePatterns: [] });
    const r3 = await checksumSelection(ctx3, resolveCopySources(ctx3, ["."]), { statCache: second });
    expect(r3.hashedFiles).toBe(1);
    expect(r3.digest).toBe(r1.digest);
  });

  it("a corrupt stat cache file is an empty cache", () => {
    const f = join(scratch, "corrupt.json");
    writeFileSync(f, "{not json");
    expect(StatCache.load(f).size).toBe(0);
  });

  it("hashes big selections in worker threads with the same result", async () => {
    const dir = join(scratch, "big");
    const tree: Record<string, { content: string }> = {};
    const chunk = "x".repeat(1 << 20);
    for (let i = 0; i < 70; i++) tree[`f${i}`] = { content: chunk + i };
    makeTree(dir, tree);
    const ctx = await BuildContext.load(dir, { ignorePatterns: [] });
    const sel = resolveCopySources(ctx, ["."]);
    const threaded = await checksumSelection(ctx, sel, { parallelism: 2 });
    const single = await checksumSelection(ctx, sel, { parallelism: 1 });
    expect(threaded.digest).toBe(single.digest);
  });
});

describe("explaining a checksum change", () => {
  it("names the added, removed and changed files", async () => {
    const { explainSelectionChange } = await import("../../../src/context/index.js");
    const dir = context();
    const sumOf = async () => {
      const ctx = await BuildContext.load(dir, { ignorePatterns: [] });
      return checksumSelection(ctx, resolveCopySources(ctx, ["app"]));
    };
    const before = await sumOf();
    writeFileSync(join(dir, "app/main.js"), "changed");
    unlinkSync(join(dir, "app/lib/util.js"));
    writeFileSync(join(dir, "app/new.js"), "");
    utimesSync(join(dir, "app/link"), 5, 5); // mtime only: not a change
    const after = await sumOf();
    expect(explainSelectionChange(before.entries, after.entries)).toEqual({ added: ["0:new.js"], removed: ["0:lib/util.js"], changed: ["0:main.js"] });
  });
});
