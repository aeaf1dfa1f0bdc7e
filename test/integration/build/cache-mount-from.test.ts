import { spawn } from "node:child_process";
import { readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildError } from "../../../src/builder/index.js";
import type { Store } from "../../../src/store/index.js";
import { BERTH, berthCli, readImageFile, runBuild, workspace, writeContext } from "./helpers.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
let n = 0;
beforeAll(async () => {
  ws = await workspace("cachefrom");
}, 60_000);
afterAll(() => ws?.cleanup());

function ctx(files: Record<string, string>): string {
  return writeContext(join(ws.dir, `c${n++}`), files);
}

const lines = (s: string | undefined): string[] => (s ?? "").split("\n").filter(Boolean);

/** A stage whose /data seeds the caches: a file with its own owner and mode, a symlink, a subdir. */
const SEED = [
  "FROM busybox AS seed",
  "ARG V=1",
  "RUN mkdir -p /data/sub && echo seeded > /data/a && ln -s a /data/link && chown 1000:1001 /data/a && chmod 640 /data/a && echo $V > /data/v && echo deep > /data/sub/d",
].join("\n");

describe("RUN --mount=type=cache,from=…,source=…", () => {
  it("a cache from a stage starts as the stage's files (owners, modes, links kept); later builds see what earlier RUNs left", async () => {
    const id = `from-${n}`;
    const c = ctx({
      Dockerfile: `${SEED}\nFROM busybox\nARG N\nRUN --mount=type=cache,id=${id},target=/c,from=seed,source=/data cat /c/a > /first && stat -c '%u:%g %a' /c/a > /owner && readlink /c/link > /link && echo $N >> /c/log && cat /c/log > /seen\n`,
    });
    const one = await runBuild(ws, c, { buildArgs: ["N=1"] });
    expect((await readImageFile(one.image, "/first"))?.trim()).toBe("seeded");
    expect((await readImageFile(one.image, "/owner"))?.trim()).toBe("1000:1001 640");
    expect((await readImageFile(one.image, "/link"))?.trim()).toBe("a");
    expect(lines(await readImageFile(one.image, "/seen"))).toEqual(["1"]);
    const two = await runBuild(ws, c, { buildArgs: ["N=2"] });
    expect(lines(await readImageFile(two.image, "/seen"))).toEqual(["1", "2"]);
  }, 120_000);

  it("without source, the whole stage is the base; source= mounts a subdirectory of it", async () => {
    const c = ctx({
      Dockerfile: `${SEED}\nFROM busybox\nRUN --mount=type=cache,id=whole-${n},target=/c,from=seed cat /c/data/sub/d > /whole && ls /c/bin/busybox > /bin-seen\nRUN --mount=type=cache,id=sub-${n},target=/c,from=seed,source=data/sub ls /c > /sub\n`,
    });
    const r = await runBuild(ws, c);
    expect((await readImageFile(r.image, "/whole"))?.trim()).toBe("deep");
    expect((await readImageFile(r.image, "/bin-seen"))?.trim()).toBe("/c/bin/busybox");
    expect(lines(await readImageFile(r.image, "/sub"))).toEqual(["d"]);
  }, 120_000);

  it("a changed from stage gives a fresh cache (seeded from the new stage), the old one is kept for the old stage", async () => {
    const id = `changed-${n}`;
    const c = ctx({
      Dockerfile: `${SEED}\nFROM busybox\nARG N\nRUN --mount=type=cache,id=${id},target=/c,from=seed,source=/data echo $N >> /c/log && cat /c/log > /seen && cat /c/v > /v\n`,
    });
    await runBuild(ws, c, { buildArgs: ["N=1", "V=1"] });
    const changed = await runBuild(ws, c, { buildArgs: ["N=2", "V=2"] });
    expect(lines(await readImageFile(changed.image, "/seen"))).toEqual(["2"]);
    expect((await readImageFile(changed.image, "/v"))?.trim()).toBe("2");
    const back = await runBuild(ws, c, { buildArgs: ["N=3", "V=1"] });
    expect(lines(await readImageFile(back.image, "/seen"))).toEqual(["1", "3"]);
  }, 120_000);

  it("from= an image seeds from the image's tree", async () => {
    const c = ctx({ Dockerfile: `FROM busybox\nRUN --mount=type=cache,id=img-${n},target=/c,from=busybox,source=/etc ls /c > /etc-ls\n` });
    const r = await runBuild(ws, c);
    expect(lines(await readImageFile(r.image, "/etc-ls"))).toEqual(["group", "passwd"]);
  }, 120_000);

  it("without from, source= picks a subdirectory an earlier RUN made in the cache", async () => {
    const id = `nofrom-${n}`;
    const c = ctx({
      Dockerfile: `FROM busybox\nRUN --mount=type=cache,id=${id},target=/c mkdir -p /c/inner && echo hi > /c/inner/f\nRUN --mount=type=cache,id=${id},target=/x,source=/inner cat /x/f > /got\n`,
    });
    const r = await runBuild(ws, c);
    expect((await readImageFile(r.image, "/got"))?.trim()).toBe("hi");
  }, 120_000);

  const bad: { name: string; mount: string; message: RegExp }[] = [
    { name: "a source missing in the from stage", mount: "type=cache,target=/c,from=seed,source=/nope", message: /--mount=type=cache,target=\/c,from=seed,source=\/nope: source "\/nope" not found in the stage seed/ },
    { name: "a source that is a file", mount: "type=cache,target=/c,from=seed,source=/data/a", message: /source "\/data\/a" in the stage seed is not a directory/ },
    { name: "a source above the tree", mount: "type=cache,target=/c,from=seed,source=../../etc", message: /source "..\/..\/etc" is outside the tree of from=seed/ },
    { name: "a source missing in a cache without from", mount: `type=cache,target=/c,id=empty-${Date.now()},source=/nope`, message: /source "\/nope" not found in the cache/ },
  ];
  for (const b of bad) {
    it(`${b.name} fails the step, naming the mount and the line`, async () => {
      const c = ctx({ Dockerfile: `${SEED}\nFROM busybox\nRUN --mount=${b.mount} true\n` });
      const err = await runBuild(ws, c).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(BuildError);
      expect((err as BuildError).message).toMatch(b.message);
      expect((err as BuildError).render()).toContain("Dockerfile:5");
      // nothing half-seeded is left behind
      const mounts = ws.store.cacheMountsDir();
      expect(readdirSync(mounts).filter((f) => f.includes(".seed-"))).toEqual([]);
    }, 120_000);
  }
});

describe("RUN --mount=type=bind sources stay inside their tree", () => {
  it("a symlink in a from= stage or in the context resolves inside it, never on the host", async () => {
    const dir = ctx({
      Dockerfile: "FROM busybox AS seed\nRUN ln -s /etc /lnk\nFROM busybox\nRUN --mount=type=bind,from=seed,source=/lnk,target=/h ls /h > /stage-ls\nRUN --mount=type=bind,source=link,target=/h ls /h > /ctx-ls\n",
      "etc/inside": "x",
    });
    symlinkSync("/etc", join(dir, "link"));
    const r = await runBuild(ws, dir);
    expect(lines(await readImageFile(r.image, "/stage-ls"))).toEqual(["group", "passwd"]);
    expect(lines(await readImageFile(r.image, "/ctx-ls"))).toEqual(["inside"]);
  }, 120_000);

  it("a from= source is the stage's merged tree (deleted and replaced files stay hidden), mounted by runc alone; rw writes go nowhere", async () => {
    const stage = [
      "FROM busybox AS layered",
      "RUN mkdir -p /d/sub /d/gone && echo 1 > /d/a && echo 1 > /d/b && echo old > /d/sub/old && echo g > /d/gone/g",
      "RUN rm /d/b && echo 2 > /d/c && rm -r /d/sub && mkdir /d/sub && echo new > /d/sub/new",
      "RUN rm -r /d/gone && echo file > /d/gone",
    ].join("\n");
    const c = ctx({
      Dockerfile: [
        stage,
        "FROM busybox",
        // a step's own mount table: the overlay is there, and the host has no mount of it
        "RUN --mount=type=bind,from=layered,source=/d,target=/m find /m | sort > /tree && cat /m/gone > /gone && grep -c ' /m ' /proc/self/mountinfo > /mounted",
        "RUN --mount=type=bind,from=layered,source=/d/sub,target=/s ls /s > /sub",
        "RUN --mount=type=bind,from=layered,source=/d/a,target=/f cat /f > /file",
        "RUN --mount=type=bind,from=layered,source=/d,target=/m,rw echo w > /m/a && rm /m/c && echo added > /m/added && cat /m/a > /rw",
        "RUN --mount=type=bind,from=layered,source=/d,target=/m ls /m > /after",
      ].join("\n") + "\n",
    });
    const r = await runBuild(ws, c);
    expect(lines(await readImageFile(r.image, "/tree"))).toEqual(["/m", "/m/a", "/m/c", "/m/gone", "/m/sub", "/m/sub/new"]);
    expect(await readImageFile(r.image, "/gone")).toBe("file\n");
    expect(await readImageFile(r.image, "/mounted")).toBe("1\n");
    expect(lines(await readImageFile(r.image, "/sub"))).toEqual(["new"]);
    expect(await readImageFile(r.image, "/file")).toBe("1\n");
    expect(await readImageFile(r.image, "/rw")).toBe("w\n");
    expect(lines(await readImageFile(r.image, "/after"))).toEqual(["a", "c", "gone", "sub"]);
  }, 120_000);

  it("kill -9 of a build mid-step leaves no mount of a from= tree on the host", async () => {
    const root = join(ws.dir, "kill-from-store");
    berthCli(root, ["import", join("/tmp/berth-test-base", "busybox-rootfs.tar"), "busybox"]);
    const c = ctx({ Dockerfile: "FROM busybox AS seed\nRUN echo x > /x\nFROM busybox\nRUN --mount=type=bind,from=seed,target=/m cat /m/x && echo mounted && sleep 20\n" });
    const hostMounts = () => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes("berth-run-") || l.includes(ws.dir));
    const before = hostMounts();
    const child = spawn(process.execPath, [BERTH, "--root", root, "build", "--progress=plain", c], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, BERTH_ROOT: "" } });
    let out = "";
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        if (out.includes("mounted")) resolve();
      });
      child.once("exit", () => reject(new Error(`berth build ended first: ${out}`)));
    });
    // the step runs on its from= tree now: nothing of it is mounted in the host's namespace
    expect(hostMounts()).toEqual(before);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    expect(hostMounts()).toEqual(before);
  }, 120_000);

  it("a from= source above the tree's root is refused", async () => {
    const c = ctx({ Dockerfile: "FROM busybox\nRUN --mount=type=bind,from=busybox,source=../../../../etc,target=/h cat /h/hostname\n" });
    const err = await runBuild(ws, c).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).message).toMatch(/Dockerfile:2: .*source "..\/..\/..\/..\/etc" is outside the tree of from=busybox/);
  }, 120_000);
});
