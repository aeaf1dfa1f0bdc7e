/**
 * The part of the OCI runtime spec (config.json, runtime-spec v1.0.2 as runc 1.1 reads it)
 * that berth writes. Field names are the spec's.
 */
export interface OciUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface OciRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface OciProcess {
  terminal?: boolean;
  user: OciUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface OciNamespace {
  type: "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup";
  path?: string;
}

export interface OciDeviceRule {
  allow: boolean;
  type?: "a" | "b" | "c";
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciResources {
  devices?: OciDeviceRule[];
  memory?: { limit?: number; swap?: number; reservation?: number };
  cpu?: { shares?: number; quota?: number; period?: number };
  pids?: { limit: number };
}

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface OciSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  syscalls?: OciSyscall[];
}

export interface OciLinux {
  namespaces: OciNamespace[];
  devices?: unknown[];
  resources?: OciResources;
  cgroupsPath?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  seccomp?: OciSeccomp;
}

/** A hook runc runs at a point of the container's creation, with the container's state on stdin. */
export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface OciHooks {
  /** after the container's namespaces exist, before pivot_root: in runc's namespaces */
  createRuntime?: OciHook[];
}

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: OciMount[];
  hooks?: OciHooks;
  linux: OciLinux;
}
