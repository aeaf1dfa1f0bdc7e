import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRun, eventually, leftovers, makeHarness, type Harness } from "./harness.js";

/** Commands and forms of Docker's primers: rename, port, version, info, `container ls`, `image rm`, and Docker-only names. */
describe.runIf(canRun)("the primer's commands", () => {
  let h: Harness;
  const s = String(process.pid);
  beforeAll(async () => {
    h = await makeHarness("primer");
  });
  afterAll(async () => {
    await h.berth(["rm", "-f", `web${s}`, `renamed${s}`, `peer${s}`, `other${s}`]);
    await h.berth(["network", "rm", `pnet${s}`]);
    await h.cleanup();
    expect(leftovers(h)).toEqual({ mounts: [], processes: [], runcState: [] });
  });

  it("port lists a running container's published ports, or one port's, as Docker prints them", async () => {
    const run = await h.berth(["run", "-d", "--name", `web${s}`, "-p", "127.0.0.1::80", "-p", "0:8080", "busybox", "sleep", "60"]);
    expect(run.code, run.stderr).toBe(0);
    const all = await h.berth(["port", `web${s}`]);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^80\/tcp -> 127\.0\.0\.1:[0-9]+\n8080\/tcp -> 0\.0\.0\.0:([0-9]+)\n8080\/tcp -> \[::\]:\1\n$/);
    const one = await h.berth(["port", `web${s}`, "80/tcp"]);
    expect(one.stdout).toMatch(/^127\.0\.0\.1:[0-9]+\n$/);
    const none = await h.berth(["port", `web${s}`, "81"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`No public port '81/tcp' published for web${s}`);
    // through Docker's management form too
    expect((await h.berth(["container", "port", `web${s}`, "80"])).stdout).toBe(one.stdout);
    await h.berth(["stop", "-t", "0", `web${s}`]);
    expect((await h.berth(["port", `web${s}`])).stdout).toBe("");
  });

  it("rename changes the name everywhere, and a container on a network is found by its new name", async () => {
    expect((await h.berth(["network", "create", `pnet${s}`])).code).toBe(0);
    expect((await h.berth(["run", "-d", "--name", `peer${s}`, "--network", `pnet${s}`, "busybox", "sleep", "60"])).code).toBe(0);
    expect((await h.berth(["run", "-d", "--name", `other${s}`, "--network", `pnet${s}`, "busybox", "sleep", "60"])).code).toBe(0);
    const taken = await h.berth(["rename", `other${s}`, `peer${s}`]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain(`Conflict. The container name "/peer${s}" is already in use`);
    const bad = await h.berth(["rename", `other${s}`, "no/slash"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("Invalid container name (no/slash)");
    expect((await h.berth(["rename", `other${s}`, `renamed${s}`])).code).toBe(0);
    expect((await h.berth(["ps", "--format", "{{.Names}}"])).stdout.split("\n")).toContain(`renamed${s}`);
    expect((await h.berth(["inspect", "--format", "{{.Name}}", `renamed${s}`])).stdout).toBe(`/renamed${s}\n`);
    const ping = await eventually(async () => {
      const r = await h.berth(["exec", `peer${s}`, "ping", "-c1", "-W2", `renamed${s}`]);
      return r.code === 0 ? r.stdout : undefined;
    });
    expect(ping).toContain(`PING renamed${s}`);
    // the name goes with the container: stopped and started again, it keeps it
    expect((await h.berth(["restart", "-t", "0", `renamed${s}`])).code).toBe(0);
    expect((await h.berth(["ps", "--format", "{{.Names}}"])).stdout.split("\n")).toContain(`renamed${s}`);
    expect((await h.berth(["container", "ls", "-a", "-q"])).stdout.split("\n").filter(Boolean).length).toBeGreaterThanOrEqual(2);
  });

  it("system df counts running containers and volumes, as Docker's", async () => {
    expect((await h.berth(["run", "-d", "--name", `dfrun${s}`, "-v", `dfvol${s}:/data`, "busybox", "sh", "-c", "head -c 100000 /dev/zero > /data/z; sleep 60"])).code).toBe(0);
    expect((await h.berth(["run", "--name", `dfdone${s}`, "busybox", "true"])).code).toBe(0);
    await eventually(async () => ((await h.berth(["exec", `dfrun${s}`, "test", "-s", "/data/z"])).code === 0 ? true : undefined));
    const df = (await h.berth(["system", "df"])).stdout;
    const row = (type: string) => df.split("\n").find((l) => l.startsWith(type))?.slice(type.length).trim().split(/\s{2,}/);
    const containers = row("Containers");
    expect(Number(containers?.[0])).toBeGreaterThanOrEqual(2);
    expect(Number(containers?.[1])).toBeGreaterThanOrEqual(1);
    const volumes = row("Local Volumes");
    expect(volumes?.slice(0, 2)).toEqual(["1", "1"]);
    expect(volumes?.[2]).toMatch(/^1\d\d(\.\d+)?kB$/);
    expect(volumes?.[3]).toBe("0B (0%)");
    await h.berth(["rm", "-f", "-v", `dfrun${s}`, `dfdone${s}`]);
  });

  it("volume prune takes unused anonymous volumes (-a: named ones too); system prune asks, then takes stopped containers and unused networks", async () => {
    const volumes = async () => (await h.berth(["volume", "ls", "-q"])).stdout.split("\n").filter((n) => n !== "");
    expect((await h.berth(["volume", "create", `named${s}`])).code).toBe(0);
    const before = await volumes();
    expect((await h.berth(["run", "--name", `anon${s}`, "-v", "/data", "busybox", "true"])).code).toBe(0);
    const anon = (await volumes()).filter((n) => !before.includes(n));
    expect(anon.length).toBeGreaterThanOrEqual(1);
    // still used by the stopped container: kept
    expect((await h.berth(["volume", "prune", "-f"])).stdout).toBe("Total reclaimed space: 0B\n");
    expect((await h.berth(["rm", `anon${s}`])).code).toBe(0);
    const pruned = await h.berth(["volume", "prune", "-f"]);
    expect(pruned.stdout).toContain("Deleted Volumes:\n");
    for (const n of anon) expect(pruned.stdout).toContain(`${n}\n`);
    expect((await h.berth(["volume", "ls", "-q"])).stdout).toContain(`named${s}`);
    expect((await h.berth(["volume", "prune", "-a", "-f"])).stdout).toContain(`named${s}\n`);
    expect((await h.berth(["volume", "ls", "-q"])).stdout).not.toContain(`named${s}`);

    expect((await h.berth(["run", "--name", `gone${s}`, "busybox", "true"])).code).toBe(0);
    expect((await h.berth(["network", "create", `unused${s}`])).code).toBe(0);
    const no = await h.berth(["system", "prune"], { input: "n\n" });
    expect(no.stdout).toContain("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n");
    expect((await h.berth(["ps", "-a", "--format", "{{.Names}}"])).stdout).toContain(`gone${s}`);
    const yes = await h.berth(["system", "prune", "-f"]);
    expect(yes.stdout).toContain("Deleted Containers:\n");
    expect(yes.stdout).toContain(`Deleted Networks:\n`);
    expect(yes.stdout).toContain(`unused${s}\n`);
    expect(yes.stdout).toMatch(/Total reclaimed space: /);
    expect((await h.berth(["ps", "-a", "--format", "{{.Names}}"])).stdout).not.toContain(`gone${s}`);
    // a running container and the image it runs stay
    expect((await h.berth(["images", "-q"])).stdout).not.toBe("");
  });

  it("ps -n/-l show the last created containers, whatever their state; -s adds their sizes", async () => {
    expect((await h.berth(["run", "--name", `first${s}`, "busybox", "true"])).code).toBe(0);
    expect((await h.berth(["run", "--name", `second${s}`, "busybox", "sh", "-c", "head -c 5000 /dev/zero > /five"])).code).toBe(0);
    expect((await h.berth(["ps", "-l", "--format", "{{.Names}}"])).stdout).toBe(`second${s}\n`);
    expect((await h.berth(["ps", "-n", "2", "--format", "{{.Names}}"])).stdout).toBe(`second${s}\nfirst${s}\n`);
    const sized = (await h.berth(["ps", "-l", "-s"])).stdout.split("\n");
    expect(sized[0]).toMatch(/\s+NAMES\s+SIZE$/);
    expect(sized[1]).toMatch(/second\d+\s+5(\.\d+)?kB \(virtual [0-9.]+MB\)$/);
    expect((await h.berth(["ps", "-n", "x"])).code).toBe(125);
    await h.berth(["rm", `first${s}`, `second${s}`]);
  });

  it("ps --format has Docker's fields (Labels, Mounts, LocalVolumes, Networks, and Size when asked for); an unknown field is an error", async () => {
    expect((await h.berth(["run", "-d", "--name", `fields${s}`, "-l", "tier=web", "-v", `fvol${s}:/v`, "-v", "/tmp:/h", "--network", "none", "busybox", "sh", "-c", "head -c 5000 /dev/zero > /five; sleep 60"])).code).toBe(0);
    const out = (await h.berth(["ps", "--filter", `name=fields${s}`, "--format", "{{.Labels}}|{{.Mounts}}|{{.LocalVolumes}}|{{.Networks}}|{{.Size}}"])).stdout;
    expect(out).toMatch(new RegExp(`^tier=web\\|fvol${s}(…)?,/tmp\\|1\\|none\\|[0-9.]+kB \\(virtual [0-9.]+MB\\)\n$`));
    const bad = await h.berth(["ps", "--format", "{{.Nope}}"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("can't evaluate field Nope");
    await h.berth(["rm", "-f", "-v", `fields${s}`]);
  });

  it("version and info answer with --format; image ls/rm and Docker-only commands say what they are", async () => {
    expect((await h.berth(["version", "--format", "{{.Client.Version}}"])).stdout).toBe("0.1.0\n");
    const info = JSON.parse((await h.berth(["info", "--format", "json"])).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ Mode: "rootful", StoreRoot: h.root, OSType: "linux", Driver: "overlay" });
    expect(info.Images).toBe(1);
    expect((await h.berth(["info"])).stdout).toContain(` Store Root: ${h.root}\n`);
    expect((await h.berth(["image", "ls", "--format", "{{.Repository}}"])).stdout).toBe("busybox\n");
    expect((await h.berth(["tag", "busybox", `extra${s}`])).code).toBe(0);
    expect((await h.berth(["image", "rm", `extra${s}`])).stdout).toBe(`Untagged: extra${s}:latest\n`);
    const swarm = await h.berth(["swarm", "init"]);
    expect(swarm.code).toBe(1);
    expect(swarm.stderr).toContain("berth: 'swarm' is not a berth command");
    expect(swarm.stderr).not.toContain("Did you mean");
  });
});
