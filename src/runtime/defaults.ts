import { statfsSync } from "node:fs";
import type { OciDeviceRule, OciMount } from "./oci-spec.js";

/**
 * Docker's defaults for a Linux container (moby/moby oci/defaults.go and
 * daemon/oci_linux.go), so a berth container is confined like a `docker run` one.
 */

/** The capabilities a container keeps unless --cap-add/--cap-drop/--privileged say otherwise. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Every capability the kernels berth runs on know (what --privileged and --cap-add ALL grant). */
export const ALL_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
  "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

/** /proc and /sys entries hidden from the container (daemon/oci_linux.go). */
export const MASKED_PATHS: readonly string[] = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** /proc entries the container may read but not write. */
export const READONLY_PATHS: readonly string[] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** The kernel file systems every container gets, in mount order. */
export function defaultMounts(options: { privileged: boolean }): OciMount[] {
  // Docker mounts /sys read-write only for --privileged containers
  const sysMode = options.privileged ? "rw" : "ro";
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", sysMode] },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", sysMode] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
  ];
}

/**
 * The device cgroup: deny everything, then allow the devices runc creates in /dev (null, zero,
 * full, random, urandom, tty, console, ptmx and the pts) — Docker's list; --privileged allows all.
 */
export function defaultDeviceRules(options: { privileged: boolean }): OciDeviceRule[] {
  if (options.privileged) return [{ allow: true, access: "rwm" }];
  const c = (major: number, minor: number): OciDeviceRule => ({ allow: true, type: "c", major, minor, access: "rwm" });
  return [
    { allow: false, access: "rwm" },
    c(1, 3), // null
    c(1, 5), // zero
    c(1, 7), // full
    c(1, 8), // random
    c(1, 9), // urandom
    c(5, 0), // tty
    c(5, 1), // console
    c(5, 2), // ptmx
    { allow: true, type: "c", major: 136, access: "rwm" }, // pts/*
    { allow: false, type: "c", major: 10, minor: 229, access: "rwm" }, // fuse, as Docker
  ];
}

/** PATH when the image sets none (Docker's default for Linux containers). */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** statfs(2)'s f_type of a cgroup2 file system. */
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** Whether /sys/fs/cgroup itself is cgroup2 (a unified host), not v1 or a v1/v2 hybrid. */
export function isCgroupUnified(path = "/sys/fs/cgroup"): boolean {
  try {
    return statfsSync(path).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Docker's default --cgroupns: a private cgroup namespace on unified (cgroup v2) hosts, the
 * host's on v1 and hybrid ones (daemon config default-cgroupns-mode).
 */
export function defaultCgroupns(unified: boolean = isCgroupUnified()): "private" | "host" {
  return unified ? "private" : "host";
}
