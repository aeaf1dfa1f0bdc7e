import { createHash, randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { readImageFile, runBuild, workspace, writeContext } from "./helpers.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
beforeAll(async () => {
  ws = await workspace("cache-sharing");
}, 60_000);
afterAll(() => ws?.cleanup());

/**
 * Two stages that berth runs side by side (both feed the last one). In each, a first RUN waits
 * at a barrier (a shared cache dir) until the other stage got there too, so the second RUNs
 * start together; each second RUN marks the cache dir of `id` (`a1`: stage a, round 1), sleeps 1 s, and records its
 * start and end (/proc/uptime, system-wide) and what the dir held then.
 */
function dockerfile(id: string, sharing: string, round: number): string {
  const sync = `sync-${randomBytes(6).toString("hex")}`;
  const stage = (me: string, other: string) => [
    `FROM busybox AS ${me}`,
    `RUN --mount=type=cache,target=/sync,id=${sync} touch /sync/${me}; i=0; while [ ! -e /sync/${other} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; [ -e /sync/${other} ] && echo met > /met`,
    `RUN --mount=type=cache,target=/c,id=${id},sharing=${sharing} read s x < /proc/uptime; touch /c/${me}${round}; sleep 1; read e x < /proc/uptime; echo "$s $e $(ls /c | tr '\\n' ' ')" > /out`,
  ];
  return [...stage("a", "b"), ...stage("b", "a"), "FROM busybox", "COPY --from=a /out /a.out", "COPY --from=a /met /a.met", "COPY --from=b /out /b.out", "COPY --from=b /met /b.met", ""].join("\n");
}

interface Seen {
  start: number;
  end: number;
  dir: string[];
}

async function buildCase(sharing: string, id = `c-${sharing}-${randomBytes(4).toString("hex")}`, round = 1): Promise<{ id: string; a: Seen; b: Seen }> {
  const ctx = writeContext(join(ws.dir, `ctx-${id}-${randomBytes(2).toString("hex")}`), { Dockerfile: dockerfile(id, sharing, round) });
  const r = await runBuild(ws, ctx, { noCache: true });
  // Both stages reached the barrier before either went on: their second RUNs were concurrent.
  expect(await readImageFile(r.image, "/a.met")).toBe("met\n");
  expect(await readImageFile(r.image, "/b.met")).toBe("met\n");
  const parse = (text: string | undefined): Seen => {
    const [start, end, ...dir] = (text ?? "").trim().split(/\s+/);
    return { start: Number(start), end: Number(end), dir: dir.sort() };
  };
  return { id, a: parse(await readImageFile(r.image, "/a.out")), b: parse(await readImageFile(r.image, "/b.out")) };
}

const overlap = (x: Seen, y: Seen): boolean => x.start < y.end && y.start < x.end;

describe("RUN --mount=type=cache,sharing=…, two stages at once", () => {
  it("shared: both RUNs use the same directory at the same time", async () => {
    const { a, b } = await buildCase("shared");
    expect(overlap(a, b)).toBe(true);
    expect(a.dir).toEqual(["a1", "b1"]);
    expect(b.dir).toEqual(["a1", "b1"]);
  }, 120_000);

  it("locked: the RUNs do not overlap; the second sees what the first left", async () => {
    const { a, b } = await buildCase("locked");
    expect(overlap(a, b)).toBe(false);
    const [first, second] = a.start < b.start ? [a, b] : [b, a];
    expect(first.dir.length).toBe(1);
    expect(second.dir).toEqual(["a1", "b1"]);
  }, 120_000);

  it("private: the RUNs run at once in different directories, which are kept and reused", async () => {
    const { id, a, b } = await buildCase("private");
    expect(overlap(a, b)).toBe(true);
    expect(a.dir).toEqual(["a1"]);
    expect(b.dir).toEqual(["b1"]);
    // Again: the two instances are free and reused, no third one is made. (The instances'
    // names are the store's layout: <sha256(id)[:32]> and <…>-1 under buildcache/mounts.)
    const again = await buildCase("private", id, 2);
    expect(overlap(again.a, again.b)).toBe(true);
    // each got one of the two kept instances (with a mark of the first build) and not the other's
    expect(again.a.dir).toHaveLength(2);
    expect(again.a.dir).toContain("a2");
    expect(again.a.dir).not.toContain("b2");
    expect(again.b.dir).toHaveLength(2);
    expect(again.b.dir).toContain("b2");
    expect(again.b.dir).not.toContain("a2");
    const hash = createHash("sha256").update(id).digest("hex").slice(0, 32);
    const dirs = readdirSync(ws.store.cacheMountsDir(), { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name.startsWith(hash))
      .map((e) => e.name)
      .sort();
    expect(dirs).toEqual([hash, `${hash}-1`]);
  }, 180_000);
});
