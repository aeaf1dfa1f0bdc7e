import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { buildSpec } from "../../../src/runtime/index.js";
import { DEFAULT_CAPABILITIES, defaultCgroupns } from "../../../src/runtime/defaults.js";
import { DOCKER_DEFAULT_SECCOMP, DOCKER_DEFAULT_SECCOMP_SOURCE } from "../../../src/runtime/seccomp-default.generated.js";
import {
  defaultSeccomp,
  kernelLacksX32,
  kernelVersion,
  nativeArch,
  parseSeccompProfile,
  readSeccompProfileFile,
  toOciSeccomp,
  type DockerSeccompProfile,
  type SeccompTarget,
} from "../../../src/runtime/seccomp.js";
import { parseSecurityOpts } from "../../../src/runtime/container/security-opts.js";
import type { OciSeccomp } from "../../../src/runtime/oci-spec.js";

const amd64 = (capabilities: readonly string[], kernel = { kernel: 6, major: 1 }): SeccompTarget => ({ capabilities, arch: "amd64", kernel });

/** Every syscall a converted profile names, with the action of the first rule naming it (libseccomp keeps the first). */
function actions(s: OciSeccomp | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const rule of s?.syscalls ?? []) for (const n of rule.names) if (!out.has(n) && rule.args === undefined) out.set(n, rule.action);
  return out;
}

describe("toOciSeccomp (moby's setupSeccomp)", () => {
  const profile: DockerSeccompProfile = {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    archMap: [
      { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
      { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
    ],
    syscalls: [
      { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
      { names: ["bpf"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
      { names: ["perf"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN", "CAP_PERFMON"] } },
      { names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 2114060288, op: "SCMP_CMP_MASKED_EQ" }], excludes: { caps: ["CAP_SYS_ADMIN"], arches: ["s390x"] } },
      { names: ["arch_prctl"], action: "SCMP_ACT_ALLOW", includes: { arches: ["amd64", "x32"] } },
      { names: ["s390_only"], action: "SCMP_ACT_ALLOW", includes: { arches: ["s390x"] } },
      { names: ["ptrace"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "4.8" } },
      { names: ["old_thing"], action: "SCMP_ACT_ALLOW", excludes: { minKernel: "5.0" } },
      { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38, excludes: { caps: ["CAP_SYS_ADMIN"] } },
      { name: "single", action: "SCMP_ACT_LOG" },
    ],
  };

  it("takes the native architecture and its sub-architectures from archMap", () => {
    expect(toOciSeccomp(profile, amd64([]))?.architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    expect(toOciSeccomp(profile, { ...amd64([]), arch: "arm64" })?.architectures).toEqual(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    // a sub-architecture the kernel cannot run is left out
    expect(toOciSeccomp(profile, { ...amd64([]), missingArches: ["SCMP_ARCH_X32"] })?.architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
    // an architecture the map lacks: none listed (libseccomp takes the native one)
    expect(toOciSeccomp(profile, { ...amd64([]), arch: "riscv64" })?.architectures).toBeUndefined();
  });

  it("keeps rules by the container's capabilities: includes need all, excludes drop on any", () => {
    const plain = actions(toOciSeccomp(profile, amd64(DEFAULT_CAPABILITIES)));
    expect(plain.has("bpf")).toBe(false);
    expect(plain.get("clone3")).toBe("SCMP_ACT_ERRNO");
    const admin = toOciSeccomp(profile, amd64([...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"]));
    expect(actions(admin).get("bpf")).toBe("SCMP_ACT_ALLOW");
    expect(actions(admin).has("clone3")).toBe(false);
    expect(admin?.syscalls?.some((r) => r.names.includes("clone"))).toBe(false);
    // both caps needed for "perf"
    expect(actions(admin).has("perf")).toBe(false);
    expect(actions(toOciSeccomp(profile, amd64(["CAP_SYS_ADMIN", "CAP_PERFMON"]))).get("perf")).toBe("SCMP_ACT_ALLOW");
  });

  it("keeps rules by architecture and kernel version", () => {
    const s = actions(toOciSeccomp(profile, amd64([])));
    expect(s.has("arch_prctl")).toBe(true);
    expect(s.has("s390_only")).toBe(false);
    expect(s.has("ptrace")).toBe(true); // 6.1 >= 4.8
    expect(s.has("old_thing")).toBe(false); // excluded from 5.0 on
    const old = actions(toOciSeccomp(profile, amd64([], { kernel: 4, major: 4 })));
    expect(old.has("ptrace")).toBe(false);
    expect(old.has("old_thing")).toBe(true);
    const s390 = toOciSeccomp(profile, { ...amd64([]), arch: "s390x" });
    expect(actions(s390).has("s390_only")).toBe(true);
    expect(s390?.syscalls?.some((r) => r.names.includes("clone"))).toBe(false);
  });

  it("carries errnoRet, args, the default action and errno; name becomes names", () => {
    const s = toOciSeccomp(profile, amd64([]));
    expect(s?.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect(s?.defaultErrnoRet).toBe(1);
    expect(s?.syscalls?.find((r) => r.names.includes("clone3"))?.errnoRet).toBe(38);
    expect(s?.syscalls?.find((r) => r.names.includes("clone"))?.args).toEqual([{ index: 0, value: 2114060288, op: "SCMP_CMP_MASKED_EQ" }]);
    expect(s?.syscalls?.find((r) => r.names.includes("single"))).toEqual({ names: ["single"], action: "SCMP_ACT_LOG" });
    expect(s?.syscalls?.find((r) => r.names.includes("read"))).toEqual({ names: ["read", "write"], action: "SCMP_ACT_ALLOW" });
  });

  it("refuses what moby refuses; an empty profile means no filter", () => {
    expect(() => toOciSeccomp({ ...profile, architectures: ["SCMP_ARCH_X86_64"] }, amd64([]))).toThrow(/'architectures' and 'archMap'/);
    expect(() => toOciSeccomp({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ name: "a", names: ["b"], action: "SCMP_ACT_ALLOW" }] }, amd64([]))).toThrow(/'name' and 'names'/);
    expect(toOciSeccomp({ defaultAction: "", syscalls: [] }, amd64([]))).toBeUndefined();
  });
});

describe("Docker's default profile", () => {
  it("is moby's, named with its Debian package and version", () => {
    expect(DOCKER_DEFAULT_SECCOMP_SOURCE).toMatch(/golang-github-docker-docker-dev \d+\.\d+\.\d+/);
    expect(DOCKER_DEFAULT_SECCOMP.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect((DOCKER_DEFAULT_SECCOMP.syscalls ?? []).length).toBeGreaterThan(20);
  });

  it("blocks unshare, mount, keyctl and reboot for default capabilities, allows them (but keyctl) with CAP_SYS_ADMIN/CAP_SYS_BOOT", () => {
    const plain = actions(toOciSeccomp(DOCKER_DEFAULT_SECCOMP, amd64(DEFAULT_CAPABILITIES)));
    for (const n of ["unshare", "mount", "keyctl", "reboot", "setns", "bpf"]) expect(plain.has(n), n).toBe(false);
    for (const n of ["read", "mkdir", "execve", "chroot"]) expect(plain.get(n), n).toBe("SCMP_ACT_ALLOW");
    const admin = actions(toOciSeccomp(DOCKER_DEFAULT_SECCOMP, amd64([...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN", "CAP_SYS_BOOT"])));
    for (const n of ["unshare", "mount", "setns", "reboot"]) expect(admin.get(n), n).toBe("SCMP_ACT_ALLOW");
    expect(admin.has("keyctl")).toBe(false);
  });

  it("is converted once per capability set", () => {
    const a = defaultSeccomp(DEFAULT_CAPABILITIES);
    expect(defaultSeccomp([...DEFAULT_CAPABILITIES].reverse())).toBe(a);
    expect(defaultSeccomp([...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"])).not.toBe(a);
  });

  it("goes into every spec but --privileged and seccomp=unconfined ones; a custom profile replaces it", () => {
    const base = { rootfs: "/r", args: ["sh"], env: [] };
    expect(buildSpec(base).linux.seccomp).toBe(defaultSeccomp(DEFAULT_CAPABILITIES));
    expect(buildSpec({ ...base, privileged: true }).linux.seccomp).toBeUndefined();
    expect(buildSpec({ ...base, seccomp: "unconfined" }).linux.seccomp).toBeUndefined();
    const custom = buildSpec({ ...base, seccomp: { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }] } });
    expect(custom.linux.seccomp).toEqual({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }] });
  });
});

describe("host facts", () => {
  it("maps Node's arch to libseccomp's, parses the kernel's release", () => {
    expect(nativeArch("x64")).toBe("amd64");
    expect(nativeArch("arm64")).toBe("arm64");
    expect(nativeArch("ia32")).toBe("x86");
    expect(kernelVersion("6.1.0-18-amd64")).toEqual({ kernel: 6, major: 1 });
    expect(kernelVersion("3.12-1-amd64")).toEqual({ kernel: 3, major: 12 });
    expect(() => kernelVersion("weird")).toThrow(/kernel version/);
  });

  it("reads from the kernel's configuration whether it runs x32 system calls", () => {
    const files = (config: string | undefined, cmdline = "", gz = true) => (path: string): Buffer | undefined => {
      if (path === "/proc/cmdline") return Buffer.from(cmdline);
      if (config === undefined) return undefined;
      if (gz && path === "/proc/config.gz") return gzipSync(config);
      if (!gz && path === "/boot/config-6.1.0-18-amd64") return Buffer.from(config);
      return undefined;
    };
    expect(kernelLacksX32(files("CONFIG_IA32_EMULATION=y\n# CONFIG_X86_X32_ABI is not set\n"), "6.18.0")).toBe(true);
    expect(kernelLacksX32(files("CONFIG_X86_X32_ABI=y\n"), "6.18.0")).toBe(false);
    expect(kernelLacksX32(files("CONFIG_X86_X32=y\n", "", false), "6.1.0-18-amd64")).toBe(false);
    // Debian's kernels: built in, off unless the command line turns it on
    expect(kernelLacksX32(files("CONFIG_X86_X32=y\nCONFIG_X86_X32_DISABLED=y\n", "quiet", false), "6.1.0-18-amd64")).toBe(true);
    expect(kernelLacksX32(files("CONFIG_X86_X32=y\nCONFIG_X86_X32_DISABLED=y\n", "quiet syscall.x32=y", false), "6.1.0-18-amd64")).toBe(false);
    // nothing to read: kept
    expect(kernelLacksX32(files(undefined), "6.1.0-18-amd64")).toBe(false);
  });

  it("--cgroupns defaults to private on a unified host, host on v1 and hybrid ones", () => {
    expect(defaultCgroupns(true)).toBe("private");
    expect(defaultCgroupns(false)).toBe("host");
    const base = { rootfs: "/r", args: ["sh"], env: [] };
    expect(buildSpec({ ...base, cgroupns: "private" }).linux.namespaces.map((n) => n.type)).toContain("cgroup");
    expect(buildSpec({ ...base, cgroupns: "host" }).linux.namespaces.map((n) => n.type)).not.toContain("cgroup");
    expect(buildSpec(base).linux.namespaces.map((n) => n.type)).not.toContain("cgroup");
  });
});

describe("profile files and --security-opt", () => {
  const dir = mkdtempSync("/tmp/berth-unit-seccomp-");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it("reads a profile file into compacted JSON", () => {
    const p = file("ok.json", '{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": []\n}\n');
    expect(readSeccompProfileFile(p)).toBe('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}');
  });

  it.each([
    ["missing.json", undefined, /opening seccomp profile \(.*missing\.json\) failed/],
    ["syntax.json", '{"defaultAction": ', /Decoding seccomp profile \(.*syntax\.json\) failed/],
    ["action.json", '{"defaultAction": "SCMP_ACT_MAYBE"}', /syntax|unknown defaultAction "SCMP_ACT_MAYBE"/],
    ["rule.json", '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "NOPE"}]}', /rule\.json.*syscalls\[0\]: unknown action "NOPE"/],
    ["op.json", '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "EQ"}]}]}', /unknown operator "EQ"/],
    ["kernel.json", '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "four"}}]}', /invalid kernel version/],
    ["names.json", '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}', /names\.json.*syscalls\[0\]: 'name' and 'names'/],
    ["both.json", '{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}', /both\.json.*'architectures' and 'archMap'/],
  ])("names the file and the fault: %s", (name, text, message) => {
    const p = text === undefined ? join(dir, name) : file(name, text);
    expect(() => readSeccompProfileFile(p)).toThrow(message);
  });

  it("reads containers-common's profile (podman's) where it is installed", (ctx) => {
    const path = "/usr/share/containers/seccomp.json";
    let text: string;
    try {
      text = readSeccompProfileFile(path);
    } catch {
      ctx.skip(); // golang-github-containers-common is not installed
      return;
    }
    const s = toOciSeccomp(parseSeccompProfile(text, path), amd64(DEFAULT_CAPABILITIES));
    expect(s?.defaultErrnoRet).toBe(38); // podman's profile answers ENOSYS by default
  });

  it("parses --security-opt as Docker's CLI: KEY=VALUE or KEY:VALUE, files replaced by their content", () => {
    const p = file("nomkdir.json", '{ "defaultAction": "SCMP_ACT_ALLOW" }');
    expect(parseSecurityOpts(["no-new-privileges", `seccomp=${p}`])).toEqual({
      noNewPrivileges: true,
      seccomp: '{"defaultAction":"SCMP_ACT_ALLOW"}',
      securityOpt: ["no-new-privileges", 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'],
    });
    expect(parseSecurityOpts(["seccomp:unconfined", "no-new-privileges=false"])).toEqual({ noNewPrivileges: false, seccomp: "unconfined", securityOpt: ["seccomp=unconfined", "no-new-privileges=false"] });
    expect(() => parseSecurityOpts(["no-new-privileges=maybe"])).toThrow(/no-new-privileges takes true or false/);
    expect(() => parseSecurityOpts(["seccomp="])).toThrow(/seccomp=unconfined or seccomp=PROFILE/);
    expect(() => parseSecurityOpts(["apparmor=x"])).toThrow(/unsupported --security-opt "apparmor=x"/);
  });
});
