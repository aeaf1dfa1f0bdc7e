import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cgroupMounts, containerCgroup, isFrozen, sampleCgroup } from "../../../src/runtime/container/cgroup.js";
import { parsePsOutput, validatePsArgs } from "../../../src/runtime/container/top.js";
import { statsEntry, type StatsSample } from "../../../src/runtime/container/stats.js";
import type { ContainerRecord } from "../../../src/runtime/container/record.js";
import { bytesSize } from "../../../src/cli/format.js";
import { renderStats, statsRow } from "../../../src/cli/container/top-stats.js";

const tmp = mkdtempSync("/tmp/berth-cg-unit-");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmp, "fs-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const mountinfo = (root: string, hybrid: boolean) =>
  hybrid
    ? [
        `30 25 0:26 / ${root}/memory rw,relatime shared:9 - cgroup cgroup rw,memory`,
        `31 25 0:27 / ${root}/cpu,cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct`,
        `32 25 0:28 / ${root}/pids rw,relatime shared:11 - cgroup cgroup rw,pids`,
        `33 25 0:29 / ${root}/blkio rw,relatime shared:12 - cgroup cgroup rw,blkio`,
        `34 25 0:30 / ${root}/freezer rw,relatime shared:13 - cgroup cgroup rw,freezer`,
        `35 25 0:31 / ${root}/unified rw,relatime shared:14 - cgroup2 cgroup2 rw`,
        `36 25 0:32 /docker ${root}/nested rw,relatime shared:15 - cgroup cgroup rw,memory`,
      ].join("\n")
    : `30 25 0:26 / ${root} rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate`;

describe("a container's cgroup files, v1 (hybrid host) and v2", () => {
  it("reads v1 controllers on a hybrid host, where the cgroup2 tree holds no controller", () => {
    const root = tree({
      "memory/berth/c1/memory.usage_in_bytes": "10485760\n",
      "memory/berth/c1/memory.stat": "cache 0\ntotal_inactive_file 2097152\n",
      "memory/berth/c1/memory.limit_in_bytes": "67108864\n",
      "cpu,cpuacct/berth/c1/cpuacct.usage": "123456789\n",
      "pids/berth/c1/pids.current": "3\n",
      "blkio/berth/c1/blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
      "freezer/berth/c1/freezer.state": "FROZEN\n",
      "unified/berth/c1/cgroup.procs": "",
    });
    const cg = containerCgroup("c1", cgroupMounts(mountinfo(root, true)));
    expect(cg.v1.get("memory")).toBe(join(root, "memory/berth/c1"));
    expect(cg.v1.get("cpuacct")).toBe(join(root, "cpu,cpuacct/berth/c1"));
    expect(sampleCgroup(cg)).toEqual({ cpuNanos: 123456789, memoryUsage: 8388608, memoryLimit: 67108864, pids: 3, blockRead: 4096, blockWrite: 8192 });
    expect(isFrozen(cg)).toBe(true);
  });

  it("reads cgroup v2 files on a unified host; no limit is `max`", () => {
    const root = tree({
      "berth/c2/memory.current": "5000000\n",
      "berth/c2/memory.stat": "anon 1\ninactive_file 1000000\n",
      "berth/c2/memory.max": "max\n",
      "berth/c2/cpu.stat": "usage_usec 2500\nuser_usec 2000\n",
      "berth/c2/pids.current": "2\n",
      "berth/c2/io.stat": "8:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n",
      "berth/c2/cgroup.freeze": "0\n",
    });
    const cg = containerCgroup("c2", cgroupMounts(mountinfo(root, false)));
    expect(sampleCgroup(cg)).toEqual({ cpuNanos: 2_500_000, memoryUsage: 4_000_000, pids: 2, blockRead: 101, blockWrite: 202 });
    expect(isFrozen(cg)).toBe(false);
  });
});

describe("berth top's filter (moby's parsePSOutput)", () => {
  const ps = [
    "UID        PID  PPID  C STIME TTY          TIME CMD",
    "root         1     0  0 17:36 ?        00:00:02 /sbin/init splash",
    "root       200   190  0 19:00 ?        00:00:00 sh -c while true; do sleep 1; done",
    "root       201   200  0 19:00 ?        00:00:00 sleep 1",
    "",
  ].join("\n");
  it("keeps the rows of the container's pids, the command with its spaces in the last column", () => {
    expect(parsePsOutput(ps, [200, 201])).toEqual({
      titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
      processes: [
        ["root", "200", "190", "0", "19:00", "?", "00:00:00", "sh -c while true; do sleep 1; done"],
        ["root", "201", "200", "0", "19:00", "?", "00:00:00", "sleep 1"],
      ],
    });
  });
  it("keeps thread rows (PID -) under a container's process only", () => {
    const threads = "USER PID TID CMD\nroot 1 - init\nroot - 1 -\nroot 7 - app\nroot - 7 -\nroot - 8 -\n";
    expect(parsePsOutput(threads, [7]).processes).toEqual([["root", "7", "-", "app"], ["root", "-", "7", "-"], ["root", "-", "8", "-"]]);
  });
  it.each([
    ["USER COMMAND\nroot sh\n", "Couldn't find PID field in ps output"],
    ["PID CMD\nabc sh\n", "Unexpected pid 'abc'"],
  ])("refuses ps output it cannot filter: %j", (text, message) => {
    expect(() => parsePsOutput(text, [1])).toThrow(message);
  });
  it("refuses -o renaming another column to PID", () => {
    expect(() => validatePsArgs("-o user=PID")).toThrow('specifying "user=PID" is not allowed');
    expect(() => validatePsArgs("-o pid=PID,comm")).not.toThrow();
  });
});

describe("berth stats' arithmetic and columns (Docker's CLI)", () => {
  const record = { id: "a".repeat(64), name: "web", state: "running" } as ContainerRecord;
  const sample = (cpuNanos: number, systemNanos: number): StatsSample => ({
    cgroup: { cpuNanos, memoryUsage: 3 * 1024 * 1024, memoryLimit: 64 * 1024 * 1024, pids: 4, blockRead: 1500, blockWrite: 0 },
    systemNanos,
    onlineCpus: 2,
    rx: 1234,
    tx: 56,
  });
  it("CPU % is the container's share of the host's CPU time times the CPUs; memory % against the limit", () => {
    const e = statsEntry(record, sample(0, 0), sample(500_000_000, 2_000_000_000));
    expect(e.cpuPercent).toBe(50);
    expect(e.memoryPercent).toBeCloseTo(4.6875);
    expect(statsRow(e, "web", false)).toEqual({
      Container: "web", ID: "aaaaaaaaaaaa", Name: "web", CPUPerc: "50.00%", MemUsage: "3MiB / 64MiB", MemPerc: "4.69%",
      NetIO: "1.23kB / 56B", BlockIO: "1.5kB / 0B", PIDs: "4",
    });
  });
  it("shows zeros for a container that does not run", () => {
    expect(statsRow(statsEntry({ ...record, state: "exited" }, undefined, undefined), "web", true)).toMatchObject({ CPUPerc: "0.00%", MemUsage: "0B / 0B", PIDs: "0" });
  });
  it.each([
    [0, "0B"], [1023, "1023B"], [1536, "1.5KiB"], [64 * 1024 * 1024, "64MiB"], [25_272_487_936, "23.54GiB"],
  ])("go-units BytesSize(%d) = %s", (n, text) => expect(bytesSize(n)).toBe(text));
  it("renders Docker's table (tabwriter, min width 10, padding 3) and table templates with their headers", () => {
    const row = statsRow(statsEntry(record, sample(0, 0), sample(0, 1)), "web", false);
    expect(renderStats(undefined, [row])).toBe(
      "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O        BLOCK I/O    PIDS\n" +
        "aaaaaaaaaaaa   web       0.00%     3MiB / 64MiB        4.69%     1.23kB / 56B   1.5kB / 0B   4\n",
    );
    expect(renderStats("table {{.Container}}\t{{.PIDs}}", [row])).toBe("CONTAINER   PIDS\nweb         4\n");
    expect(renderStats("{{.Name}}: {{.MemPerc}}", [row])).toBe("web: 4.69%\n");
  });
});
