import { describe, expect, it } from "vitest";
import { buildSpec, capabilitySet, containerArgs, containerEnv, overlayOptions, parseEnvFile, INIT_PATH } from "../../../src/runtime/index.js";
import { DEFAULT_CAPABILITIES } from "../../../src/runtime/defaults.js";

describe("containerArgs (Docker's Entrypoint + Cmd rules)", () => {
  const cases: Array<[string, { Entrypoint?: string[] | null; Cmd?: string[] | null }, { entrypoint?: string; cmd?: string[] }, string[]]> = [
    ["image cmd", { Cmd: ["sh"] }, {}, ["sh"]],
    ["entrypoint + cmd", { Entrypoint: ["/ep"], Cmd: ["a"] }, {}, ["/ep", "a"]],
    ["cli cmd replaces image cmd", { Entrypoint: ["/ep"], Cmd: ["a"] }, { cmd: ["b", "c"] }, ["/ep", "b", "c"]],
    ["--entrypoint drops image cmd", { Entrypoint: ["/ep"], Cmd: ["a"] }, { entrypoint: "/other" }, ["/other"]],
    ["--entrypoint with cli cmd", { Cmd: ["a"] }, { entrypoint: "/other", cmd: ["x"] }, ["/other", "x"]],
    ["--entrypoint '' clears it", { Entrypoint: ["/ep"], Cmd: ["a"] }, { entrypoint: "", cmd: ["ls"] }, ["ls"]],
    ["null fields", { Entrypoint: null, Cmd: ["x"] }, {}, ["x"]],
  ];
  it.each(cases)("%s", (_name, config, overrides, expected) => {
    expect(containerArgs(config, overrides)).toEqual(expected);
  });
  it("refuses an empty command with exit code 125", () => {
    expect(() => containerArgs({}, {})).toThrow(/no command specified/);
  });
});

describe("containerEnv", () => {
  it("layers image env, overrides and defaults", () => {
    expect(
      containerEnv({ imageEnv: ["A=1", "B=2"], overrides: ["B=3", "C=4", "FROMHOST", "UNSET"], hostEnv: { FROMHOST: "h" }, hostname: "abc", home: "/root" }),
    ).toEqual(["HOSTNAME=abc", "A=1", "B=3", "C=4", "FROMHOST=h", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"]);
  });
  it("keeps the image's PATH and adds TERM for a terminal", () => {
    expect(containerEnv({ imageEnv: ["PATH=/x"], terminal: true })).toEqual(["PATH=/x", "TERM=xterm", "HOME=/"]);
  });
  it("parses env files and points at bad lines", () => {
    expect(parseEnvFile("# c\nA=1\n\nB\nC=x=y\n", "f")).toEqual(["A=1", "B", "C=x=y"]);
    expect(() => parseEnvFile("A=1\nBAD NAME=2\n", "vars.env")).toThrow("vars.env:2");
  });
});

describe("capabilitySet", () => {
  it("defaults to Docker's 14 capabilities", () => {
    expect(capabilitySet({})).toEqual(DEFAULT_CAPABILITIES);
    expect(capabilitySet({})).not.toContain("CAP_SYS_ADMIN");
  });
  it("adds and drops with or without the CAP_ prefix", () => {
    const caps = capabilitySet({ capAdd: ["sys_admin"], capDrop: ["CAP_CHOWN", "net_raw"] });
    expect(caps).toContain("CAP_SYS_ADMIN");
    expect(caps).not.toContain("CAP_CHOWN");
    expect(caps).not.toContain("CAP_NET_RAW");
  });
  it("drop ALL keeps only what is added", () => {
    expect(capabilitySet({ capDrop: ["ALL"], capAdd: ["KILL"] })).toEqual(["CAP_KILL"]);
  });
  it("rejects unknown capabilities", () => {
    expect(() => capabilitySet({ capAdd: ["NOPE"] })).toThrow(/unknown capability/);
  });
  it("privileged grants all", () => {
    expect(capabilitySet({ privileged: true })).toContain("CAP_SYS_ADMIN");
  });
});

describe("buildSpec", () => {
  const base = { rootfs: "rootfs", args: ["sh"], env: ["PATH=/bin"] };
  it("confines like Docker by default", () => {
    const spec = buildSpec(base);
    expect(spec.linux.maskedPaths).toContain("/proc/kcore");
    expect(spec.linux.readonlyPaths).toContain("/proc/sys");
    expect(spec.linux.resources?.devices?.[0]).toEqual({ allow: false, access: "rwm" });
    expect(spec.mounts.find((m) => m.destination === "/sys")?.options).toContain("ro");
    expect(spec.mounts.map((m) => m.destination)).toEqual(["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]);
    expect(spec.linux.namespaces.map((n) => n.type)).toContain("network");
    expect(spec.process.noNewPrivileges).toBe(false);
  });
  it("shares the host network namespace for host", () => {
    expect(buildSpec({ ...base, network: "host" }).linux.namespaces.map((n) => n.type)).not.toContain("network");
  });
  it("joins a network namespace by path (a build's sandbox); never with the host's network", () => {
    expect(buildSpec({ ...base, network: "private", netnsPath: "/proc/42/ns/net" }).linux.namespaces.filter((n) => n.type === "network")).toEqual([{ type: "network", path: "/proc/42/ns/net" }]);
    expect(() => buildSpec({ ...base, network: "host", netnsPath: "/proc/42/ns/net" })).toThrow(/cannot be joined with the host's network/);
  });
  it("sets the hostname in a UTS namespace of its own on every network (a build step on the host's is buildkitsandbox)", () => {
    const spec = buildSpec({ ...base, network: "host", hostname: "buildkitsandbox" });
    expect(spec.hostname).toBe("buildkitsandbox");
    expect(spec.linux.namespaces.map((n) => n.type)).toContain("uts");
  });
  it("privileged lifts masks and device rules", () => {
    const spec = buildSpec({ ...base, privileged: true });
    expect(spec.linux.maskedPaths).toBeUndefined();
    expect(spec.linux.resources?.devices).toEqual([{ allow: true, access: "rwm" }]);
  });
  it("maps limits, read-only root, binds, init", () => {
    const spec = buildSpec({
      ...base,
      resources: { memory: 64 * 1024 * 1024, cpus: 0.5, pidsLimit: 100 },
      readOnlyRootfs: true,
      noNewPrivileges: true,
      mounts: [{ type: "bind", source: "/h", destination: "/c", readOnly: true }],
      init: "/usr/bin/tini-static",
    });
    expect(spec.linux.resources?.memory).toEqual({ limit: 64 * 1024 * 1024 });
    expect(spec.linux.resources?.cpu).toEqual({ period: 100000, quota: 50000 });
    expect(spec.linux.resources?.pids).toEqual({ limit: 100 });
    expect(spec.root.readonly).toBe(true);
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.mounts).toContainEqual({ destination: "/c", type: "bind", source: "/h", options: ["rbind", "rprivate", "ro"] });
    expect(spec.process.args).toEqual([INIT_PATH, "--", "sh"]);
  });
});

describe("overlayOptions", () => {
  it("uses paths relative to the common parent", () => {
    const r = overlayOptions({ lowerDirs: ["/s/layers/b", "/s/layers/a"], upperDir: "/s/c/1/u", workDir: "/s/c/1/w" });
    expect(r).toEqual({ cwd: "/s", options: "lowerdir=layers/b:layers/a,upperdir=c/1/u,workdir=c/1/w" });
  });
  it("rejects separators inside paths and over-long option strings", () => {
    expect(() => overlayOptions({ lowerDirs: ["/a,b"], upperDir: "/u", workDir: "/w" })).toThrow(/','/);
    const many = Array.from({ length: 400 }, (_, i) => `/x${i}/very-long-layer-directory-name`);
    expect(() => overlayOptions({ lowerDirs: many, upperDir: "/u", workDir: "/w" })).toThrow(/limit/);
  });
});
