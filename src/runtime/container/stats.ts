import { containerCgroup, hostMemory, networkBytes, sampleCgroup, systemCpu, type CgroupSample } from "./cgroup.js";
import { isAlive, type ContainerRecord } from "./record.js";

/** One reading of a container: its cgroup counters, the host's CPU time and the network counters. */
export interface StatsSample {
  cgroup: CgroupSample;
  systemNanos: number;
  onlineCpus: number;
  rx: number;
  tx: number;
}

/** The numbers of one `docker stats` row (Docker's StatsEntry, before formatting). */
export interface StatsEntry {
  id: string;
  name: string;
  cpuPercent: number;
  memoryUsage: number;
  memoryLimit: number;
  memoryPercent: number;
  netRx: number;
  netTx: number;
  blockRead: number;
  blockWrite: number;
  pids: number;
  /** false for a container that does not run (`--all`, or one named): zeros, as Docker's */
  running: boolean;
}

export function sampleContainer(record: ContainerRecord): StatsSample | undefined {
  if (record.state !== "running") return undefined;
  const cgroup = sampleCgroup(containerCgroup(record.id));
  const { nanos, onlineCpus } = systemCpu();
  // --network host: the host's interfaces are not the container's (Docker shows 0B there)
  const net = record.hostConfig.network !== "host" && record.pid !== undefined && isAlive(record.pid) ? networkBytes(record.pid.pid) : { rx: 0, tx: 0 };
  return { cgroup, systemNanos: nanos, onlineCpus, rx: net.rx, tx: net.tx };
}

/**
 * Docker's CLI arithmetic (cli/command/container/stats_helpers.go): CPU % is the container's
 * share of the host's CPU time between two samples, times the number of CPUs; memory % is the
 * usage against the limit (the host's memory when the container has none).
 */
export function statsEntry(record: ContainerRecord, previous: StatsSample | undefined, current: StatsSample | undefined): StatsEntry {
  const base = { id: record.id, name: record.name };
  if (current === undefined) {
    return { ...base, cpuPercent: 0, memoryUsage: 0, memoryLimit: 0, memoryPercent: 0, netRx: 0, netTx: 0, blockRead: 0, blockWrite: 0, pids: 0, running: false };
  }
  let cpuPercent = 0;
  if (previous !== undefined) {
    const cpuDelta = current.cgroup.cpuNanos - previous.cgroup.cpuNanos;
    const systemDelta = current.systemNanos - previous.systemNanos;
    if (cpuDelta > 0 && systemDelta > 0) cpuPercent = (cpuDelta / systemDelta) * current.onlineCpus * 100;
  }
  const memoryLimit = Math.min(current.cgroup.memoryLimit ?? Infinity, hostMemory());
  return {
    ...base,
    cpuPercent,
    memoryUsage: current.cgroup.memoryUsage,
    memoryLimit,
    memoryPercent: memoryLimit > 0 ? (current.cgroup.memoryUsage / memoryLimit) * 100 : 0,
    netRx: current.rx,
    netTx: current.tx,
    blockRead: current.cgroup.blockRead,
    blockWrite: current.cgroup.blockWrite,
    pids: current.cgroup.pids,
    running: true,
  };
}
