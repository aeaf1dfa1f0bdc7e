import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { unescapeMountField } from "../overlay.js";

/**
 * A container's cgroup as the host shows it: runc places every container at `/berth/<id>`
 * (cgroupsPath), on each v1 hierarchy of a v1 or hybrid host, or in the one cgroup2 tree of a
 * unified host. Each reading takes a controller's v1 file where that controller is mounted as
 * v1, else the cgroup2 file: a hybrid host keeps its controllers on v1 and an empty cgroup2.
 */
export interface CgroupDirs {
  /** v1 hierarchy directory of each mounted controller (memory, cpuacct, pids, blkio, freezer…) */
  v1: Map<string, string>;
  /** the cgroup2 directory, when the host has a cgroup2 mount and the directory exists */
  v2?: string;
}

interface HierarchyMount {
  controllers: string[];
  mountPoint: string;
  /** cgroup2 */
  unified: boolean;
}

let mountsCache: HierarchyMount[] | undefined;

/** The host's cgroup mounts whose root is the hierarchy's root (where `/berth/<id>` lives). */
export function cgroupMounts(mountinfoText?: string): HierarchyMount[] {
  if (mountinfoText === undefined && mountsCache !== undefined) return mountsCache;
  const text = mountinfoText ?? readFileSync("/proc/self/mountinfo", "utf8");
  const out: HierarchyMount[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep < 0) continue;
    const fstype = fields[sep + 1];
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    if (fields[3] !== "/") continue;
    const mountPoint = unescapeMountField(fields[4] as string);
    if (fstype === "cgroup2") out.push({ controllers: [], mountPoint, unified: true });
    else {
      const known = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls", "net_prio", "perf_event", "hugetlb", "rdma"];
      const controllers = (fields[sep + 3] ?? "").split(",").filter((o) => known.includes(o));
      if (controllers.length > 0) out.push({ controllers, mountPoint, unified: false });
    }
  }
  if (mountinfoText === undefined) mountsCache = out;
  return out;
}

/** Where the container's cgroup is, per controller. */
export function containerCgroup(id: string, mounts: HierarchyMount[] = cgroupMounts()): CgroupDirs {
  const rel = join("berth", id);
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const m of mounts) {
    const dir = join(m.mountPoint, rel);
    if (m.unified) {
      if (v2 === undefined && existsSync(dir)) v2 = dir;
    } else for (const c of m.controllers) if (!v1.has(c)) v1.set(c, dir);
  }
  return { v1, ...(v2 !== undefined ? { v2 } : {}) };
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function readNumber(path: string): number | undefined {
  const t = read(path)?.trim();
  if (t === undefined || t === "" || t === "max") return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

function keyed(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of (text ?? "").split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) out.set(k, Number(v));
  }
  return out;
}

/** Whether the container's processes are frozen (`berth pause`). */
export function isFrozen(cg: CgroupDirs): boolean {
  const v1 = cg.v1.get("freezer");
  if (v1 !== undefined && existsSync(v1)) return read(join(v1, "freezer.state"))?.trim() === "FROZEN";
  if (cg.v2 !== undefined) return read(join(cg.v2, "cgroup.freeze"))?.trim() === "1";
  return false;
}

/** One reading of a container's cgroup counters (Docker's stats fields, before any arithmetic). */
export interface CgroupSample {
  /** total CPU time of the container's processes, nanoseconds */
  cpuNanos: number;
  /** memory in use as Docker counts it: usage less inactive file pages */
  memoryUsage: number;
  /** the memory limit; undefined when unlimited */
  memoryLimit?: number;
  pids: number;
  blockRead: number;
  blockWrite: number;
}

/** A v1 "no limit" is a page-aligned LONG_MAX; anything past the host's memory means none. */
const UNLIMITED = 2 ** 62;

export function sampleCgroup(cg: CgroupDirs): CgroupSample {
  const memV1 = cg.v1.get("memory");
  const cpuV1 = cg.v1.get("cpuacct");
  const pidsV1 = cg.v1.get("pids");
  const blkV1 = cg.v1.get("blkio");
  const v2 = cg.v2;

  let cpuNanos = 0;
  if (cpuV1 !== undefined && existsSync(cpuV1)) cpuNanos = readNumber(join(cpuV1, "cpuacct.usage")) ?? 0;
  else if (v2 !== undefined) cpuNanos = (keyed(read(join(v2, "cpu.stat"))).get("usage_usec") ?? 0) * 1000;

  let memoryUsage = 0;
  let memoryLimit: number | undefined;
  if (memV1 !== undefined && existsSync(memV1)) {
    const usage = readNumber(join(memV1, "memory.usage_in_bytes")) ?? 0;
    const inactive = keyed(read(join(memV1, "memory.stat"))).get("total_inactive_file") ?? 0;
    memoryUsage = inactive < usage ? usage - inactive : usage;
    const limit = readNumber(join(memV1, "memory.limit_in_bytes"));
    if (limit !== undefined && limit < UNLIMITED) memoryLimit = limit;
  } else if (v2 !== undefined) {
    const usage = readNumber(join(v2, "memory.current")) ?? 0;
    const inactive = keyed(read(join(v2, "memory.stat"))).get("inactive_file") ?? 0;
    memoryUsage = inactive < usage ? usage - inactive : usage;
    memoryLimit = readNumber(join(v2, "memory.max"));
  }

  let pids = 0;
  if (pidsV1 !== undefined && existsSync(pidsV1)) pids = readNumber(join(pidsV1, "pids.current")) ?? 0;
  else if (v2 !== undefined) pids = readNumber(join(v2, "pids.current")) ?? 0;

  let blockRead = 0;
  let blockWrite = 0;
  if (blkV1 !== undefined && existsSync(blkV1)) {
    for (const line of (read(join(blkV1, "blkio.throttle.io_service_bytes_recursive")) ?? "").split("\n")) {
      const [, op, value] = line.trim().split(/\s+/);
      if (op === "Read") blockRead += Number(value);
      else if (op === "Write") blockWrite += Number(value);
    }
  } else if (v2 !== undefined) {
    for (const line of (read(join(v2, "io.stat")) ?? "").split("\n")) {
      for (const field of line.trim().split(/\s+/).slice(1)) {
        const [k, v] = field.split("=");
        if (k === "rbytes") blockRead += Number(v);
        else if (k === "wbytes") blockWrite += Number(v);
      }
    }
  }
  return { cpuNanos, memoryUsage, ...(memoryLimit !== undefined ? { memoryLimit } : {}), pids, blockRead, blockWrite };
}

/** The pids in the container's cgroup (its processes, as the host numbers them). */
export function cgroupPids(cg: CgroupDirs): number[] {
  const dirs = [cg.v1.get("pids"), cg.v1.get("memory"), cg.v1.get("freezer"), cg.v2].filter((d): d is string => d !== undefined);
  for (const dir of dirs) {
    const text = read(join(dir, "cgroup.procs"));
    if (text !== undefined) return text.split("\n").filter((l) => l !== "").map(Number);
  }
  return [];
}

/** The host's CPU time (all CPUs, nanoseconds) from /proc/stat, and its number of online CPUs. */
export function systemCpu(): { nanos: number; onlineCpus: number } {
  const text = readFileSync("/proc/stat", "utf8");
  let nanos = 0;
  let onlineCpus = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("cpu ")) {
      // user nice system idle iowait irq softirq steal (guest time is in user already), in USER_HZ (100)
      nanos = line.trim().split(/\s+/).slice(1, 9).reduce((s, v) => s + Number(v), 0) * 1e7;
    } else if (/^cpu\d/.test(line)) onlineCpus++;
  }
  return { nanos, onlineCpus };
}

/** Bytes received and sent on the container's interfaces (loopback excluded), from /proc/<pid>/net/dev. */
export function networkBytes(pid: number): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of (read(`/proc/${pid}/net/dev`) ?? "").split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    if (line.slice(0, colon).trim() === "lo") continue;
    const f = line.slice(colon + 1).trim().split(/\s+/);
    rx += Number(f[0] ?? 0);
    tx += Number(f[8] ?? 0);
  }
  return { rx, tx };
}

/** The host's memory (MemTotal), Docker's limit for a container without one. */
export function hostMemory(): number {
  const m = /MemTotal:\s+(\d+) kB/.exec(read("/proc/meminfo") ?? "");
  return m === null ? 0 : Number(m[1]) * 1024;
}
