import { runRoot } from "../../../src/sys/run-root.js";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerResolvConf, readHostResolvConf } from "../../../src/runtime/network/index.js";
import { pruneSandboxes } from "../../../src/runtime/network/sandbox-pool.js";
import type { Store } from "../../../src/store/index.js";
import { hasBusybox } from "../../helpers/busybox.js";
import { BERTH, berthCli, runBuild, workspace, writeContext } from "./helpers.js";

/**
 * The build's network sandbox, with real runc, real pasta and real slirp4netns: what a RUN step
 * can reach on each network, the files and hostname it sees, that one build's steps share one
 * namespace, that the next build reuses it (the pool) and builds at once do not share one, and
 * that nothing of a build outlives it (a failed one, a SIGKILLed one): a throw-away sandbox
 * goes whole, a pooled one keeps only its stack.
 */
const has = (bin: string) => spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;

/** Processes that hold the network namespace `ns` ("net:[inode]"): in it, or with an fd on it (pasta, slirp4netns). */
function holdersOf(ns: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readlinkSync(`/proc/${p}/ns/net`) === ns) {
        out.push(Number(p));
        continue;
      }
      for (const fd of readdirSync(`/proc/${p}/fd`)) {
        if (readlinkSync(`/proc/${p}/fd/${fd}`) === ns) {
          out.push(Number(p));
          break;
        }
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

/** What still holds `ns` after up to `ms` (pid and command line each): [] once nothing does. */
async function noHolders(ns: string, ms = 5000): Promise<string[]> {
  let left = holdersOf(ns);
  for (let t = 0; t < ms && left.length > 0; t += 50) {
    await new Promise((r) => setTimeout(r, 50));
    left = holdersOf(ns);
  }
  return left.map((pid) => {
    try {
      return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ")}`;
    } catch {
      return `${pid}`;
    }
  });
}

/** The sandbox pool of this file's builds (the CLI's too, through BERTH_SANDBOX_POOL). */
const pool = join(runRoot(), `sandbox-test-net-${process.pid}`);

/** The pids of the pool's user-space stacks (pasta, slirp4netns). */
function poolStacks(): number[] {
  const out: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const args = readFileSync(`/proc/${p}/cmdline`, "utf8");
      if (/pasta|slirp4netns/.test(args) && args.includes(`${pool}/`) && alive(p)) out.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** What holds `ns` after up to `ms` besides the pool's stacks: [] once only they do. */
async function onlyTheStack(ns: string, ms = 5000): Promise<string[]> {
  const others = () => holdersOf(ns).filter((p) => !poolStacks().includes(p));
  let left = others();
  for (let t = 0; t < ms && left.length > 0; t += 50) {
    await new Promise((r) => setTimeout(r, 50));
    left = others();
  }
  return left.map((p) => `${p}`);
}

/** Whether a process exists and is not a zombie. */
function alive(pid: string): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** The network namespace a step printed with `readlink /proc/self/ns/net`. */
const nsIn = (log: string): string[] => [...log.matchAll(/net:\[\d+\]/g)].map((m) => m[0]);

describe.runIf(process.getuid?.() === 0 && hasBusybox() && has("pasta") && has("slirp4netns"))("the build's network sandbox", () => {
  let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
  let n = 0;
  const ctx = (files: Record<string, string>) => writeContext(join(ws.dir, `c${n++}`), files);
  let server: Server;
  let port = 0;
  const hostNs = readlinkSync("/proc/self/ns/net");
  const savedPool = process.env.BERTH_SANDBOX_POOL;
  beforeAll(async () => {
    process.env.BERTH_SANDBOX_POOL = pool;
    ws = await workspace("network");
    // a service on the host's loopback only
    server = createServer((_req, res) => res.end("host-loopback-secret\n"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as { port: number }).port;
  }, 60_000);
  afterAll(async () => {
    server?.close();
    ws?.cleanup();
    await pruneSandboxes(pool);
    spawnSync("umount", [pool]);
    rmSync(pool, { recursive: true, force: true });
    if (savedPool === undefined) delete process.env.BERTH_SANDBOX_POOL;
    else process.env.BERTH_SANDBOX_POOL = savedPool;
  });

  const probe = () => `timeout 5 wget -q -O- http://127.0.0.1:${port}/ 2>&1 || echo unreachable`;

  it("a step on the default network cannot reach the host's 127.0.0.1; with --network=host and --allow network.host it can", async () => {
    const r = await runBuild(ws, ctx({ Dockerfile: `FROM busybox\nRUN ${probe()}\n` }));
    expect(r.log).toContain("unreachable");
    expect(r.log).not.toContain("host-loopback-secret");
    const host = await runBuild(ws, ctx({ Dockerfile: `FROM busybox\nRUN --network=host ${probe()}\n` }), { allow: ["network.host"] });
    expect(host.log).toContain("host-loopback-secret");
    // the whole build on the host's network (berth build --network host): the same step as
    // RUN --network=host's, a cache hit of it; run again
    const all = await runBuild(ws, ctx({ Dockerfile: `FROM busybox\nRUN ${probe()}\n` }), { network: "host", allow: ["network.host"] });
    expect(all.cachedNames.length).toBe(1);
    const rerun = await runBuild(ws, ctx({ Dockerfile: `FROM busybox\nRUN ${probe()}\n` }), { network: "host", allow: ["network.host"], noCache: true });
    expect(rerun.log).toContain("host-loopback-secret");
  }, 90_000);

  it("--network=host without --allow network.host is refused, before any step runs, naming the line; so is berth build --network host", async () => {
    const df = `FROM busybox\nRUN echo first-step-ran\nRUN --network=host ${probe()}\n`;
    const err = await runBuild(ws, ctx({ Dockerfile: df })).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/network\.host is not allowed/);
    expect((err as Error & { line?: number }).line).toBe(3);
    const events = (err as { events?: { type: string; data?: string }[] }).events ?? [];
    expect(events.some((e) => e.type === "log" && (e.data ?? "").includes("first-step-ran"))).toBe(false);
    await expect(runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN true\n" }), { network: "host" })).rejects.toThrow(/network\.host is not allowed: --network host needs `berth build --allow network\.host`/);
    // the CLI says so too, and exits non-zero
    const root = join(ws.dir, "cli-store");
    berthCli(root, ["import", join("/tmp/berth-test-base", "busybox-rootfs.tar"), "busybox"]);
    const cli = berthCli(root, ["build", "--progress=plain", ctx({ Dockerfile: df })]);
    expect(cli.status).not.toBe(0);
    expect(cli.stderr).toMatch(/Dockerfile:3.*network\.host is not allowed/);
    expect(cli.stderr).toMatch(/--allow network\.host/);
    const flag = berthCli(root, ["build", "--network", "host", ctx({ Dockerfile: "FROM busybox\nRUN true\n" })]);
    expect(flag.status).not.toBe(0);
    expect(flag.stderr).toMatch(/network\.host is not allowed/);
    const allowed = berthCli(root, ["build", "-q", "--network", "host", "--allow", "network.host", ctx({ Dockerfile: `FROM busybox\nRUN ${probe()}\n` })]);
    expect(allowed.status, allowed.stderr).toBe(0);
    const bad = berthCli(root, ["build", "--network", "bridge", ctx({ Dockerfile: "FROM busybox\n" })]);
    expect(bad.status).toBe(125);
    expect(bad.stderr).toMatch(/--network: unsupported mode "bridge" \(want default, host or none\)/);
  }, 120_000);

  it("a step sees the hostname buildkitsandbox and BuildKit's hosts and resolv.conf, on every network", async () => {
    const show = "hostname; echo ---; cat /etc/hosts; echo ---; cat /etc/resolv.conf";
    const df = `FROM busybox\nRUN ${show}\nRUN --network=none ${show}\nRUN --network=host ${show}\n`;
    const r = await runBuild(ws, ctx({ Dockerfile: df }), { allow: ["network.host"] });
    const outputs = new Map<number, string>();
    for (const e of r.events) if (e.type === "log") outputs.set(e.id, (outputs.get(e.id) ?? "") + e.data);
    const [dflt, none, host] = [...outputs.values()];
    const hosts = "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    const hostText = readHostResolvConf() ?? "";
    expect(dflt).toBe(`buildkitsandbox\n---\n${hosts}---\n${containerResolvConf(hostText)}`);
    expect(none).toBe(`buildkitsandbox\n---\n${hosts}---\n${containerResolvConf(hostText)}`);
    expect(host).toBe(`buildkitsandbox\n---\n${hosts}---\n${containerResolvConf(readHostResolvConf({ hostNetwork: true }) ?? "", { hostNetwork: true })}`);
    // this machine's resolver is not loopback: the sandbox uses it as it is
    expect(dflt).toContain("nameserver ");
  }, 90_000);

  it("the RUN steps of one build share one namespace of their own; none has loopback only; the next build reuses it from the pool", async () => {
    const df = "FROM busybox\nRUN readlink /proc/self/ns/net\nRUN readlink /proc/self/ns/net; echo $(ls /sys/class/net)\nRUN --network=none readlink /proc/self/ns/net; echo $(ls /sys/class/net)\n";
    const c = ctx({ Dockerfile: df });
    const first = await runBuild(ws, c, { noCache: true });
    const [a, b, none] = nsIn(first.log);
    expect(a).toBe(b);
    expect(a).not.toBe(hostNs);
    expect(none).not.toBe(a);
    expect(first.log).toMatch(/^eth0 lo$/m);
    expect(first.log).toMatch(/^lo$/m);
    // between builds only the pool's pasta holds it: no step's process is left in it
    expect(await onlyTheStack(a!)).toEqual([]);
    const second = await runBuild(ws, c, { noCache: true });
    expect(nsIn(second.log)[0]).toBe(a);
  }, 90_000);

  it("builds at once get different sandboxes; a step with every capability has its sandbox taken down after the build; builder prune takes down idle ones", async () => {
    const df = "FROM busybox\nRUN readlink /proc/self/ns/net; sleep 1\n";
    const [x, y] = await Promise.all([runBuild(ws, ctx({ Dockerfile: df }), { noCache: true }), runBuild(ws, ctx({ Dockerfile: df }), { noCache: true })]);
    const [nx, ny] = [nsIn(x.log)[0], nsIn(y.log)[0]];
    expect(nx).toMatch(/^net:\[\d+\]$/);
    expect(ny).not.toBe(nx);
    // RUN --security=insecure could have changed the namespace's routes or firewall: its
    // sandbox is taken down (pasta and all; a namespace's inode number may come back later)
    const stacksBefore = poolStacks();
    const insecure = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN --security=insecure readlink /proc/self/ns/net\n" }), { noCache: true, allow: ["security.insecure"] });
    const tainted = nsIn(insecure.log)[0]!;
    expect(await noHolders(tainted)).toEqual([]);
    expect(poolStacks().length).toBe(stacksBefore.length - 1);
    const after = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN readlink /proc/self/ns/net\n" }), { noCache: true });
    expect(nsIn(after.log)[0]).toMatch(/^net:\[\d+\]$/);
    // berth builder prune: no namespace, no pasta left of the pool
    const root = join(ws.dir, "prune-store");
    berthCli(root, ["import", join("/tmp/berth-test-base", "busybox-rootfs.tar"), "busybox"]);
    const prune = berthCli(root, ["builder", "prune", "-f"], { env: { BERTH_SANDBOX_POOL: pool } });
    expect(prune.status, prune.stderr).toBe(0);
    for (const ns of [nx!, ny!, nsIn(after.log)[0]!]) expect(await noHolders(ns)).toEqual([]);
    expect(poolStacks()).toEqual([]);
  }, 90_000);

  it("a pooled sandbox whose pasta died is made again by the next build", async () => {
    await pruneSandboxes(pool);
    await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN readlink /proc/self/ns/net\n" }), { noCache: true });
    const stacks = poolStacks();
    expect(stacks.length).toBe(1);
    process.kill(stacks[0]!, "SIGKILL");
    const again = await runBuild(ws, ctx({ Dockerfile: `FROM busybox\nRUN readlink /proc/self/ns/net; wget -q -O- http://deb.debian.org/ >/dev/null 2>&1; ip route\n` }), { noCache: true });
    expect(again.log).toMatch(/^default via /m);
    const now = poolStacks();
    expect(now.length).toBe(1);
    expect(now[0]).not.toBe(stacks[0]);
  }, 90_000);

  it("a cached rebuild makes no sandbox; a build whose RUNs all have --network=none neither", async () => {
    const c = ctx({ Dockerfile: "FROM busybox\nRUN echo cached-step\n" });
    await runBuild(ws, c);
    // a stack that does not exist: any attempt to make the sandbox fails the build
    const bogus = { environment: { BERTH_NETWORK_STACK: "no-such-stack" } };
    const again = await runBuild(ws, c, bogus);
    expect(again.cachedNames.length).toBe(1);
    const none = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN --network=none echo ok\n" }), { ...bogus, noCache: true });
    expect(none.executedSteps).toBe(1);
    await expect(runBuild(ws, c, { ...bogus, noCache: true })).rejects.toThrow(/BERTH_NETWORK_STACK=no-such-stack: want pasta or slirp4netns/);
  }, 90_000);

  it("nothing holds a throw-away sandbox (BERTH_SANDBOX_POOL=off) after a build, nor after a failed one; a pooled one only its stack", async () => {
    for (const off of [true, false]) {
      const env = off ? { environment: { BERTH_SANDBOX_POOL: "off" } } : {};
      const left = off ? noHolders : onlyTheStack;
      const ok = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN readlink /proc/self/ns/net\n" }), { noCache: true, ...env });
      expect(await left(nsIn(ok.log)[0]!)).toEqual([]);
      const err = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN readlink /proc/self/ns/net\nRUN exit 3\n" }), { noCache: true, ...env }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/exit code: 3/);
      const log = ((err as { events?: { type: string; data?: string }[] }).events ?? []).map((e) => e.data ?? "").join("");
      const ns = nsIn(log)[0]!;
      expect(ns).toMatch(/^net:\[\d+\]$/);
      expect(await left(ns)).toEqual([]);
    }
  }, 90_000);

  it("kill -9 of berth build with a throw-away sandbox leaves no namespace holder and no pasta behind", async () => {
    const root = join(ws.dir, "kill-store");
    berthCli(root, ["import", join("/tmp/berth-test-base", "busybox-rootfs.tar"), "busybox"]);
    const c = ctx({ Dockerfile: "FROM busybox\nRUN readlink /proc/self/ns/net; sleep 2\n" });
    const child = spawn(process.execPath, [BERTH, "--root", root, "build", "--progress=plain", "--no-cache", c], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, BERTH_ROOT: "", BERTH_SANDBOX_POOL: "off" } });
    let out = "";
    const ns = await new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        const m = /net:\[\d+\]/.exec(out);
        if (m !== null) resolve(m[0]);
      });
      child.once("exit", () => reject(new Error(`berth build ended first: ${out}`)));
    });
    // berth's children now: the holder (cat, in the namespace) and pasta (an fd on it)
    const children = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ")[1] === String(child.pid);
      } catch {
        return false;
      }
    });
    const comm = (p: string) => readFileSync(`/proc/${p}/comm`, "utf8").trim();
    const holder = children.filter((p) => comm(p) === "cat" && readlinkSync(`/proc/${p}/ns/net`) === ns);
    const pasta = children.filter((p) => /^pas/.test(comm(p)));
    expect(holder.length).toBe(1);
    expect(pasta.length).toBe(1);
    child.kill("SIGKILL");
    // the holder and pasta go at once; the step's container with the build's watchdog
    for (const p of [...holder, ...pasta]) {
      for (let t = 0; t < 5000 && alive(p); t += 25) await new Promise((r) => setTimeout(r, 25));
      expect(alive(p), p).toBe(false);
    }
    expect(await noHolders(ns, 10_000)).toEqual([]);
  }, 90_000);

  it("kill -9 of berth build gives its pooled sandbox back: the step's process goes, the next build gets the same namespace", async () => {
    const root = join(ws.dir, "kill-pool-store");
    berthCli(root, ["import", join("/tmp/berth-test-base", "busybox-rootfs.tar"), "busybox"]);
    const c = ctx({ Dockerfile: "FROM busybox\nRUN readlink /proc/self/ns/net; sleep 20\n" });
    const child = spawn(process.execPath, [BERTH, "--root", root, "build", "--progress=plain", "--no-cache", c], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, BERTH_ROOT: "", BERTH_SANDBOX_POOL: pool } });
    let out = "";
    const ns = await new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        const m = /net:\[\d+\]/.exec(out);
        if (m !== null) resolve(m[0]);
      });
      child.once("exit", () => reject(new Error(`berth build ended first: ${out}`)));
    });
    child.kill("SIGKILL");
    // the build's watchdog kills the step (sleep 20) at once
    expect(await onlyTheStack(ns, 10_000)).toEqual([]);
    const next = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN readlink /proc/self/ns/net\n" }), { noCache: true });
    expect(nsIn(next.log)[0]).toBe(ns);
  }, 90_000);

  it("the slirp4netns fallback (BERTH_NETWORK_STACK=slirp4netns): DNS and the mirror's address work, the host's loopback does not", async () => {
    const env = { environment: { BERTH_NETWORK_STACK: "slirp4netns" } };
    const df = `FROM busybox\nRUN ip route; nslookup deb.debian.org >/dev/null && echo dns-ok; ${probe()}; timeout 5 wget -q -O- http://10.0.2.2:${port}/ 2>&1 || echo alias-unreachable\n`;
    const r = await runBuild(ws, ctx({ Dockerfile: df }), env);
    expect(r.log).toMatch(/^default via 10\.0\.2\.2 dev tap0/m);
    expect(r.log).toContain("dns-ok");
    expect(r.log).toContain("unreachable");
    expect(r.log).toContain("alias-unreachable");
    expect(r.log).not.toContain("host-loopback-secret");
    // and the CLI takes it from its environment
    const root = join(ws.dir, "slirp-store");
    berthCli(root, ["import", join("/tmp/berth-test-base", "busybox-rootfs.tar"), "busybox"]);
    const cli = berthCli(root, ["build", "--progress=plain", ctx({ Dockerfile: "FROM busybox\nRUN ip route\n" })], { env: { BERTH_NETWORK_STACK: "slirp4netns" } });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stderr).toMatch(/default via 10\.0\.2\.2 dev tap0/);
  }, 90_000);
});
