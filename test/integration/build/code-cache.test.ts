import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { workspace, writeContext } from "./helpers.js";

// bin/berth keeps a V8 code cache per command beside the bundle, and writes it again when a
// run does a kind of work the cache has not seen (src/code-paths.ts). A copy of the launcher
// and the bundle, so that other tests' builds do not write the same cache meanwhile.

const REPO = join(__dirname, "../../..");
let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
let install = "";

beforeAll(async () => {
  ws = await workspace("code-cache");
  install = join(ws.dir, "install");
  mkdirSync(join(install, "dist"), { recursive: true });
  cpSync(join(REPO, "bin"), join(install, "bin"), { recursive: true });
  // the bundles and routes.json, without the caches other tests' commands wrote
  cpSync(join(REPO, "dist", "bundle"), join(install, "dist", "bundle"), { recursive: true, filter: (f) => !/\.cache(\.kinds)?$/.test(f) });
  symlinkSync(join(REPO, "native"), join(install, "native"));
}, 60_000);
afterAll(() => ws?.cleanup());

function build(ctx: string) {
  const r = spawnSync(join(install, "bin", "berth"), ["--root", join(ws.dir, "store"), "build", "-q", ctx], { encoding: "utf8", env: { ...process.env, BERTH_ROOT: "" } });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
}

function cacheFiles(): { cache: string; kinds: string[]; mtime: number } {
  const dir = join(install, "dist", "bundle");
  // build starts from its own bundle (src/cli/routes.ts)
  const cache = readdirSync(dir).find((f) => /^build\.cjs\.build\..*\.cache$/.test(f));
  if (cache === undefined) throw new Error("no code cache for build");
  return { cache, kinds: JSON.parse(readFileSync(join(dir, `${cache}.kinds`), "utf8")) as string[], mtime: statSync(join(dir, cache)).mtimeMs };
}

describe("bin/berth's code cache", () => {
  it("is written by the first build, again when a build does new kinds of work, and not for the same kinds", async () => {
    const single = writeContext(join(ws.dir, "single"), { Dockerfile: "FROM busybox\nRUN echo one > /one\n" });
    build(single);
    const first = cacheFiles();
    expect(first.kinds).toContain("run:run");
    expect(first.kinds).not.toContain("stages");
    build(single); // a hit: a kind not seen yet
    const hit = cacheFiles();
    expect(hit.kinds).toContain("run:hit");
    const multi = writeContext(join(ws.dir, "multi"), { Dockerfile: "FROM busybox AS a\nRUN echo a > /a\nFROM busybox\nCOPY --from=a /a /a\n" });
    build(multi);
    const grown = cacheFiles();
    expect(grown.kinds).toEqual(expect.arrayContaining(["run:run", "run:hit", "stages", "copy:run:from"]));
    expect(grown.mtime).toBeGreaterThan(hit.mtime);
    build(multi); // all hits: copy:hit:from is new
    const hits = cacheFiles();
    expect(hits.kinds).toContain("copy:hit:from");
    await new Promise((r) => setTimeout(r, 20));
    build(multi); // only kinds seen before: the cache stays as it is
    const same = cacheFiles();
    expect(same.mtime).toBe(hits.mtime);
    expect(same.kinds).toEqual(hits.kinds);
  }, 120_000);
});
