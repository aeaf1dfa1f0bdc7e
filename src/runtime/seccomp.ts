import { readFileSync } from "node:fs";
import { endianness, release } from "node:os";
import { gunzipSync } from "node:zlib";
import { RuntimeError } from "./errors.js";
import type { OciSeccomp, OciSeccompArg, OciSyscall } from "./oci-spec.js";
import { DOCKER_DEFAULT_SECCOMP } from "./seccomp-default.generated.js";

/**
 * Seccomp profiles in Docker's format (moby profiles/seccomp: an archMap, and syscall rules
 * with includes/excludes on capabilities, architectures and kernel versions) and their
 * conversion into the OCI runtime spec's `linux.seccomp`, as moby's setupSeccomp does it.
 * The default is Docker's own profile (seccomp-default.generated.ts, see
 * scripts/gen-seccomp-profile.mjs); `--security-opt seccomp=FILE` takes another.
 */

/** includes/excludes: a rule applies only when all of its includes and none of its excludes hold. */
export interface SeccompFilter {
  caps?: string[];
  /** libseccomp's native names: amd64, x86, x32, arm64, arm, s390x … */
  arches?: string[];
  /** "<kernel>.<major>", e.g. "4.8" */
  minKernel?: string;
}

export interface DockerSyscallRule {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[] | null;
  comment?: string;
  includes?: SeccompFilter;
  excludes?: SeccompFilter;
}

export interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  /** the old format's list; a profile has this or archMap, not both */
  architectures?: string[];
  archMap?: Array<{ architecture: string; subArchitectures?: string[] | null }> | null;
  flags?: string[];
  listenerPath?: string;
  syscalls?: DockerSyscallRule[] | null;
}

/** What the conversion depends on besides the profile: moby reads these from the process and the host. */
export interface SeccompTarget {
  /** the container's bounding capabilities (CAP_…) */
  capabilities: readonly string[];
  /** libseccomp's native name of this machine's architecture (nativeArch()) */
  arch: string;
  /** the host kernel's version (kernelVersion()) */
  kernel: { kernel: number; major: number };
  /**
   * Sub-architectures the kernel cannot run (kernelLacksX32()): left out of the filter, whose
   * compilation by runc costs time per architecture, and where their system calls fail anyway.
   */
  missingArches?: readonly string[];
}

/** libseccomp's native name → the spec's architecture (moby's nativeToSeccomp; riscv64 as later moby). */
const NATIVE_TO_SECCOMP: Readonly<Record<string, string>> = {
  x86: "SCMP_ARCH_X86",
  amd64: "SCMP_ARCH_X86_64",
  arm: "SCMP_ARCH_ARM",
  arm64: "SCMP_ARCH_AARCH64",
  mips64: "SCMP_ARCH_MIPS64",
  mips64n32: "SCMP_ARCH_MIPS64N32",
  mipsel64: "SCMP_ARCH_MIPSEL64",
  mips3l64n32: "SCMP_ARCH_MIPSEL64N32",
  mipsle: "SCMP_ARCH_MIPSEL",
  ppc: "SCMP_ARCH_PPC",
  ppc64: "SCMP_ARCH_PPC64",
  ppc64le: "SCMP_ARCH_PPC64LE",
  s390: "SCMP_ARCH_S390",
  s390x: "SCMP_ARCH_S390X",
  riscv64: "SCMP_ARCH_RISCV64",
};

/** Node's process.arch → libseccomp's native name (moby's goToNative, from GOARCH). */
export function nativeArch(nodeArch: string = process.arch): string {
  switch (nodeArch) {
    case "x64":
      return "amd64";
    case "ia32":
      return "x86";
    case "mipsel":
      return "mipsle";
    case "ppc64":
      return endianness() === "LE" ? "ppc64le" : "ppc64";
    default:
      return nodeArch;
  }
}

/** The kernel's "<kernel>.<major>" (moby's parseRelease: "6.1.0-18-amd64" → 6.1). */
export function kernelVersion(osRelease: string = release()): { kernel: number; major: number } {
  const m = /^(\d+)\.(\d+)/.exec(osRelease);
  if (m === null) throw new RuntimeError(`failed to parse kernel version "${osRelease}"`);
  return { kernel: Number(m[1]), major: Number(m[2]) };
}

function parseMinKernel(v: string): { kernel: number; major: number } {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  if (m === null || (Number(m[1]) === 0 && Number(m[2]) === 0)) throw new RuntimeError(`invalid kernel version: "${v}", expected "<kernel>.<major>"`);
  return { kernel: Number(m[1]), major: Number(m[2]) };
}

function kernelAtLeast(have: { kernel: number; major: number }, want: string): boolean {
  const min = parseMinKernel(want);
  return have.kernel > min.kernel || (have.kernel === min.kernel && have.major >= min.major);
}

/** Whether a rule applies to this target: moby's order of checks, excludes first. */
function applies(rule: DockerSyscallRule, target: SeccompTarget): boolean {
  const ex = rule.excludes ?? {};
  const inc = rule.includes ?? {};
  if ((ex.arches ?? []).includes(target.arch)) return false;
  if ((ex.caps ?? []).some((c) => target.capabilities.includes(c))) return false;
  if (ex.minKernel !== undefined && ex.minKernel !== "" && kernelAtLeast(target.kernel, ex.minKernel)) return false;
  if ((inc.arches ?? []).length > 0 && !(inc.arches ?? []).includes(target.arch)) return false;
  if ((inc.caps ?? []).some((c) => !target.capabilities.includes(c))) return false;
  if (inc.minKernel !== undefined && inc.minKernel !== "" && !kernelAtLeast(target.kernel, inc.minKernel)) return false;
  return true;
}

/**
 * A profile in Docker's format → the spec's `linux.seccomp` for one container (moby's
 * setupSeccomp): the native architecture and its sub-architectures from archMap, the rules
 * whose includes/excludes match the container's capabilities, the architecture and the
 * kernel, each rule's errnoRet, and the default action (and errno). Undefined when the
 * profile has neither a default action nor rules (moby: seccomp disabled).
 */
export function toOciSeccomp(profile: DockerSeccompProfile, target: SeccompTarget): OciSeccomp | undefined {
  const rules = profile.syscalls ?? [];
  if (profile.defaultAction === "" && rules.length === 0) return undefined;
  if ((profile.architectures ?? []).length > 0 && (profile.archMap ?? []).length > 0) {
    throw new RuntimeError("'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'");
  }
  const architectures = [...(profile.architectures ?? [])];
  const seccompArch = NATIVE_TO_SECCOMP[target.arch];
  const entry = seccompArch === undefined ? undefined : (profile.archMap ?? []).find((a) => a.architecture === seccompArch);
  if (entry !== undefined) architectures.push(entry.architecture, ...(entry.subArchitectures ?? []).filter((a) => !(target.missingArches ?? []).includes(a)));
  const syscalls: OciSyscall[] = [];
  for (const rule of rules) {
    if (!applies(rule, target)) continue;
    if (rule.name !== undefined && rule.name !== "" && (rule.names ?? []).length > 0) {
      throw new RuntimeError("'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'");
    }
    const names = rule.name !== undefined && rule.name !== "" ? [rule.name] : (rule.names ?? []);
    const args = rule.args ?? [];
    syscalls.push({
      names,
      action: rule.action,
      ...(rule.errnoRet !== undefined ? { errnoRet: rule.errnoRet } : {}),
      ...(args.length > 0 ? { args } : {}),
    });
  }
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    ...(architectures.length > 0 ? { architectures } : {}),
    ...((profile.flags ?? []).length > 0 ? { flags: profile.flags } : {}),
    ...(profile.listenerPath !== undefined && profile.listenerPath !== "" ? { listenerPath: profile.listenerPath } : {}),
    syscalls,
  };
}

/**
 * Whether the x86-64 kernel lacks the x32 ABI, read from its build configuration
 * (/proc/config.gz, else /boot/config-<release>): CONFIG_X86_X32_ABI (CONFIG_X86_X32 before
 * 5.18) not set, or Debian's CONFIG_X86_X32_DISABLED without `syscall.x32=y` on the command
 * line. Without a configuration to read, false: the filter keeps x32.
 */
export function kernelLacksX32(read: (path: string) => Buffer | undefined = readMaybe, osRelease: string = release()): boolean {
  const packed = read("/proc/config.gz");
  let config: string | undefined;
  try {
    config = packed !== undefined ? gunzipSync(packed).toString("latin1") : read(`/boot/config-${osRelease}`)?.toString("latin1");
  } catch {
    config = undefined;
  }
  if (config === undefined) return false;
  if (!/^CONFIG_X86_X32(_ABI)?=y$/m.test(config)) return true;
  if (/^CONFIG_X86_X32_DISABLED=y$/m.test(config)) return !/(^|\s)syscall\.x32=(y|1|on)(\s|$)/.test(read("/proc/cmdline")?.toString("latin1") ?? "");
  return false;
}

function readMaybe(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

let hostTarget: Omit<SeccompTarget, "capabilities"> | undefined;

function forHost(capabilities: readonly string[]): SeccompTarget {
  if (hostTarget === undefined) {
    const arch = nativeArch();
    hostTarget = { arch, kernel: kernelVersion(), ...(arch === "amd64" && kernelLacksX32() ? { missingArches: ["SCMP_ARCH_X32"] } : {}) };
  }
  return { ...hostTarget, capabilities };
}

/** Conversions of Docker's default profile, by capability set: a build's steps all share one. */
const defaultMemo = new Map<string, OciSeccomp | undefined>();

/** Docker's default profile for a container with these bounding capabilities (memoised). */
export function defaultSeccomp(capabilities: readonly string[]): OciSeccomp | undefined {
  const key = [...capabilities].sort().join(",");
  if (defaultMemo.has(key)) return defaultMemo.get(key);
  const converted = toOciSeccomp(DOCKER_DEFAULT_SECCOMP, forHost(capabilities));
  defaultMemo.set(key, converted);
  return converted;
}

/** A profile given to one container (`--security-opt seccomp=FILE`), for these capabilities. */
export function customSeccomp(profile: DockerSeccompProfile, capabilities: readonly string[]): OciSeccomp | undefined {
  return toOciSeccomp(profile, forHost(capabilities));
}

const ACTIONS = new Set([
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_LOG",
  "SCMP_ACT_NOTIFY",
]);
const OPERATORS = new Set(["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"]);

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === "string");
}

/** What is wrong with a decoded profile, as one sentence (runc would only fail at start), or undefined. */
function profileProblem(p: unknown): string | undefined {
  if (typeof p !== "object" || p === null || Array.isArray(p)) return "not a JSON object";
  const o = p as Record<string, unknown>;
  if (o.defaultAction !== undefined && typeof o.defaultAction !== "string") return "defaultAction is not a string";
  const rules = o.syscalls ?? [];
  if (o.defaultAction === undefined && Array.isArray(rules) && rules.length === 0) return undefined;
  if (typeof o.defaultAction !== "string" || !ACTIONS.has(o.defaultAction)) return `unknown defaultAction ${JSON.stringify(o.defaultAction)}`;
  if (o.defaultErrnoRet !== undefined && !Number.isInteger(o.defaultErrnoRet)) return "defaultErrnoRet is not a number";
  if (o.architectures !== undefined && o.architectures !== null && !isStringList(o.architectures)) return "architectures is not a list of strings";
  // moby's own refusals (toOciSeccomp makes them too, but only for the rules that apply)
  if (Array.isArray(o.architectures) && o.architectures.length > 0 && Array.isArray(o.archMap) && o.archMap.length > 0) {
    return "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'";
  }
  if (o.archMap !== undefined && o.archMap !== null) {
    if (!Array.isArray(o.archMap)) return "archMap is not a list";
    for (const a of o.archMap as unknown[]) {
      const e = a as Record<string, unknown> | null;
      if (e === null || typeof e !== "object" || typeof e.architecture !== "string") return "an archMap entry has no architecture";
      if (e.subArchitectures !== undefined && e.subArchitectures !== null && !isStringList(e.subArchitectures)) return "subArchitectures is not a list of strings";
    }
  }
  if (!Array.isArray(rules)) return "syscalls is not a list";
  for (const [i, r] of (rules as unknown[]).entries()) {
    const at = `syscalls[${i}]`;
    if (typeof r !== "object" || r === null) return `${at} is not an object`;
    const rule = r as Record<string, unknown>;
    if (typeof rule.action !== "string" || !ACTIONS.has(rule.action)) return `${at}: unknown action ${JSON.stringify(rule.action)}`;
    if (rule.name !== undefined && typeof rule.name !== "string") return `${at}: name is not a string`;
    if (rule.names !== undefined && rule.names !== null && !isStringList(rule.names)) return `${at}: names is not a list of strings`;
    if (typeof rule.name === "string" && rule.name !== "" && Array.isArray(rule.names) && rule.names.length > 0) {
      return `${at}: 'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'`;
    }
    if (rule.errnoRet !== undefined && !Number.isInteger(rule.errnoRet)) return `${at}: errnoRet is not a number`;
    if (rule.args !== undefined && rule.args !== null) {
      if (!Array.isArray(rule.args)) return `${at}: args is not a list`;
      for (const a of rule.args as unknown[]) {
        const arg = a as Record<string, unknown> | null;
        if (arg === null || typeof arg !== "object" || !Number.isInteger(arg.index) || !Number.isInteger(arg.value)) return `${at}: an argument needs index and value numbers`;
        if (typeof arg.op !== "string" || !OPERATORS.has(arg.op)) return `${at}: unknown operator ${JSON.stringify(arg.op)}`;
      }
    }
    for (const side of ["includes", "excludes"] as const) {
      const f = rule[side] as Record<string, unknown> | undefined | null;
      if (f === undefined || f === null) continue;
      if (typeof f !== "object") return `${at}: ${side} is not an object`;
      if (f.caps !== undefined && f.caps !== null && !isStringList(f.caps)) return `${at}: ${side}.caps is not a list of strings`;
      if (f.arches !== undefined && f.arches !== null && !isStringList(f.arches)) return `${at}: ${side}.arches is not a list of strings`;
      if (f.minKernel !== undefined && f.minKernel !== "") {
        if (typeof f.minKernel !== "string") return `${at}: ${side}.minKernel is not a string`;
        try {
          parseMinKernel(f.minKernel);
        } catch (err) {
          return `${at}: ${(err as Error).message}`;
        }
      }
    }
  }
  return undefined;
}

/**
 * A profile's text in Docker's format → the profile, checked so that a bad one fails when the
 * container is created, not when runc starts it. `source` names it in the error.
 */
export function parseSeccompProfile(text: string, source: string): DockerSeccompProfile {
  let decoded: unknown;
  try {
    decoded = JSON.parse(text);
  } catch (err) {
    throw new RuntimeError(`Decoding seccomp profile (${source}) failed: ${(err as Error).message}`);
  }
  const problem = profileProblem(decoded);
  if (problem !== undefined) throw new RuntimeError(`Decoding seccomp profile (${source}) failed: ${problem}`);
  const profile = decoded as DockerSeccompProfile;
  // no default action and no rules: no filter, as moby
  return { ...profile, defaultAction: profile.defaultAction ?? "" };
}

/**
 * `--security-opt seccomp=FILE`: the file's profile as Docker's CLI sends it to the daemon
 * (compacted JSON: the container keeps the profile, not the path), checked.
 */
export function readSeccompProfileFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new RuntimeError(`opening seccomp profile (${path}) failed: ${(err as Error).message}`);
  }
  parseSeccompProfile(text, path);
  return JSON.stringify(JSON.parse(text) as unknown);
}
