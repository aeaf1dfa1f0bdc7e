import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ownCgroupProcsFile, primeCgroupAttach } from "../../../src/runtime/cgroup-prime.js";

const HYBRID_MOUNTS = [
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
  "36 31 0:33 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
  "40 31 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
].join("\n");

describe("ownCgroupProcsFile", () => {
  it("prefers the cgroup2 mount of a v1/v2 hybrid", () => {
    const cgroup = "4:memory:/process_api/abc\n1:cpu:/\n0::/user.slice\n";
    expect(ownCgroupProcsFile(cgroup, HYBRID_MOUNTS)).toBe("/sys/fs/cgroup/unified/user.slice/cgroup.procs");
  });

  it("finds the process's cgroup on a pure v2 host", () => {
    const mounts = "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate";
    expect(ownCgroupProcsFile("0::/system.slice/ci.service\n", mounts)).toBe("/sys/fs/cgroup/system.slice/ci.service/cgroup.procs");
  });

  it("takes a v1 hierarchy by its controllers when there is no cgroup2 mount", () => {
    const mounts = HYBRID_MOUNTS.split("\n").filter((l) => !l.includes("cgroup2")).join("\n");
    expect(ownCgroupProcsFile("4:memory:/process_api/abc\n1:cpu:/\n0::/\n", mounts)).toBe("/sys/fs/cgroup/cpu/cgroup.procs");
  });

  it("resolves the path below a mount of part of the hierarchy (a container's view)", () => {
    const mounts = "50 40 0:27 /docker/c1 /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw";
    expect(ownCgroupProcsFile("0::/docker/c1/build\n", mounts)).toBe("/sys/fs/cgroup/build/cgroup.procs");
    // a cgroup outside what is mounted cannot be reached
    expect(ownCgroupProcsFile("0::/elsewhere\n", mounts)).toBeNull();
  });

  it("is null without any cgroup file system", () => {
    expect(ownCgroupProcsFile("0::/\n", "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw")).toBeNull();
  });
});

describe("primeCgroupAttach", () => {
  // as root on a host with cgroups (CI's), where it really writes this process's pid
  it.runIf(process.getuid?.() === 0)("leaves this process in the cgroups it was in", async () => {
    const before = readFileSync("/proc/self/cgroup", "utf8");
    // the file it writes to exists here: otherwise the check below would pass without a write
    expect(ownCgroupProcsFile(before, readFileSync("/proc/self/mountinfo", "utf8"))).not.toBeNull();
    const stop = primeCgroupAttach();
    await new Promise((r) => setTimeout(r, 30));
    stop();
    expect(readFileSync("/proc/self/cgroup", "utf8")).toBe(before);
  });
});
