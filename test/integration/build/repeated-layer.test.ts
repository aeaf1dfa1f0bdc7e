import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { berthCli, workspace, writeContext } from "./helpers.js";

/**
 * An image that holds one layer twice (the same COPY again: one diff_id, one layer dir) must
 * run and be built on: overlayfs refuses a lower dir it has already ("Too many levels of
 * symbolic links"). The order matters: the repeated layer wins over the one between.
 */
describe("an image with a repeated layer", () => {
  let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
  const berth = (args: string[]) => berthCli(join(ws.dir, "store"), args);
  beforeAll(async () => {
    ws = await workspace("repeated-layer");
  }, 60_000);
  afterAll(() => ws?.cleanup());

  it("runs, and builds on, with the topmost occurrence winning over the layers between", async () => {
    const ctx = writeContext(join(ws.dir, "ctx"), {
      "a/f": "from a\n",
      "b/f": "from b\n",
      Dockerfile: "FROM busybox\nCOPY a/f /f\nCOPY b/f /f\nCOPY a/f /f\n",
    });
    const built = berth(["build", "-q", "-t", "twice:1", ctx]);
    expect(built.status, built.stderr).toBe(0);
    const image = await ws.store.resolveImage("twice:1");
    const diffIds = image.layers.map((l) => l.diffId);
    // the premise: the first and third COPY made the same layer
    expect(diffIds).toHaveLength(4);
    expect(diffIds[3]).toBe(diffIds[1]);
    expect(image.layers[3]!.dir).toBe(image.layers[1]!.dir);

    const run = berth(["run", "--rm", "twice:1", "cat", "/f"]);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toBe("from a\n");

    const on = writeContext(join(ws.dir, "on"), { Dockerfile: "FROM twice:1\nRUN cat /f > /g\n" });
    const next = berth(["build", "-q", "-t", "on-twice:1", on]);
    expect(next.status, next.stderr).toBe(0);
    expect(berth(["run", "--rm", "on-twice:1", "cat", "/g"]).stdout).toBe("from a\n");

    // the same COPYs from the cache (every layer from its record: the same dir twice) and a RUN
    const rebuilt = berthCli(join(ws.dir, "store"), ["build", "--progress=plain", "-f", "-", ctx], { input: "FROM busybox\nCOPY a/f /f\nCOPY b/f /f\nCOPY a/f /f\nRUN cat /f\n" });
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    expect(rebuilt.stderr).toMatch(/#4 CACHED/);
    expect(rebuilt.stderr).toMatch(/#5 [\d.]+ from a/);
  }, 120_000);
});
