import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { BuildEvent } from "../../../src/builder/index.js";
import { createRenderer } from "../../../src/progress/index.js";

function render(mode: "plain" | "json" | "tty", events: BuildEvent[], explain = true): string {
  const out = new PassThrough();
  let text = "";
  out.on("data", (c: Buffer) => (text += c.toString()));
  const r = createRenderer(mode, out, { explain });
  for (const e of events) r.handle(e);
  r.finish();
  return text;
}

const events: BuildEvent[] = [
  { type: "step", id: 1, name: "[1/3] FROM busybox", time: 0 },
  { type: "done", id: 1, time: 10 },
  { type: "step", id: 2, name: "[2/3] COPY a /a", time: 10 },
  { type: "cached", id: 2, time: 11 },
  { type: "step", id: 3, name: "[3/3] RUN make", time: 1000 },
  { type: "explain", id: 3, reasons: ["file a changed"], time: 1000 },
  { type: "log", id: 3, stream: "stdout", data: "line one\nline ", time: 1100 },
  { type: "log", id: 3, stream: "stderr", data: "two\n", time: 1200 },
  { type: "done", id: 3, time: 2300 },
];

describe("progress renderers", () => {
  it("plain: BuildKit's numbered blocks with prefixed output, CACHED, DONE and durations; misses explained", () => {
    expect(render("plain", events)).toBe(
      [
        "#1 [1/3] FROM busybox",
        "#1 DONE 0.0s",
        "",
        "#2 [2/3] COPY a /a",
        "#2 CACHED",
        "",
        "#3 [3/3] RUN make",
        "#3 cache miss: file a changed",
        "#3 0.100 line one",
        "#3 0.200 line two",
        "#3 DONE 1.3s",
        "",
        "",
      ].join("\n"),
    );
  });
  it("json: one event per line", () => {
    const lines = render("json", events).trim().split("\n");
    expect(lines.length).toBe(events.length);
    expect(JSON.parse(lines[3] as string)).toEqual(events[3]);
  });
  it("tty: a final frame with every step, CACHED and durations", () => {
    const text = render("tty", events);
    expect(text).toMatch(/\[\+\] Building [\d.]+s \(3\/3\) FINISHED/);
    expect(text).toMatch(/=> CACHED \[2\/3\] COPY a \/a +0\.0s/);
    expect(text).toMatch(/=> \[3\/3\] RUN make +1\.3s/);
    expect(text).toContain("[3/3] RUN make: cache miss: file a changed");
  });
});
