import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script, no type declarations
import { cycles, document, folderGraph } from "../../scripts/module-graph.mjs";

const repo = join(import.meta.dirname, "../..");
const src = join(repo, "src");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

describe("the shape of src/", () => {
  it("has no cycle between folders", () => {
    expect(cycles(folderGraph(src))).toEqual([]);
  });

  it("has its module graph in docs/module-graph.md, current (npm run graph writes it)", () => {
    expect(readFileSync(join(repo, "docs/module-graph.md"), "utf8")).toBe(document(folderGraph(src)));
  });

  it("calls berth's addon only from src/sys/, where each call has its fallback", () => {
    const callers = sources(src)
      .filter((f) => !relative(src, f).startsWith("sys/"))
      .filter((f) => /\bberthNative\b|\bBerthNative\b/.test(readFileSync(f, "utf8")))
      .map((f) => relative(src, f));
    expect(callers).toEqual([]);
  });
});
