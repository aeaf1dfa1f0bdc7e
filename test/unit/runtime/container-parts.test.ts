import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseBytes, parseCpus, parsePortSpec, formatPort, readLog } from "../../../src/runtime/index.js";
import { LogWriter } from "../../../src/runtime/container/logs.js";
import { normalizeSignal } from "../../../src/runtime/runc.js";

const tmp = mkdtempSync("/tmp/berth-rt-parts-");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("-p parsing", () => {
  it.each([
    ["8080:80", { hostIp: "0.0.0.0", hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    ["127.0.0.1:8080:80/tcp", { hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    ["127.0.0.1::80", { hostIp: "127.0.0.1", hostPort: 0, containerPort: 80, protocol: "tcp" }],
    ["80", { hostIp: "0.0.0.0", hostPort: 0, containerPort: 80, protocol: "tcp" }],
    ["[::1]:8080:80", { hostIp: "::1", hostPort: 8080, containerPort: 80, protocol: "tcp" }],
  ])("%s", (spec, expected) => {
    expect(parsePortSpec(spec)).toEqual(expected);
  });
  it.each(["abc", "1:2:3:4", "70000:80", "8080:80/udp", "8080:0"])("rejects %s", (spec) => {
    expect(() => parsePortSpec(spec)).toThrow(spec);
  });
  it("formats like docker ps", () => {
    expect(formatPort({ hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80, protocol: "tcp" })).toBe("127.0.0.1:8080->80/tcp");
  });
});

describe("resource flags", () => {
  it("parses sizes with Docker's binary units", () => {
    expect(parseBytes("64m")).toBe(64 * 1024 * 1024);
    expect(parseBytes("1g")).toBe(1024 ** 3);
    expect(parseBytes("1.5G")).toBe(1.5 * 1024 ** 3);
    expect(parseBytes("128mb")).toBe(128 * 1024 * 1024);
    expect(() => parseBytes("lots")).toThrow("--memory");
    expect(() => parseBytes("1m")).toThrow(/minimum/);
  });
  it("parses --cpus", () => {
    expect(parseCpus("0.5")).toBe(0.5);
    expect(() => parseCpus("-1")).toThrow("--cpus");
    expect(() => parseCpus("0")).toThrow("--cpus");
  });
  it("normalizes signals", () => {
    expect(normalizeSignal("term")).toBe("SIGTERM");
    expect(normalizeSignal("9")).toBe("SIGKILL");
    expect(normalizeSignal("SIGUSR1")).toBe("SIGUSR1");
    expect(() => normalizeSignal("NOPE")).toThrow(/invalid signal/);
  });
});

describe("json-file log", () => {
  it("writes one entry per line per stream, partial lines at close, and tails", async () => {
    const path = join(tmp, "c.log");
    const w = new LogWriter(path);
    w.write("stdout", Buffer.from("a\nb"));
    w.write("stderr", Buffer.from("err\n"));
    w.write("stdout", Buffer.from("c\nd"));
    await w.close();
    const lines = readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { log: string; stream: string; time: string });
    expect(lines.map((l) => [l.stream, l.log])).toEqual([["stdout", "a\n"], ["stderr", "err\n"], ["stdout", "bc\n"], ["stdout", "d"]]);
    expect(lines[0]?.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((await readLog(path, 2)).entries.map((e) => e.log)).toEqual(["bc\n", "d"]);
  });
});
