import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultCgroupns } from "../../../src/runtime/defaults.js";
import { canRun, leftovers, makeHarness, type Harness } from "./harness.js";

/**
 * Seccomp and security options with real runc and the kernel's real seccomp: Docker's default
 * profile in every container, and the ways out of it (seccomp=unconfined, --privileged, a
 * profile file); the cgroup namespace.
 */
describe.runIf(canRun)("seccomp and security options", () => {
  let h: Harness;
  let dir: string;
  const status = "grep Seccomp: /proc/self/status";
  // busybox's unshare -U: unshare(CLONE_NEWUSER), which Docker's profile refuses without CAP_SYS_ADMIN
  const userns = "unshare -U true && echo userns-ok";
  beforeAll(async () => {
    h = await makeHarness("seccomp");
    dir = mkdtempSync("/tmp/berth-rt-seccomp-files-");
    writeFileSync(join(dir, "nomkdir.json"), JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }] }, null, 2));
    writeFileSync(join(dir, "broken.json"), '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [');
    writeFileSync(join(dir, "badaction.json"), '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_SOMETIMES"}]}');
  });
  afterAll(async () => {
    await h.cleanup();
    rmSync(dir, { recursive: true, force: true });
    expect(leftovers(h)).toEqual({ mounts: [], processes: [], runcState: [] });
  });

  it("filters every container with Docker's default profile: unshare(CLONE_NEWUSER) fails with EPERM", async () => {
    const r = await h.berth(["run", "--rm", "busybox", "sh", "-c", `${status}; ${userns}`]);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(r.stdout).not.toContain("userns-ok");
    expect(r.stderr).toMatch(/unshare.*Operation not permitted/);
    // what the profile allows still works
    const ok = await h.berth(["run", "--rm", "busybox", "sh", "-c", "mkdir /tmp/x && chroot / true && echo fine"]);
    expect(ok.stdout, ok.stderr).toBe("fine\n");
  });

  it("seccomp=unconfined and --privileged lift the filter", async () => {
    for (const flags of [["--security-opt", "seccomp=unconfined"], ["--security-opt", "seccomp:unconfined"], ["--privileged"]]) {
      const r = await h.berth(["run", "--rm", ...flags, "busybox", "sh", "-c", `${status}; ${userns}`]);
      expect(r.stdout, `${flags.join(" ")}: ${r.stderr}`).toMatch(/^Seccomp:\s+0$/m);
      expect(r.stdout).toContain("userns-ok");
    }
    // a capability the profile keys on opens its syscalls, as in Docker
    const admin = await h.berth(["run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", `${status}; ${userns}`]);
    expect(admin.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(admin.stdout).toContain("userns-ok");
  });

  it("a profile file replaces the default: one that blocks mkdir blocks only mkdir", async () => {
    const r = await h.berth(["run", "--rm", "--security-opt", `seccomp=${join(dir, "nomkdir.json")}`, "busybox", "sh", "-c", `${status}; mkdir /tmp/d || echo mkdir-refused; ${userns}`]);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(r.stdout).toContain("mkdir-refused");
    expect(r.stderr).toMatch(/mkdir.*Operation not permitted/);
    expect(r.stdout).toContain("userns-ok");
  });

  it("a bad profile file fails with exit 125, names the file and leaves no container", async () => {
    const cases: Array<[string, RegExp]> = [
      [join(dir, "missing.json"), /opening seccomp profile \(.*missing\.json\) failed/],
      [join(dir, "broken.json"), /Decoding seccomp profile \(.*broken\.json\) failed/],
      [join(dir, "badaction.json"), /badaction\.json.*unknown action "SCMP_ACT_SOMETIMES"/],
    ];
    for (const [file, message] of cases) {
      for (const cmd of ["run", "create"]) {
        const r = await h.berth([cmd, ...(cmd === "run" ? ["--rm"] : []), "--security-opt", `seccomp=${file}`, "busybox", "true"]);
        expect(r.code, `${cmd} ${file}`).toBe(125);
        expect(r.stderr).toMatch(message);
      }
    }
    const bad = await h.berth(["run", "--rm", "--security-opt", "apparmor=unconfined", "busybox", "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/unsupported --security-opt "apparmor=unconfined"/);
    expect((await h.berth(["ps", "-a", "-q"])).stdout).toBe("");
  });

  it("create/start keeps the profile (not the file); inspect shows SecurityOpt as Docker's HostConfig", async () => {
    const file = join(dir, "copy.json");
    writeFileSync(file, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }] }, null, 2));
    const c = await h.berth(["create", "--name", "keeps", "--security-opt", `seccomp=${file}`, "--security-opt", "no-new-privileges", "busybox", "sh", "-c", "mkdir /tmp/d || echo refused"]);
    expect(c.code, c.stderr).toBe(0);
    rmSync(file); // the container holds the profile itself, as Docker's
    const start = await h.berth(["start", "-a", "keeps"]);
    expect(start.stdout, start.stderr).toBe("refused\n");
    const inspect = JSON.parse((await h.berth(["inspect", "keeps"])).stdout) as Array<{ HostConfig: { SecurityOpt: string[] | null; CgroupnsMode: string } }>;
    expect(inspect[0]?.HostConfig.SecurityOpt).toEqual([
      'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}',
      "no-new-privileges",
    ]);
    await h.berth(["rm", "keeps"]);
    await h.berth(["create", "--name", "plain", "busybox", "true"]);
    const plain = JSON.parse((await h.berth(["inspect", "plain"])).stdout) as Array<{ HostConfig: { SecurityOpt: string[] | null } }>;
    expect(plain[0]?.HostConfig.SecurityOpt).toBeNull();
    await h.berth(["rm", "plain"]);
  });

  it("an exec'd process is filtered as the container is", async () => {
    const id = (await h.berth(["run", "-d", "busybox", "sleep", "30"])).stdout.trim();
    try {
      const r = await h.berth(["exec", id, "sh", "-c", `${status}; ${userns}`]);
      expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
      expect(r.stdout).not.toContain("userns-ok");
      expect(r.stderr).toMatch(/Operation not permitted/);
    } finally {
      await h.berth(["rm", "-f", id]);
    }
    const free = (await h.berth(["run", "-d", "--security-opt", "seccomp=unconfined", "busybox", "sleep", "30"])).stdout.trim();
    try {
      const r = await h.berth(["exec", free, "sh", "-c", status]);
      expect(r.stdout).toMatch(/^Seccomp:\s+0$/m);
    } finally {
      await h.berth(["rm", "-f", free]);
    }
  });

  it("--cgroupns: private gives the container its own cgroup namespace, host shares this one; the default is Docker's", async () => {
    const hostNs = readlinkSync("/proc/self/ns/cgroup");
    const priv = await h.berth(["run", "--rm", "--cgroupns", "private", "busybox", "sh", "-c", "readlink /proc/self/ns/cgroup; cat /proc/self/cgroup"]);
    expect(priv.code, priv.stderr).toBe(0);
    const [privNs, ...privCgroups] = priv.stdout.trim().split("\n");
    expect(privNs).not.toBe(hostNs);
    // inside its own namespace the container's cgroups are its roots
    for (const line of privCgroups) expect(line).toMatch(/:\/$/);
    const host = await h.berth(["run", "--rm", "--cgroupns", "host", "busybox", "readlink", "/proc/self/ns/cgroup"]);
    expect(host.stdout.trim()).toBe(hostNs);
    const dflt = await h.berth(["run", "--rm", "busybox", "readlink", "/proc/self/ns/cgroup"]);
    if (defaultCgroupns() === "host") expect(dflt.stdout.trim()).toBe(hostNs);
    else expect(dflt.stdout.trim()).not.toBe(hostNs);
    const bad = await h.berth(["run", "--rm", "--cgroupns", "shared", "busybox", "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/--cgroupns "shared"/);
  });
});
