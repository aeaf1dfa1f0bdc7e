import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { readImageFile, runBuild, statImage, workspace, writeContext } from "./helpers.js";
import type { Store } from "../../../src/store/index.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
beforeAll(async () => {
  ws = await workspace("basic");
}, 60_000);
afterAll(() => ws?.cleanup());

describe("berth build: instructions", () => {
  it("builds ENV, WORKDIR, COPY, RUN, EXPOSE, CMD with BuildKit's config and history", async () => {
    const ctx = writeContext(join(ws.dir, "c1"), {
      Dockerfile: [
        "FROM busybox",
        "ENV GREETING=hello",
        "WORKDIR /app",
        "COPY hello.txt .",
        "RUN echo \"$GREETING $(cat hello.txt)\" > out.txt",
        "EXPOSE 8080 53/udp",
        "LABEL a=b",
        'CMD ["cat", "out.txt"]',
        "",
      ].join("\n"),
      "hello.txt": "world\n",
    });
    const r = await runBuild(ws, ctx, { tags: ["demo:1"] });
    const img = r.image;
    expect(await readImageFile(img, "/app/out.txt")).toBe("hello world\n");
    expect(await readImageFile(img, "/app/hello.txt")).toBe("world\n");
    const c = img.config.config!;
    expect(c.Env).toContain("GREETING=hello");
    expect(c.WorkingDir).toBe("/app");
    expect(c.ExposedPorts).toEqual({ "8080/tcp": {}, "53/udp": {} });
    expect(c.Cmd).toEqual(["cat", "out.txt"]);
    expect(c.Labels).toEqual({ a: "b" });
    const hist = img.config.history!.slice(1).map((h) => [h.created_by, h.empty_layer === true]);
    expect(hist).toEqual([
      ["ENV GREETING=hello", true],
      ["WORKDIR /app", false],
      ["COPY hello.txt . # buildkit", false],
      ['RUN /bin/sh -c echo "$GREETING $(cat hello.txt)" > out.txt # buildkit', false],
      ["EXPOSE [8080/tcp 53/udp]", true],
      ["LABEL a=b", true],
      ['CMD ["cat" "out.txt"]', true],
    ]);
    expect(img.layers.length).toBe(4);
    expect(img.repoTags).toContain("demo:1");
    expect(statImage(img, "/app")?.mode! & 0o777).toBe(0o755);
  }, 60_000);
});
