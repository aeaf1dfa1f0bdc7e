import { readFileSync } from "node:fs";

/** CAP_SYS_ADMIN's bit in /proc/self/status's masks (linux/capability.h). */
const CAP_SYS_ADMIN = 21;

let sysAdmin: boolean | undefined;

/**
 * Whether this process holds CAP_SYS_ADMIN in its effective set: what mounts, trusted.*
 * extended attributes and new namespaces (runc's containers) need. A process that is root in
 * a container started without --privileged lacks it (Docker drops it, and its seccomp profile
 * refuses unshare and mount without it). Read once.
 */
export function hasCapSysAdmin(): boolean {
  if (sysAdmin !== undefined) return sysAdmin;
  try {
    const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("CapEff:"));
    sysAdmin = line === undefined ? true : ((BigInt(`0x${line.slice(7).trim()}`) >> BigInt(CAP_SYS_ADMIN)) & 1n) === 1n;
  } catch {
    sysAdmin = true;
  }
  return sysAdmin;
}
