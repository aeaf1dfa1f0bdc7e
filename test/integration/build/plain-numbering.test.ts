import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { berthCli, workspace, writeContext } from "./helpers.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
beforeAll(async () => {
  ws = await workspace("numbering");
}, 60_000);
afterAll(() => ws?.cleanup());

const steps = (stderr: string) => stderr.split("\n").filter((l) => /^#\d+ \[/.test(l) && !/^#\d+ \[.*\] (CACHED|DONE)/.test(l));

describe("--progress=plain step numbers", () => {
  it("count only the steps shown (FROM, RUN, COPY, ADD, WORKDIR), as BuildKit's [k/n]", () => {
    const ctx = writeContext(join(ws.dir, "meta"), {
      Dockerfile: 'FROM busybox\nENV A=1\nLABEL x=y\nARG B=2\nUSER root\nRUN echo one\nEXPOSE 80\nWORKDIR /app\nCOPY f /app/f\nCMD ["sh"]\nRUN cat /app/f\n',
      f: "f\n",
    });
    const r = berthCli(join(ws.dir, "store"), ["build", "--progress=plain", ctx]);
    expect(r.status, r.stderr).toBe(0);
    expect(steps(r.stderr).map((l) => l.replace(/^#\d+ /, ""))).toEqual(["[1/5] FROM busybox", "[2/5] RUN echo one", "[3/5] WORKDIR /app", "[4/5] COPY f /app/f", "[5/5] RUN cat /app/f"]);
    // the #N vertex numbers are consecutive too
    expect(steps(r.stderr).map((l) => Number(/^#(\d+)/.exec(l)?.[1]))).toEqual([1, 2, 3, 4, 5]);
  }, 60_000);

  it("pads k to the width of n, after the stage's name", () => {
    const runs = Array.from({ length: 9 }, (_, i) => `RUN echo ${i + 1}`).join("\n");
    const ctx = writeContext(join(ws.dir, "wide"), { Dockerfile: `FROM busybox AS wide\nENV X=1\n${runs}\n` });
    const r = berthCli(join(ws.dir, "store"), ["build", "--progress=plain", ctx]);
    expect(r.status, r.stderr).toBe(0);
    const names = steps(r.stderr).map((l) => l.replace(/^#\d+ /, ""));
    expect(names[0]).toBe("[wide  1/10] FROM busybox");
    expect(names[1]).toBe("[wide  2/10] RUN echo 1");
    expect(names[9]).toBe("[wide 10/10] RUN echo 9");
  }, 60_000);
});
