import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Digest } from "../../image/digest.js";
import type { CgroupnsMode, MountRequest, NetworkMode, ResourceLimits } from "../spec.js";
import type { RuntimeSnapshot } from "./store-port.js";

export type ContainerStatus = "created" | "running" | "exited";

/** A published port: host ip:port forwarded to the container's port. */
export interface PortBinding {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: "tcp";
}

/** A volume mounted into the container (named or anonymous; anonymous ones go with `rm -v`). */
export interface VolumeMount {
  name: string;
  destination: string;
  anonymous: boolean;
  readOnly: boolean;
}

/** What the container runs, fixed at create time (Docker's Config). */
export interface ContainerRunConfig {
  /** entrypoint + cmd: what runs */
  args: string[];
  entrypoint: string[];
  cmd: string[];
  /** the image's Env with -e/--env-file applied (runtime defaults such as HOSTNAME are added at start) */
  env: string[];
  cwd: string;
  /** the -u value or the image's User, resolved when the rootfs is mounted */
  user: string;
  hostname: string;
  tty: boolean;
  openStdin: boolean;
  stopSignal: string;
  labels: Record<string, string>;
}

/** `--restart name[:max-retries]` (Docker's RestartPolicy). */
export interface RestartPolicy {
  name: "no" | "always" | "on-failure" | "unless-stopped";
  maximumRetryCount: number;
}

/** How the container is hosted (Docker's HostConfig). */
export interface ContainerHostConfig {
  /** none, host, private, bridge (the default) or a user network's name */
  network: NetworkMode;
  /** --network-alias: more names for the container on a user network */
  networkAliases?: string[];
  /**
   * The bridge networks the container is on, in order (eth0, eth1…), once `network connect` or
   * `disconnect` changed them; absent: `network` alone (with networkAliases), see attachedNetworks.
   */
  networks?: NetworkAttachment[];
  /** --add-host entries as `host:ip` */
  extraHosts?: string[];
  /** --dns nameservers (replacing the host's) */
  dns?: string[];
  /** --dns-search domains */
  dnsSearch?: string[];
  ports: PortBinding[];
  binds: MountRequest[];
  volumes: VolumeMount[];
  readOnlyRootfs: boolean;
  init: boolean;
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  noNewPrivileges: boolean;
  /** --security-opt values as Docker's HostConfig.SecurityOpt shows them (a profile file's content in place of its path) */
  securityOpt?: string[];
  /** "unconfined", or a profile (compacted JSON in Docker's format); Docker's default when absent */
  seccomp?: string;
  /** absent in records made before berth had cgroup namespaces: the host's */
  cgroupns?: CgroupnsMode;
  resources: ResourceLimits;
  autoRemove: boolean;
  /** absent: "no" */
  restartPolicy?: RestartPolicy;
}

/** A bridge network a container is on, with its aliases there (Docker's EndpointSettings). */
export interface NetworkAttachment {
  name: string;
  aliases?: string[];
}

/**
 * A running container's endpoint on one network, kept in its record to unplug it and give its
 * address back (runtime/network/attach.ts makes it): a veth pair with one end in the
 * container's namespace (eth0, eth1…) and the other in the network's, on br0.
 */
export interface RecordedEndpoint {
  network: string;
  networkId: string;
  ip: string;
  prefix: number;
  gateway: string;
  /** the interface's name in the container (eth0, eth1…) */
  ifname: string;
  /** whether the container's default route goes through this network (its first one) */
  defaultRoute: boolean;
  /** the veth's name on the network's side (the same on every network: each has its own namespace) */
  veth: string;
  nsPath: string;
  /** the reservation file (`<net run dir>/ips/<ip>`) */
  reservation: string;
}

/** Network modes that give a container no bridge network: loopback only, or the host's. */
export const UNBRIDGED_MODES: readonly string[] = ["none", "host", "private"];

/** The bridge networks a container is on (none for --network none/host). */
export function attachedNetworks(host: ContainerHostConfig): NetworkAttachment[] {
  if (host.networks !== undefined) return host.networks;
  if (UNBRIDGED_MODES.includes(host.network)) return [];
  return [{ name: host.network, ...((host.networkAliases ?? []).length > 0 ? { aliases: host.networkAliases } : {}) }];
}

/** A running container's endpoints (a record from before several networks has one). */
export function recordEndpoints(record: Pick<ContainerRecord, "endpoints" | "endpoint">): Array<Pick<RecordedEndpoint, "network" | "networkId" | "ip" | "prefix" | "gateway"> & Partial<RecordedEndpoint>> {
  return record.endpoints ?? (record.endpoint !== undefined ? [record.endpoint] : []);
}

/** A process berth started, with its start time (clock ticks since boot) to survive pid reuse. */
export interface ProcessRef {
  pid: number;
  startTicks: number;
}

/** The container's record: `<container dir>/record.json`, replaced atomically on every change. */
export interface ContainerRecord {
  id: string;
  name: string;
  imageId: Digest;
  /** the image as the user named it */
  image: string;
  created: string;
  state: ContainerStatus;
  config: ContainerRunConfig;
  hostConfig: ContainerHostConfig;
  snapshot: RuntimeSnapshot;
  /** the process holding the container (the CLI in the foreground, or the detached supervisor) */
  supervisor?: ProcessRef;
  /** the container's init process on the host */
  pid?: ProcessRef;
  /** the `runc run` process: the container's parent, alive exactly as long as the container */
  runtime?: ProcessRef;
  /** the container's places on its bridge networks while it runs */
  endpoints?: RecordedEndpoint[];
  /** the one endpoint of records written before containers had several networks */
  endpoint?: { network: string; networkId: string; ip: string; prefix: number; gateway: string };
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  /** the OOM killer ended the container */
  oomKilled?: boolean;
  error?: string;
  /** restarts by the restart policy since the last manual start (Docker's RestartCount) */
  restartCount: number;
  /** exited, and its supervisor (alive) starts it again after a delay: see restart.ts */
  restarting?: boolean;
}

export const RECORD_FILE = "record.json";

/**
 * Write `data` to `path` atomically: a temp file in the same dir, then a rename. `durable`
 * adds an fsync first (power loss); container state records skip it — they are rewritten
 * several times per `berth run`, a rename already survives kill -9, and a state lost to a
 * power cut is re-derived from the processes (liveStatus).
 */
export async function writeFileAtomic(path: string, data: string, options: { durable?: boolean } = {}): Promise<void> {
  // synchronous calls: a record is a few KB, and open/write/close/rename as async calls are
  // four thread-pool round trips, each dearer than the write itself
  // (Math.random, not node:crypto: `ps` and `version` load this module and need no crypto)
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
  const fd = openSync(tmp, "w", 0o644);
  try {
    writeFileSync(fd, data);
    if (options.durable !== false) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
}

export async function readRecord(dir: string): Promise<ContainerRecord> {
  return JSON.parse(readFileSync(join(dir, RECORD_FILE), "utf8")) as ContainerRecord;
}

export async function writeRecord(dir: string, record: ContainerRecord): Promise<void> {
  await writeFileAtomic(join(dir, RECORD_FILE), JSON.stringify(record, null, 1), { durable: false });
}

/** The start time of a process (field 22 of /proc/<pid>/stat), or undefined if it is gone. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // the command name (field 2) may contain spaces and parentheses: split after the last ')'
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

export function processRef(pid: number): ProcessRef | undefined {
  const startTicks = processStartTicks(pid);
  return startTicks === undefined ? undefined : { pid, startTicks };
}

/** Whether the process is still the one that was recorded (not dead, not a reused pid, not a zombie). */
export function isAlive(ref: ProcessRef | undefined): boolean {
  if (ref === undefined) return false;
  if (processStartTicks(ref.pid) !== ref.startTicks) return false;
  try {
    const stat = readFileSync(`/proc/${ref.pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** PF_EXITING, in the flags field of /proc/<pid>/stat: the process is in exit(). */
const PF_EXITING = 0x4;
/** SIGKILL's bit in /proc/<pid>/status's pending-signal masks. */
const SIGKILL_BIT = 1n << 8n;

/**
 * Whether the process is alive and staying so: not in exit() and without a SIGKILL pending.
 * A process with much memory takes a while to die after `kill -9` (pasta: its buffers); it is
 * alive meanwhile (its files are still open: wait for isAlive to turn false before using what
 * it held), but a service found that way must be started again.
 */
export function isServing(ref: ProcessRef | undefined): boolean {
  if (!isAlive(ref) || ref === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${ref.pid}/stat`, "utf8");
    if ((Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[6]) & PF_EXITING) !== 0) return false;
    const status = readFileSync(`/proc/${ref.pid}/status`, "utf8");
    for (const key of ["ShdPnd:", "SigPnd:"]) {
      const at = status.indexOf(key);
      if (at >= 0 && (BigInt("0x" + status.slice(at + key.length, status.indexOf("\n", at)).trim()) & SIGKILL_BIT) !== 0n) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * The truth about a container whose record says running: if neither its holder nor its
 * init process is alive, it stopped while nobody watched (the supervisor was SIGKILLed):
 * report it exited, with 255 as its code since the real one is lost (what Docker reports
 * for containers whose shim died).
 */
export function liveStatus(record: ContainerRecord): ContainerStatus {
  if (record.state !== "running") return record.state;
  if (isAlive(record.supervisor) || isAlive(record.runtime) || isAlive(record.pid)) return "running";
  return "exited";
}

/** The record with its state corrected by `liveStatus` (not written back). */
export function withLiveState(record: ContainerRecord): ContainerRecord {
  if (record.state === "running" && liveStatus(record) === "exited") {
    return { ...record, state: "exited", exitCode: record.exitCode ?? 255, finishedAt: record.finishedAt ?? record.startedAt };
  }
  return record;
}
