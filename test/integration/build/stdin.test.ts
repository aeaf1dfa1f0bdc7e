import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { BERTH, berthCli, workspace, writeContext } from "./helpers.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
beforeAll(async () => {
  ws = await workspace("stdin");
}, 60_000);
afterAll(() => ws?.cleanup());

const stdinDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith("berth-stdin-"));

describe("berth build - (stdin)", () => {
  it("a Dockerfile on stdin builds with an empty context, as docker build -", () => {
    const before = stdinDirs();
    const r = berthCli(join(ws.dir, "store"), ["build", "--progress=plain", "-t", "from-stdin:1", "-"], { input: "FROM busybox\nRUN echo built-from-stdin\n" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/#\d+ [\d.]+ built-from-stdin/);
    expect(r.stderr).toContain("naming to from-stdin:1 done");
    // no context: a COPY finds nothing
    const copy = berthCli(join(ws.dir, "store"), ["build", "--progress=plain", "-"], { input: "FROM busybox\nCOPY anything /x\n" });
    expect(copy.status).not.toBe(0);
    expect(copy.stderr).toContain("anything");
    expect(stdinDirs()).toEqual(before);
  }, 60_000);

  it("a (gzipped) tar on stdin is the context, with its Dockerfile or -f inside it", () => {
    const ctx = writeContext(join(ws.dir, "tarctx"), { "sub/Build.df": "FROM busybox\nCOPY hello /hello\nRUN cat /hello\n", Dockerfile: "FROM busybox\nCOPY hello /hello\nRUN echo default && cat /hello\n", hello: "hello-from-the-tar\n" });
    const tar = spawnSync("tar", ["-C", ctx, "-czf", "-", "."]).stdout;
    const run = (args: string[]) =>
      spawnSync(process.execPath, [BERTH, "--root", join(ws.dir, "store"), "build", "--progress=plain", ...args, "-"], { input: tar, encoding: "utf8", env: { ...process.env, BERTH_ROOT: "" } });
    const named = run(["-f", "sub/Build.df"]);
    expect(named.status, named.stderr).toBe(0);
    expect(named.stderr).toMatch(/#\d+ [\d.]+ hello-from-the-tar/);
    const plain = spawnSync(process.execPath, [BERTH, "--root", join(ws.dir, "store"), "build", "--progress=plain", "-"], { input: spawnSync("tar", ["-C", ctx, "-cf", "-", "."]).stdout, encoding: "utf8", env: { ...process.env, BERTH_ROOT: "" } });
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/#\d+ [\d.]+ default/);
  }, 60_000);

  it("stdin for both the context and the Dockerfile is refused, as Docker's", () => {
    const r = berthCli(join(ws.dir, "store"), ["build", "-f", "-", "-"], { input: "FROM busybox\n" });
    expect(r.status).toBe(125);
    expect(r.stderr).toContain("invalid argument: can't use stdin for both build context and dockerfile");
  });
});
