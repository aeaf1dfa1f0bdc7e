import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../../src/store/index.js";
import { importRootfs } from "../../../src/image/index.js";
import { copyFileSync, createReadStream } from "node:fs";
import { busyboxTarball } from "../../helpers/busybox.js";
import { readImageFile, runBuild, statImage, workspace, writeContext } from "./helpers.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
let n = 0;
beforeAll(async () => {
  ws = await workspace("stages");
}, 60_000);
afterAll(() => ws?.cleanup());

function ctx(files: Record<string, string>): string {
  return writeContext(join(ws.dir, `c${n++}`), files);
}

describe("multi-stage builds", () => {
  it("COPY --from a named stage, by index, FROM a stage; independent stages run in parallel", async () => {
    const df = [
      "FROM busybox AS one",
      "RUN sleep 1 && echo one > /one",
      "FROM busybox AS two",
      "RUN sleep 1 && echo two > /two",
      "FROM one AS three",
      "RUN echo three > /three",
      "FROM busybox",
      "COPY --from=three /one /three /got/",
      "COPY --from=1 /two /got/two",
      "",
    ].join("\n");
    const started = Date.now();
    const r = await runBuild(ws, ctx({ Dockerfile: df }));
    const took = Date.now() - started;
    expect(await readImageFile(r.image, "/got/one")).toBe("one\n");
    expect(await readImageFile(r.image, "/got/three")).toBe("three\n");
    expect(await readImageFile(r.image, "/got/two")).toBe("two\n");
    expect(statImage(r.image, "/one")).toBeUndefined();
    // the two independent stages' RUN steps overlap in time
    const span = (text: string) => {
      const start = r.events.find((e) => e.type === "step" && e.name.includes(text));
      const id = start?.type === "step" ? start.id : -1;
      const end = r.events.find((e) => e.type === "done" && e.id === id);
      return [start?.time ?? 0, end?.time ?? 0] as const;
    };
    const [s1, e1] = span("echo one");
    const [s2, e2] = span("echo two");
    expect(s2).toBeLessThan(e1);
    expect(s1).toBeLessThan(e2);
    void took;
    expect(r.image.config.history!.map((h) => h.created_by).slice(1)).toEqual(["COPY /one /three /got/ # buildkit", "COPY /two /got/two # buildkit"]);
  }, 60_000);

  it("--target builds only what the target needs", async () => {
    const df = "FROM busybox AS ok\nRUN echo fine > /f\nFROM busybox AS broken\nRUN exit 1\nFROM ok AS final\nRUN cat /f > /g\n";
    const c = ctx({ Dockerfile: df });
    const r = await runBuild(ws, c, { target: "final" });
    expect(await readImageFile(r.image, "/g")).toBe("fine\n");
    const ok = await runBuild(ws, c, { target: "ok" });
    expect(ok.image.layers.length).toBe(2);
  }, 60_000);

  it("global ARGs choose the base; RUN --mount from= a stage; COPY --from an image", async () => {
    const df = "ARG BASE=busybox\nFROM ${BASE} AS tools\nRUN echo tool > /tool\nFROM $BASE\nRUN --mount=from=tools,target=/t cat /t/tool > /used\nCOPY --from=busybox /etc/passwd /p\n";
    const r = await runBuild(ws, ctx({ Dockerfile: df }));
    expect(await readImageFile(r.image, "/used")).toBe("tool\n");
    expect(await readImageFile(r.image, "/p")).toContain("root:x:0:0");
    expect(statImage(r.image, "/t")).toBeUndefined();
  }, 60_000);
});

describe("history across stages", () => {
  it("a stage built FROM a stage keeps the base stage's history; metadata items take BuildKit's times", async () => {
    const df = "FROM busybox AS base\nENV A=1\nRUN echo a > /a\nLABEL x=y\nFROM base\nRUN echo b > /b\n";
    const r = await runBuild(ws, ctx({ Dockerfile: df }));
    const h = r.image.config.history!.filter((e) => e.comment === "buildkit.dockerfile.v0");
    expect(h.map((e) => e.created_by)).toEqual(["ENV A=1", "RUN /bin/sh -c echo a > /a # buildkit", "LABEL x=y", "RUN /bin/sh -c echo b > /b # buildkit"]);
    // ENV before the first new layer takes that layer's time; LABEL after it takes the previous layer's
    expect(h[0]!.created).toBe(h[1]!.created);
    expect(h[2]!.created).toBe(h[1]!.created);
    expect(r.image.config.created).toBe(h[3]!.created);
    expect(Object.keys(h[0]!)).toEqual(["created", "created_by", "comment", "empty_layer"]);
  }, 60_000);
});

describe("ONBUILD", () => {
  it("triggers declared in a base stage run at the start of the stage built FROM it", async () => {
    const df = "FROM busybox AS base\nONBUILD RUN echo fired > /fired\nFROM base\nRUN cat /fired > /seen\n";
    const r = await runBuild(ws, ctx({ Dockerfile: df }));
    expect(await readImageFile(r.image, "/seen")).toBe("fired\n");
    expect(r.image.config.config?.OnBuild).toBeNull();
    expect(r.events.some((e) => e.type === "step" && e.name.includes("ONBUILD RUN echo fired"))).toBe(true);
  }, 60_000);
});

describe("reproducible builds", () => {
  it("SOURCE_DATE_EPOCH: two --no-cache builds in two stores give the same image ID", async () => {
    // A self-contained image (the base comes from the context), so the whole image ID must match.
    const files = { Dockerfile: "FROM scratch\nADD rootfs.tar /\nENV A=1\nWORKDIR /app\nCOPY f.txt .\nRUN echo built > b && mkdir d && touch d/x\nCMD [\"cat\", \"b\"]\n", "f.txt": "f" };
    const c = ctx(files);
    copyFileSync(busyboxTarball(), join(c, "rootfs.tar"));
    const ids: string[] = [];
    for (const name of ["r1", "r2"]) {
      const store = await openStore(join(ws.dir, name));
      await importRootfs(store, createReadStream(busyboxTarball()), { source: "busybox.tar", tag: "busybox" });
      const r = await runBuild({ store, stateDir: ws.stateDir }, c, { noCache: true, sourceDateEpoch: 1700000000 });
      ids.push(r.imageId);
      expect(r.image.config.created).toBe("2023-11-14T22:13:20Z");
      expect(r.image.config.history!.every((h) => h.created === "2023-11-14T22:13:20Z")).toBe(true);
    }
    expect(ids[0]).toBe(ids[1]);
  }, 60_000);
});
