import { existsSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildCacheUsage, pruneBuildCache } from "../../../src/builder/prune.js";
import { acquireFlock } from "../../../src/sys/flock.js";
import type { Store } from "../../../src/store/index.js";
import { readImageFile, runBuild, workspace, writeContext, berthCli } from "./helpers.js";

const spaces: { cleanup(): void }[] = [];
afterAll(() => {
  for (const s of spaces) s.cleanup();
});

async function space(): Promise<{ dir: string; store: Store; stateDir: string }> {
  const ws = await workspace("prune");
  spaces.push(ws);
  return ws;
}

/**
 * A tagged image built from three stages: a seed stage for a cache mount (its layer is in no
 * image), another stage one file of which is copied, and cache mounts with and without from=.
 */
const DOCKERFILE = [
  "FROM busybox AS seed",
  "RUN mkdir /data && echo seeded > /data/x && dd if=/dev/zero of=/data/pad bs=1k count=200 2>/dev/null",
  "FROM busybox AS other",
  "RUN echo other > /o && dd if=/dev/zero of=/pad2 bs=1k count=100 2>/dev/null",
  "FROM busybox",
  "COPY --from=other /o /o",
  "RUN --mount=type=cache,target=/c,from=seed,source=/data cat /c/x > /x && echo run >> /c/log",
  "RUN --mount=type=cache,target=/plain,id=plain echo hi >> /plain/log && echo final > /f",
  "",
].join("\n");

const FINAL_STEPS = ["COPY --from=other", "RUN --mount=type=cache,target=/c", "RUN --mount=type=cache,target=/plain"];

function mountDirs(store: Store): string[] {
  const dir = store.cacheMountsDir();
  return existsSync(dir) ? readdirSync(dir).filter((n) => /^[0-9a-f]{32}(-\d+)?$/.test(n)) : [];
}

function berth(root: string, args: string[], input?: string) {
  return berthCli(root, args, input !== undefined ? { input } : {});
}

describe("berth builder prune", () => {
  it("without -a: dangling cache goes (cache mounts, records of layers no image uses); the image's steps stay cached", async () => {
    const ws = await space();
    const c = writeContext(join(ws.dir, "ctx"), { Dockerfile: DOCKERFILE });
    const first = await runBuild(ws, c, { tags: ["app"] });
    expect(mountDirs(ws.store)).toHaveLength(2);
    const records = (await ws.store.listCacheEntries()).length;
    const r = await pruneBuildCache(ws.store);
    expect(mountDirs(ws.store)).toEqual([]);
    // two stages' RUN layers (~200 kB and ~100 kB, tar bytes) and the cache mounts' contents
    expect(r.reclaimedBytes).toBeGreaterThan(300_000);
    expect(r.deleted.length).toBeGreaterThanOrEqual(4);
    // the image's three step records and the --explain records stay
    expect((await ws.store.listCacheEntries()).length).toBeLessThan(records);
    expect((await ws.store.listCacheEntries()).length).toBeGreaterThanOrEqual(3);
    for (const l of first.image.layers) expect(await ws.store.layer(l.diffId)).toBeDefined();
    const again = await runBuild(ws, c, { tags: ["app"] });
    for (const s of FINAL_STEPS) expect(again.cachedNames.some((n) => n.includes(s))).toBe(true);
    expect(again.executedNames.some((n) => n.includes("[seed 2/2] RUN"))).toBe(true);
    expect(again.imageId).toBe(first.imageId);
    // a second prune finds the seed stage's new record and nothing else of the image
    const second = await pruneBuildCache(ws.store);
    const after = await runBuild(ws, c, { tags: ["app"] });
    expect(second.deleted.length).toBeGreaterThan(0);
    for (const s of FINAL_STEPS) expect(after.cachedNames.some((n) => n.includes(s))).toBe(true);
  }, 180_000);

  it("-af (CLI): removes every record and cache mount; the image's layers survive, it runs and inspects; a rebuild misses every step and works", async () => {
    const ws = await space();
    const root = ws.store.root;
    const c = writeContext(join(ws.dir, "ctx"), { Dockerfile: DOCKERFILE });
    const first = await runBuild(ws, c, { tags: ["app"] });
    // before: the image's three step records, the two other stages' and the two cache mounts
    expect(berth(root, ["system", "df"]).stdout).toMatch(/Build Cache\s+7\s+0\s+[\d.]+kB\s+[\d.]+kB/);
    const p = berth(root, ["builder", "prune", "-af"]);
    expect(p.stderr).toBe("");
    expect(p.status).toBe(0);
    expect(p.stdout).toMatch(/^Deleted build cache objects:\n([0-9a-z-]+\n)+\nTotal reclaimed space: [\d.]+[kM]B\n$/);
    expect(await ws.store.listCacheEntries()).toEqual([]);
    expect(mountDirs(ws.store)).toEqual([]);
    for (const l of first.image.layers) expect(await ws.store.layer(l.diffId)).toBeDefined();
    const run = berth(root, ["run", "--rm", "app", "cat", "/x", "/f", "/o"]);
    expect(run.stdout).toBe("seeded\nfinal\nother\n");
    expect(JSON.parse(berth(root, ["inspect", "app"]).stdout)[0].Id).toBe(first.imageId);
    const df = berth(root, ["system", "df"]);
    expect(df.stdout).toMatch(/Build Cache\s+0\s+0\s+0B\s+0B/);
    const again = await runBuild(ws, c, { tags: ["app"] });
    expect(again.cachedSteps).toBe(0);
    expect(await readImageFile(again.image, "/x")).toBe("seeded\n");
    // the cache mounts start afresh: the log has one line again
    const log = await runBuild(ws, writeContext(join(ws.dir, "ctx2"), { Dockerfile: "FROM busybox\nRUN --mount=type=cache,target=/plain,id=plain cat /plain/log > /seen\n" }));
    expect(await readImageFile(log.image, "/seen")).toBe("hi\n");
  }, 180_000);

  it("prompts as docker does and does nothing unless answered y; bad filters are refused", async () => {
    const ws = await space();
    const root = ws.store.root;
    await runBuild(ws, writeContext(join(ws.dir, "ctx"), { Dockerfile: "FROM busybox\nRUN --mount=type=cache,target=/c echo x > /c/x\n" }));
    const no = berth(root, ["builder", "prune"], "n\n");
    expect(no.stdout).toBe("WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] Total reclaimed space: 0B\n");
    expect(mountDirs(ws.store)).toHaveLength(1);
    const eof = berth(root, ["builder", "prune", "-a"], "");
    expect(eof.stdout).toContain("WARNING! This will remove all build cache. Are you sure you want to continue? [y/N] ");
    expect(mountDirs(ws.store)).toHaveLength(1);
    const recent = berth(root, ["builder", "prune", "-f", "--filter", "until=1h"]);
    expect(recent.stdout).toBe("Total reclaimed space: 0B\n");
    expect(mountDirs(ws.store)).toHaveLength(1);
    const yes = berth(root, ["builder", "prune"], "y\n");
    expect(yes.stdout).toMatch(/Deleted build cache objects:\n[0-9a-f]{32}\n/);
    expect(mountDirs(ws.store)).toEqual([]);
    const bad = berth(root, ["builder", "prune", "-f", "--filter", "type=regular"]);
    expect(bad.status).toBe(125);
    expect(bad.stderr).toContain("invalid filter 'type'");
    const badDuration = berth(root, ["builder", "prune", "-f", "--filter", "until=soon"]);
    expect(badDuration.status).toBe(125);
  }, 180_000);

  it("never removes a cache mount directory whose lock a build holds", async () => {
    const ws = await space();
    await runBuild(ws, writeContext(join(ws.dir, "ctx"), { Dockerfile: "FROM busybox\nRUN --mount=type=cache,target=/c echo x > /c/x\n" }));
    const [dir] = mountDirs(ws.store);
    const held = await acquireFlock(join(ws.store.cacheMountsDir(), `${dir}.lock`), "shared");
    try {
      const r = await pruneBuildCache(ws.store, { all: true });
      expect(r.deleted).not.toContain(dir);
      expect(mountDirs(ws.store)).toEqual([dir]);
    } finally {
      await held.release();
    }
    await pruneBuildCache(ws.store, { all: true });
    expect(mountDirs(ws.store)).toEqual([]);
  }, 120_000);

  it("waits for a running build (which holds the build lock) before removing anything", async () => {
    const ws = await space();
    await runBuild(ws, writeContext(join(ws.dir, "ctx"), { Dockerfile: "FROM busybox\nRUN --mount=type=cache,target=/c echo x > /c/x\n" }));
    const build = await ws.store.holdLock("build", "shared");
    let waited = false;
    let done = false;
    const pruning = pruneBuildCache(ws.store, { all: true, onWait: () => { waited = true; } }).then((r) => {
      done = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 600));
    expect(waited).toBe(true);
    expect(done).toBe(false);
    expect(mountDirs(ws.store)).toHaveLength(1);
    await build.release();
    const r = await pruning;
    expect(r.deleted.length).toBeGreaterThan(0);
    expect(mountDirs(ws.store)).toEqual([]);
  }, 120_000);

  it("--keep-storage removes nothing while the cache fits, then the least recently used first until it does", async () => {
    const ws = await space();
    const root = ws.store.root;
    await runBuild(ws, writeContext(join(ws.dir, "ctx"), { Dockerfile: DOCKERFILE }), { tags: ["app"] });
    const total = (await buildCacheUsage(ws.store)).bytes;
    expect(total).toBeGreaterThan(300_000);
    const fits = berth(root, ["builder", "prune", "-af", "--keep-storage", String(total)]);
    expect(fits.stdout).toBe("Total reclaimed space: 0B\n");
    expect((await buildCacheUsage(ws.store)).bytes).toBe(total);
    // one cache mount last used a day ago: the oldest of all, so the first to go
    const [oldMount] = mountDirs(ws.store);
    const lock = join(ws.store.cacheMountsDir(), `${oldMount}.lock`);
    if (!existsSync(lock)) writeFileSync(lock, "");
    const dayAgo = new Date(Date.now() - 86_400_000);
    utimesSync(lock, dayAgo, dayAgo);
    const r = await pruneBuildCache(ws.store, { all: true, keepBytes: total - 1 });
    expect(r.deleted).toEqual([oldMount]);
    expect(mountDirs(ws.store)).toHaveLength(1);
    // 0 keeps nothing: what is left goes, as without the flag
    await pruneBuildCache(ws.store, { all: true, keepBytes: 0 });
    expect(mountDirs(ws.store)).toEqual([]);
    expect(await ws.store.listCacheEntries()).toEqual([]);
    const bad = berth(root, ["builder", "prune", "-f", "--keep-storage", "lots"]);
    expect(bad.status).toBe(125);
    expect(bad.stderr).toContain("--keep-storage");
  }, 180_000);
});
