import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { runBuild, workspace, writeContext } from "./helpers.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
beforeAll(async () => {
  ws = await workspace("cache");
}, 60_000);
afterAll(() => ws?.cleanup());

const DOCKERFILE = [
  "FROM busybox",
  "RUN echo one > /one",
  "COPY a.txt /a.txt",
  "RUN cat /a.txt > /copy-of-a",
  "COPY b.txt /b.txt",
  "ARG V=1",
  "RUN echo $V > /v",
  "",
].join("\n");

describe("build cache", () => {
  let ctx: string;
  let firstId: string;
  beforeAll(async () => {
    ctx = writeContext(join(ws.dir, "ctx"), { Dockerfile: DOCKERFILE, "a.txt": "a1\n", "b.txt": "b1\n", "unrelated.txt": "u1\n" });
    const r = await runBuild(ws, ctx);
    firstId = r.imageId;
    expect(r.executedSteps).toBe(5);
  }, 60_000);

  it("a no-op rebuild is all cache hits and gives the same image ID", async () => {
    const r = await runBuild(ws, ctx);
    expect(r.executedSteps).toBe(0);
    expect(r.cachedSteps).toBe(5);
    expect(r.imageId).toBe(firstId);
  }, 60_000);

  it("changing an unrelated file misses nothing; touching a copied file without changing it misses nothing", async () => {
    writeFileSync(join(ctx, "unrelated.txt"), "u2\n");
    writeFileSync(join(ctx, "b.txt"), "b1\n");
    const r = await runBuild(ws, ctx);
    expect(r.executedSteps).toBe(0);
  }, 60_000);

  it("changing a copied file misses exactly the steps from that COPY on, and says which file", async () => {
    writeFileSync(join(ctx, "a.txt"), "a2\n");
    const r = await runBuild(ws, ctx);
    expect(r.cachedNames).toEqual(["[2/6] RUN echo one > /one"]);
    expect(r.executedNames).toEqual(["[3/6] COPY a.txt /a.txt", "[4/6] RUN cat /a.txt > /copy-of-a", "[5/6] COPY b.txt /b.txt", "[6/6] RUN echo 1 > /v"]);
    const explain = r.events.filter((e) => e.type === "explain");
    expect(explain[0]).toMatchObject({ reasons: ["file a.txt changed"] });
    expect(explain[1]).toMatchObject({ reasons: ["an earlier step (or the base image) changed"] });
    writeFileSync(join(ctx, "a.txt"), "a1\n");
    const back = await runBuild(ws, ctx);
    expect(back.executedSteps).toBe(0);
    expect(back.imageId).toBe(firstId);
  }, 60_000);

  it("a build arg that reaches a RUN misses from there and names the arg", async () => {
    const r = await runBuild(ws, ctx, { buildArgs: ["V=2"] });
    // ARG values reach every later RUN as environment: the miss starts at the first RUN after the ARG.
    expect(r.executedNames).toEqual(["[6/6] RUN echo 2 > /v"]);
    const ex = r.events.find((e) => e.type === "explain");
    expect(ex).toMatchObject({ reasons: ['V changed: "1" → "2"'] });
  }, 60_000);

  it("--no-cache runs every step; --no-cache-filter only the named stage's", async () => {
    const all = await runBuild(ws, ctx, { noCache: true });
    expect(all.executedSteps).toBe(5);
    const df = "FROM busybox AS a\nRUN echo a > /a\nFROM busybox\nCOPY --from=a /a /a\nRUN echo b > /b\n";
    const ctx2 = writeContext(join(ws.dir, "ctx2"), { Dockerfile: df });
    await runBuild(ws, ctx2);
    const r = await runBuild(ws, ctx2, { noCacheFilter: ["a"] });
    expect(r.executedNames).toEqual(["[a 2/2] RUN echo a > /a"]);
    expect(r.cachedSteps).toBe(2);
  }, 60_000);

  it("images sharing a prefix share its cache across Dockerfiles", async () => {
    const ctx3 = writeContext(join(ws.dir, "ctx3"), { Dockerfile: "FROM busybox\nRUN echo one > /one\nRUN echo other > /o\n" });
    const r = await runBuild(ws, ctx3);
    expect(r.cachedNames).toEqual(["[2/3] RUN echo one > /one"]);
  }, 60_000);
});
