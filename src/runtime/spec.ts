import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, defaultDeviceRules, defaultMounts } from "./defaults.js";
import { customSeccomp, defaultSeccomp, type DockerSeccompProfile } from "./seccomp.js";
import { RuntimeError } from "./errors.js";
import type { OciHooks, OciMount, OciNamespace, OciResources, OciSpec, OciUser } from "./oci-spec.js";

/**
 * none: own network namespace with loopback only; private: the same, ports may be published
 * (berth's older default); host: the host's; bridge (the default) or a user network's name:
 * own namespace plugged into that network (see runtime/network/).
 */
export type NetworkMode = "none" | "host" | "private" | "bridge" | (string & {});

/** --cgroupns: "private" gives the container its own cgroup namespace, "host" shares the host's. */
export type CgroupnsMode = "private" | "host";

/** A mount the user asked for: a bind mount (-v host:ctr[:ro], named volumes) or a tmpfs. */
export type MountRequest =
  | { type: "bind"; source: string; destination: string; readOnly?: boolean }
  | { type: "tmpfs"; destination: string; options?: string[] }
  /** an overlay made by runc in the container's namespace: read-only without upperDir (nothing mounted on the host) */
  | { type: "overlay"; destination: string; lowerDirs: string[]; upperDir?: string; workDir?: string };

export interface ResourceLimits {
  /** bytes (--memory) */
  memory?: number;
  /** CPUs, fractional (--cpus) */
  cpus?: number;
  /** maximum number of tasks (--pids-limit); 0 or negative means unlimited */
  pidsLimit?: number;
}

export interface SpecOptions {
  /** the rootfs directory (absolute, or relative to the bundle) */
  rootfs: string;
  args: string[];
  env: string[];
  cwd?: string;
  user?: OciUser;
  hostname?: string;
  terminal?: boolean;
  network?: NetworkMode;
  /**
   * Join this network namespace (a path, e.g. /proc/<pid>/ns/net) instead of making one: a
   * build's sandbox (src/runtime/network/). Not with network "host".
   */
  netnsPath?: string;
  mounts?: MountRequest[];
  readOnlyRootfs?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  noNewPrivileges?: boolean;
  /**
   * The seccomp profile: Docker's default when undefined, none for "unconfined" (and for
   * --privileged, whatever this says), else this profile in Docker's format.
   */
  seccomp?: "unconfined" | DockerSeccompProfile;
  /** the cgroup namespace (default "host": the caller picks Docker's default, see defaultCgroupns) */
  cgroupns?: CgroupnsMode;
  resources?: ResourceLimits;
  /** cgroup path for runc (v1: relative to each hierarchy's root) */
  cgroupsPath?: string;
  /** host path of an init binary (tini-static): bind-mounted at /sbin/docker-init and run as pid 1 */
  init?: string;
  /** what --privileged and ALL grant (default: every capability berth knows); see hostCapabilities() */
  availableCapabilities?: readonly string[];
  /** whether the kernel accounts swap (memory.memsw.*): Docker drops the swap limit where it does not */
  swapAccounting?: boolean;
  /** OCI hooks (the network plumbing of a bridged container) */
  hooks?: OciHooks;
}

/** Where Docker mounts its init (docker-init = tini) inside the container. */
export const INIT_PATH = "/sbin/docker-init";

function normalizeCap(name: string): string {
  const upper = name.trim().toUpperCase();
  return upper === "ALL" ? "ALL" : upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
}

/**
 * The capability set by Docker's rules (oci/caps): start from the defaults (all for
 * --privileged), add --cap-add, then remove --cap-drop; ALL works on either side and a drop of
 * ALL keeps only what is added explicitly.
 */
export function capabilitySet(options: { capAdd?: string[]; capDrop?: string[]; privileged?: boolean; availableCapabilities?: readonly string[] }): string[] {
  const all = options.availableCapabilities ?? ALL_CAPABILITIES;
  if (options.privileged === true) return [...all];
  const add = (options.capAdd ?? []).map(normalizeCap);
  const drop = (options.capDrop ?? []).map(normalizeCap);
  for (const cap of [...add, ...drop]) {
    if (cap !== "ALL" && !ALL_CAPABILITIES.includes(cap)) throw new RuntimeError(`unknown capability: "${cap}"`);
  }
  let caps: string[];
  if (drop.includes("ALL")) caps = add.includes("ALL") ? [...all] : add.filter((c) => c !== "ALL");
  else {
    caps = add.includes("ALL") ? [...all] : [...DEFAULT_CAPABILITIES, ...add.filter((c) => !DEFAULT_CAPABILITIES.includes(c))];
    caps = caps.filter((c) => !drop.includes(c));
  }
  return [...new Set(caps)];
}

function namespaces(network: NetworkMode, cgroupns: CgroupnsMode, netnsPath: string | undefined): OciNamespace[] {
  const ns: OciNamespace[] = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }];
  // runc brings up loopback in a namespace it creates: that is all "none" and "private" need;
  // a bridged container's eth0 is added by its hook
  if (network !== "host") ns.push(netnsPath !== undefined ? { type: "network", path: netnsPath } : { type: "network" });
  if (cgroupns === "private") ns.push({ type: "cgroup" });
  return ns;
}

function resources(options: SpecOptions): OciResources {
  const res: OciResources = { devices: defaultDeviceRules({ privileged: options.privileged === true }) };
  const limits = options.resources ?? {};
  if (limits.memory !== undefined) {
    // Docker allows as much swap as memory (swap = 2x memory) where swap is accounted
    res.memory = options.swapAccounting === true ? { limit: limits.memory, swap: limits.memory * 2 } : { limit: limits.memory };
  }
  if (limits.cpus !== undefined) {
    const period = 100_000;
    res.cpu = { period, quota: Math.round(limits.cpus * period) };
  }
  if (limits.pidsLimit !== undefined && limits.pidsLimit > 0) res.pids = { limit: limits.pidsLimit };
  return res;
}

function userMounts(requests: MountRequest[]): OciMount[] {
  return requests.map((m) => {
    switch (m.type) {
      case "bind":
        return { destination: m.destination, type: "bind", source: m.source, options: ["rbind", "rprivate", m.readOnly === true ? "ro" : "rw"] };
      case "tmpfs":
        return { destination: m.destination, type: "tmpfs", source: "tmpfs", options: m.options ?? ["nosuid", "nodev", "noexec", "mode=1777"] };
      case "overlay": {
        const layers = `lowerdir=${m.lowerDirs.join(":")}`;
        const options = m.upperDir !== undefined && m.workDir !== undefined ? [layers, `upperdir=${m.upperDir}`, `workdir=${m.workDir}`] : ["ro", layers];
        return { destination: m.destination, type: "overlay", source: "overlay", options };
      }
    }
  });
}

/**
 * The OCI runtime spec for one container: Docker's confinement (capabilities, masked and
 * read-only paths, devices, kernel file systems) with the process, mounts, namespaces and
 * limits this container asks for. Pure: resolving users and paths happens before.
 */
export function buildSpec(options: SpecOptions): OciSpec {
  const privileged = options.privileged === true;
  const caps = capabilitySet(options);
  let args = options.args;
  const mounts = [...defaultMounts({ privileged }), ...userMounts(options.mounts ?? [])];
  if (options.init !== undefined) {
    mounts.push({ destination: INIT_PATH, type: "bind", source: options.init, options: ["rbind", "ro"] });
    args = [INIT_PATH, "--", ...args];
  }
  const network = options.network ?? "private";
  if (options.netnsPath !== undefined && network === "host") throw new RuntimeError("a network namespace path cannot be joined with the host's network");
  // moby: --privileged and seccomp=unconfined run without a filter; the profile's rules are
  // chosen by the container's bounding capabilities
  const seccomp =
    privileged || options.seccomp === "unconfined" ? undefined : options.seccomp === undefined ? defaultSeccomp(caps) : customSeccomp(options.seccomp, caps);
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: options.terminal === true,
      user: options.user ?? { uid: 0, gid: 0 },
      args,
      env: options.env,
      cwd: options.cwd === undefined || options.cwd === "" ? "/" : options.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: options.noNewPrivileges === true,
    },
    root: { path: options.rootfs, readonly: options.readOnlyRootfs === true },
    // a UTS namespace of its own in every mode: a build step on the host's network is still
    // buildkitsandbox (BuildKit); `run --network host` passes the host's name
    ...(options.hostname !== undefined ? { hostname: options.hostname } : {}),
    mounts,
    ...(options.hooks !== undefined ? { hooks: options.hooks } : {}),
    linux: {
      namespaces: namespaces(network, options.cgroupns ?? "host", options.netnsPath),
      resources: resources(options),
      ...(options.cgroupsPath !== undefined ? { cgroupsPath: options.cgroupsPath } : {}),
      ...(privileged ? {} : { maskedPaths: [...MASKED_PATHS], readonlyPaths: [...READONLY_PATHS] }),
      ...(seccomp !== undefined ? { seccomp } : {}),
    },
  };
}
