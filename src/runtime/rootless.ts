import { readFileSync } from "node:fs";
import { isRootless } from "../sys/host-uid.js";
import { RuntimeError } from "./errors.js";
import type { ResourceLimits } from "./spec.js";

/**
 * Where runc makes a container's cgroup: /berth/<id> as root. Rootless, none: only root may
 * create cgroups on a cgroup v1 (or hybrid) host, and runc's rootless cgroup manager skips
 * the cgroups it may not create only when the spec names no path.
 */
export function cgroupsPathOption(id: string): { cgroupsPath?: string } {
  return isRootless() ? {} : { cgroupsPath: `/berth/${id}` };
}

const LIMIT_FLAGS: Readonly<Record<keyof ResourceLimits, string>> = { memory: "--memory", cpus: "--cpus", pidsLimit: "--pids-limit" };

/** Limits need a cgroup of the container's own: rootless berth has none, and says so rather than run without them. */
export function checkLimitsAllowed(limits: ResourceLimits): void {
  if (!isRootless()) return;
  const asked = (Object.keys(LIMIT_FLAGS) as (keyof ResourceLimits)[]).filter((k) => limits[k] !== undefined && !(k === "pidsLimit" && (limits.pidsLimit ?? 0) <= 0));
  if (asked.length === 0) return;
  throw new RuntimeError(
    `${asked.map((k) => LIMIT_FLAGS[k]).join(", ")}: rootless berth cannot limit resources: a limit needs a cgroup of the container's own, and only root may create cgroups on this host (run berth as root for limits)`,
  );
}

/** The lowest port an ordinary user may bind on the host (the sysctl; 1024 where it cannot be read). */
function unprivilegedPortStart(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8").trim());
  } catch {
    return 1024;
  }
}

/**
 * A host port below net.ipv4.ip_unprivileged_port_start needs root: rootless berth says so
 * before anything is created, naming the flag and the sysctl, instead of the listener's EACCES.
 */
export function checkHostPortAllowed(spec: string, hostPort: number): void {
  if (hostPort === 0 || !isRootless()) return;
  const start = unprivilegedPortStart();
  if (hostPort >= start) return;
  throw new RuntimeError(
    `-p ${spec}: rootless berth cannot publish host port ${hostPort}: ports below net.ipv4.ip_unprivileged_port_start (${start}) need root; choose a host port of ${start} or more, or lower it (as root: sysctl -w net.ipv4.ip_unprivileged_port_start=${hostPort})`,
  );
}
