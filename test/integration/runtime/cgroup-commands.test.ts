import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRun, eventually, leftovers, makeHarness, type Harness } from "./harness.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** pause/unpause, top, stats and update on real runc containers (their cgroups). */
describe.runIf(canRun)("cgroup commands", () => {
  let h: Harness;
  let hostDir: string;
  const counter = () => Number(readFileSync(join(hostDir, "count"), "utf8").trim() || "0");

  beforeAll(async () => {
    h = await makeHarness("cgcmds");
    hostDir = mkdtempSync("/tmp/berth-rt-cg-host-");
    const run = await h.berth([
      "run", "-d", "--name", "ticker", "--network", "none", "-m", "64m", "--pids-limit", "50", "-v", `${hostDir}:/data`,
      "busybox", "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /data/count; sleep 0.05; done",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    await eventually(() => (counter() > 0 ? true : undefined));
  });
  afterAll(async () => {
    await h.cleanup();
    rmSync(hostDir, { recursive: true, force: true });
    expect(leftovers(h)).toEqual({ mounts: [], processes: [], runcState: [] });
  });

  it("pause freezes the container's processes, ps and inspect show it, unpause resumes them", async () => {
    const pause = await h.berth(["pause", "ticker"]);
    expect(pause).toMatchObject({ code: 0, stdout: "ticker\n" });
    await sleep(200);
    const frozenAt = counter();
    await sleep(500);
    expect(counter()).toBe(frozenAt);

    const ps = await h.berth(["ps"]);
    expect(ps.stdout).toMatch(/Up .* \(Paused\)\s+ticker/);
    const state = await h.berth(["inspect", "--format", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "ticker"]);
    expect(state.stdout.trim()).toBe("paused true true");
    expect((await h.berth(["ps", "--filter", "status=paused", "--format", "{{.Names}}"])).stdout).toBe("ticker\n");

    const exec = await h.berth(["exec", "ticker", "true"]);
    expect(exec.code).toBe(1);
    expect(exec.stderr).toMatch(/Container [0-9a-f]{64} is paused, unpause the container before exec/);
    const start = await h.berth(["start", "ticker"]);
    expect(start.code).toBe(1);
    expect(start.stderr).toContain("cannot start a paused container, try unpause instead");

    const again = await h.berth(["pause", "ticker"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/Container [0-9a-f]{64} is already paused/);

    expect(await h.berth(["unpause", "ticker"])).toMatchObject({ code: 0, stdout: "ticker\n" });
    await eventually(() => (counter() > frozenAt + 3 ? true : undefined));
    expect((await h.berth(["inspect", "--format", "{{.State.Status}}", "ticker"])).stdout.trim()).toBe("running");

    const notPaused = await h.berth(["unpause", "ticker"]);
    expect(notPaused.code).toBe(1);
    expect(notPaused.stderr).toMatch(/Container [0-9a-f]{64} is not paused/);
  });

  it("top lists the container's processes with ps -ef's columns, and takes ps options", async () => {
    const top = await h.berth(["top", "ticker"]);
    expect(top.code).toBe(0);
    const lines = top.stdout.trimEnd().split("\n");
    expect(lines[0]?.split(/\s+/)).toEqual(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    expect(lines.some((l) => /\ssh -c i=0; while true/.test(l))).toBe(true);
    expect(lines.some((l) => /\ssleep 0.05$/.test(l)) || lines.length >= 2).toBe(true);
    // only the container's processes: not this test's own node process
    expect(top.stdout).not.toContain("vitest");

    const custom = await h.berth(["top", "ticker", "-o", "pid,comm"]);
    expect(custom.code).toBe(0);
    const rows = custom.stdout.trimEnd().split("\n");
    expect(rows[0]?.split(/\s+/)).toEqual(["PID", "COMMAND"]);
    expect(rows.slice(1).some((r) => /\ssh$/.test(r))).toBe(true);
  });

  it("stats --no-stream shows the memory use within the --memory limit and the pids", async () => {
    const stats = await h.berth(["stats", "--no-stream"]);
    expect(stats.code).toBe(0);
    const [header, row, ...rest] = stats.stdout.trimEnd().split("\n");
    expect(rest).toEqual([]);
    expect(header?.split(/\s{2,}/)).toEqual(["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]);
    expect(row).toMatch(/^[0-9a-f]{12}\s+ticker\s+\d+\.\d\d%\s+[\d.]+(B|KiB|MiB) \/ 64MiB\s+\d+\.\d\d%\s+0B \/ 0B\s+\S+ \/ \S+\s+[1-9]\d*$/);

    const json = await h.berth(["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", "ticker"]);
    const [name, usage, , limit, pids] = json.stdout.trim().split(" ");
    expect(name).toBe("ticker");
    expect(limit).toBe("64MiB");
    expect(usage).toMatch(/^[\d.]+(B|KiB|MiB)$/);
    expect(Number(pids)).toBeGreaterThanOrEqual(1);

    const missing = await h.berth(["stats", "--no-stream", "nosuch"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("No such container: nosuch");
  });

  it("stats without --no-stream redraws the table every second until interrupted", async () => {
    const child = h.spawnBerth(["stats", "ticker"]);
    let out = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
    await eventually(() => ((out.match(/\x1b\[2J\x1b\[H/g) ?? []).length >= 3 ? true : undefined), 10_000);
    child.kill("SIGINT");
    await new Promise((r) => child.once("close", r));
    const frames = out.split("\x1b[2J\x1b[H").filter((f) => f !== "");
    for (const f of frames) expect(f).toMatch(/^CONTAINER ID\s+NAME\s+CPU %.*\n[0-9a-f]{12}\s+ticker\s/);
  });

  it("update changes the limits of the running container, seen by stats and inspect", async () => {
    const update = await h.berth(["update", "--memory", "96m", "--pids-limit", "80", "--cpus", "0.5", "ticker"]);
    expect(update).toMatchObject({ code: 0, stdout: "ticker\n" });
    const inspect = await h.berth(["inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}", "ticker"]);
    expect(inspect.stdout.trim()).toBe(`${96 * 1024 * 1024} 80 500000000`);
    const stats = await h.berth(["stats", "--no-stream", "--format", "{{.MemUsage}}", "ticker"]);
    expect(stats.stdout).toMatch(/ \/ 96MiB\n$/);

    const none = await h.berth(["update", "ticker"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("you must provide one or more flags");
  });

  it("stats shows a busy container's CPU %, and update --cpus caps it", async () => {
    const run = await h.berth(["run", "-d", "--name", "busy", "--network", "none", "busybox", "sh", "-c", "while :; do :; done"]);
    expect(run.code).toBe(0);
    const cpu = async () => Number((await h.berth(["stats", "--no-stream", "--format", "{{.CPUPerc}}", "busy"])).stdout.trim().replace("%", ""));
    expect(await cpu()).toBeGreaterThan(40);
    expect((await h.berth(["update", "--cpus", "0.1", "busy"])).code).toBe(0);
    await sleep(300);
    const capped = await cpu();
    expect(capped).toBeLessThan(20);
    expect(capped).toBeGreaterThan(0);
    // a paused container goes with rm -f at once: SIGKILL, then thawed so that it can die
    expect((await h.berth(["pause", "busy"])).code).toBe(0);
    const started = Date.now();
    expect(await h.berth(["rm", "-f", "busy"])).toMatchObject({ code: 0, stdout: "busy\n" });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("stop of a paused container stops it; top and pause of a stopped one fail as Docker's", async () => {
    expect((await h.berth(["pause", "ticker"])).code).toBe(0);
    const stop = await h.berth(["stop", "-t", "2", "ticker"]);
    expect(stop).toMatchObject({ code: 0, stdout: "ticker\n" });
    expect((await h.berth(["inspect", "--format", "{{.State.Status}}", "ticker"])).stdout.trim()).toBe("exited");

    const pause = await h.berth(["pause", "ticker"]);
    expect(pause.code).toBe(1);
    expect(pause.stderr).toMatch(/Container [0-9a-f]{64} is not running/);
    const top = await h.berth(["top", "ticker"]);
    expect(top.code).toBe(1);
    expect(top.stderr).toMatch(/Container [0-9a-f]{64} is not running/);
    const all = await h.berth(["stats", "--no-stream", "--all", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}"]);
    expect(all.stdout).toBe("ticker 0.00% 0B / 0B 0\n");
  });
});
