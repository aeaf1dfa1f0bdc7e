import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { readImageFile, runBuild, workspace, writeContext } from "./helpers.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
let n = 0;
const canRun = process.getuid?.() === 0;
beforeAll(async () => {
  if (canRun) ws = await workspace("bindctx");
}, 60_000);
afterAll(() => ws?.cleanup());

function ctx(files: Record<string, string>): string {
  return writeContext(join(ws.dir, `c${n++}`), files);
}

const files = {
  "keep.txt": "kept",
  "secret.env": "excluded",
  "logs/a.log": "excluded",
  "logs/keep.log": "re-included",
  "sub/inner.txt": "inner",
  "sub/drop.tmp": "excluded",
  "sub/deep/x.tmp": "excluded",
  "sub/deep/y.txt": "y",
  "node_modules/m/index.js": "excluded",
};
const ignore = "secret.env\nlogs/*\n!logs/keep.log\n**/*.tmp\nnode_modules\n";
const list = "find . | sort > /listing-$N";

/** RUN --mount=type=bind from the context sees the context after .dockerignore, as BuildKit mounts it. */
describe.runIf(canRun)("RUN --mount=type=bind of the build context honours .dockerignore", () => {
  it("excluded files are invisible, included ones visible, read-only and read-write, with source=subdir", async () => {
    const c = ctx({
      ...files,
      ".dockerignore": ignore,
      Dockerfile: [
        "FROM busybox",
        `RUN --mount=type=bind,target=/ctx cd /ctx && N=ro && ${list}`,
        `RUN --mount=type=bind,target=/ctx,rw cd /ctx && echo new > added && rm keep.txt && N=rw && ${list}`,
        `RUN --mount=type=bind,source=sub,target=/s cd /s && N=sub && ${list}`,
        `RUN --mount=type=bind,source=sub/deep,target=/d cd /d && N=deep && ${list}`,
        `RUN --mount=type=bind,source=keep.txt,target=/k.txt cat /k.txt > /listing-file`,
        "RUN --mount=type=bind,target=/ctx cat /ctx/keep.txt > /after-rw",
      ].join("\n"),
    });
    const r = await runBuild(ws, c);
    const read = async (name: string) => (await readImageFile(r.image, name))?.split("\n").filter(Boolean);
    expect(await read("/listing-ro")).toEqual([".", "./.dockerignore", "./Dockerfile", "./keep.txt", "./logs", "./logs/keep.log", "./sub", "./sub/deep", "./sub/deep/y.txt", "./sub/inner.txt"]);
    expect(await read("/listing-rw")).toEqual([".", "./.dockerignore", "./Dockerfile", "./added", "./logs", "./logs/keep.log", "./sub", "./sub/deep", "./sub/deep/y.txt", "./sub/inner.txt"]);
    expect(await read("/listing-sub")).toEqual([".", "./deep", "./deep/y.txt", "./inner.txt"]);
    expect(await read("/listing-deep")).toEqual([".", "./y.txt"]);
    expect(await readImageFile(r.image, "/listing-file")).toBe("kept");
    expect(await readImageFile(r.image, "/after-rw")).toBe("kept"); // the rw step's changes were thrown away
  }, 120_000);

  it("an excluded source is not found", async () => {
    const c = ctx({ ...files, ".dockerignore": ignore, Dockerfile: "FROM busybox\nRUN --mount=type=bind,source=node_modules,target=/m ls /m\n" });
    await expect(runBuild(ws, c)).rejects.toThrow(/"\/node_modules": not found/);
  }, 60_000);

  it("<Dockerfile>.dockerignore wins over .dockerignore", async () => {
    const c = ctx({
      ...files,
      ".dockerignore": "keep.txt\n",
      "build.Dockerfile": `FROM busybox\nRUN --mount=type=bind,target=/ctx cd /ctx && N=df && ${list}\n`,
      "build.Dockerfile.dockerignore": ignore,
    });
    const r = await runBuild(ws, c, { dockerfile: join(c, "build.Dockerfile") });
    const listing = (await readImageFile(r.image, "/listing-df"))?.split("\n").filter(Boolean);
    expect(listing).toContain("./keep.txt");
    expect(listing).toContain("./.dockerignore");
    expect(listing).not.toContain("./secret.env");
    expect(listing).not.toContain("./sub/drop.tmp");
    expect(listing).not.toContain("./node_modules");
  }, 60_000);

  it("nothing excluded: the context itself", async () => {
    const c = ctx({ ...files, Dockerfile: `FROM busybox\nRUN --mount=type=bind,target=/ctx cd /ctx && N=all && ${list}\n` });
    const r = await runBuild(ws, c);
    const listing = (await readImageFile(r.image, "/listing-all"))?.split("\n").filter(Boolean);
    expect(listing).toContain("./secret.env");
    expect(listing).toContain("./node_modules/m/index.js");
  }, 60_000);
});
