import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRun, eventually, leftovers, makeHarness, networkState, type Harness } from "./harness.js";

/** The host's own interfaces: no bridge or veth of berth's may ever appear among them. */
function hostLinks(): string[] {
  return execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => (l.split(": ")[1] ?? "").split("@")[0] as string);
}

const HTTPD = (text: string) => ["sh", "-c", `mkdir -p /w && echo ${text} > /w/index.html && exec httpd -f -p 80 -h /w`];

interface InspectedNetworks {
  NetworkSettings: { IPAddress: string; Networks: Record<string, { Aliases: string[] | null; NetworkID: string; IPAddress: string; IPPrefixLen: number; Gateway: string }> };
}

/** `network connect|disconnect` on running and stopped containers, containers on several networks. */
describe.runIf(canRun)("berth network connect / disconnect", () => {
  let h: Harness;
  let linksBefore: string[];
  const s = String(process.pid);
  const na = `na${s}`;
  const nb = `nb${s}`;

  async function inspect(name: string): Promise<InspectedNetworks> {
    const r = await h.berth(["inspect", name]);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as InspectedNetworks[])[0] as InspectedNetworks;
  }
  async function sh(name: string, script: string): Promise<string> {
    const r = await h.berth(["exec", name, "sh", "-c", script]);
    return r.stdout;
  }

  beforeAll(async () => {
    h = await makeHarness("netconnect");
    linksBefore = hostLinks();
    expect((await h.berth(["network", "create", "--subnet", "10.131.0.0/24", na])).code).toBe(0);
    expect((await h.berth(["network", "create", "--subnet", "10.132.0.0/24", nb])).code).toBe(0);
  });
  afterAll(async () => {
    await h.berth(["rm", "-f", `a${s}`, `b${s}`, `dual${s}`, `late${s}`, `host${s}`, `none${s}`, `sh${s}`]);
    await h.berth(["network", "rm", na, nb]);
    await h.berth(["network", "prune", "-f"]);
    const state = networkState(h.runDir);
    await h.cleanup();
    expect(state.filter((l) => /pasta|slirp4netns|nsfs/.test(l))).toEqual([]);
    expect(leftovers(h)).toEqual({ mounts: [], processes: [], runcState: [] });
    expect(hostLinks()).toEqual(linksBefore);
  });

  it("a running container connected to a second network reaches its members by name, and stops reaching them once disconnected", async () => {
    expect((await h.berth(["run", "-d", "--name", `a${s}`, "--network", na, "busybox", ...HTTPD("hello-from-a")])).code).toBe(0);
    expect((await h.berth(["run", "-d", "--name", `b${s}`, "--network", nb, "busybox", ...HTTPD("hello-from-b")])).code).toBe(0);
    const dual = await h.berth(["run", "-d", "--name", `dual${s}`, "--network", na, "busybox", "sleep", "300"]);
    expect(dual.code, dual.stderr).toBe(0);
    const fetchBoth = `timeout 3 wget -q -O- http://a${s}/ 2>/dev/null; timeout 3 wget -q -O- http://b${s}/ 2>/dev/null; timeout 3 wget -q -O- http://bee/ 2>/dev/null; echo done`;
    // both servers up (a detached run returns once the process runs, before httpd listens)
    await eventually(async () => ((await sh(`a${s}`, "wget -q -O- http://127.0.0.1/")) === "hello-from-a\n" ? true : undefined));
    await eventually(async () => ((await sh(`b${s}`, "wget -q -O- http://127.0.0.1/")) === "hello-from-b\n" ? true : undefined));
    // before: only its own network's member
    expect(await sh(`dual${s}`, fetchBoth)).toBe("hello-from-a\ndone\n");

    const connect = await h.berth(["network", "connect", "--alias", "duo", nb, `dual${s}`]);
    expect(connect.code, connect.stderr).toBe(0);
    expect(connect.stdout).toBe("");
    // a second interface on nb's subnet; the default route stays on the first network
    const links = await sh(`dual${s}`, "ip -4 -o addr show | grep -o 'eth[0-9] *inet [0-9./]*'; ip route | grep default");
    expect(links).toMatch(/eth0 +inet 10\.131\.0\.3\/24/);
    expect(links).toMatch(/eth1 +inet 10\.132\.0\.3\/24/);
    expect(links).toMatch(/default via 10\.131\.0\.1 dev eth0/);
    // b's members reach it by name and alias, and it reaches b (an alias of b's comes later: none here)
    expect(await sh(`dual${s}`, fetchBoth)).toBe("hello-from-a\nhello-from-b\ndone\n");
    expect(await sh(`b${s}`, `cat /etc/hosts`)).toMatch(new RegExp(`10\\.132\\.0\\.3\\tdual${s} duo `));
    expect(await sh(`b${s}`, `ping -c1 -W2 duo | head -1`)).toContain("(10.132.0.3)");
    // the networks stay apart: a reaches neither b's name nor its address
    expect(await sh(`a${s}`, `grep -c b${s} /etc/hosts; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 10.132.0.2 80; echo rc=$?`)).not.toContain("hello-from-b");

    const info = await inspect(`dual${s}`);
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([na, nb]);
    expect(info.NetworkSettings.Networks[na]).toMatchObject({ IPAddress: "10.131.0.3", Gateway: "10.131.0.1", IPPrefixLen: 24, Aliases: null });
    expect(info.NetworkSettings.Networks[nb]).toMatchObject({ IPAddress: "10.132.0.3", Gateway: "10.132.0.1", IPPrefixLen: 24, Aliases: ["duo"] });
    expect(info.NetworkSettings.Networks[nb]?.NetworkID).toMatch(/^[0-9a-f]{64}$/);
    const [netInfo] = JSON.parse((await h.berth(["network", "inspect", nb])).stdout) as Array<{ Containers: Record<string, { Name: string; IPv4Address: string }> }>;
    expect(Object.values(netInfo?.Containers ?? {}).map((c) => `${c.Name} ${c.IPv4Address}`).sort()).toEqual([`b${s} 10.132.0.2/24`, `dual${s} 10.132.0.3/24`]);
    // nb is in use by the connected container too
    expect((await h.berth(["network", "rm", nb])).stderr).toMatch(/has active endpoints/);

    const disconnect = await h.berth(["network", "disconnect", nb, `dual${s}`]);
    expect(disconnect.code, disconnect.stderr).toBe(0);
    expect(await sh(`dual${s}`, "ls /sys/class/net")).toBe("eth0\nlo\n");
    expect(await sh(`dual${s}`, fetchBoth)).toBe("hello-from-a\ndone\n");
    expect(await sh(`dual${s}`, "cat /etc/hosts")).not.toContain(`b${s}`);
    expect(await sh(`b${s}`, "cat /etc/hosts")).not.toContain(`dual${s}`);
    expect(Object.keys((await inspect(`dual${s}`)).NetworkSettings.Networks)).toEqual([na]);
    // its address on nb is free again: the next container gets it
    const next = await h.berth(["run", "--rm", "--network", nb, "busybox", "sh", "-c", "ip -4 -o addr show eth0 | grep -o 'inet [0-9.]*'"]);
    expect(next.stdout).toBe("inet 10.132.0.3\n");
  }, 120_000);

  it("refuses what Docker refuses, with Docker's messages, exit code 1 and nothing changed", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["network", "connect", na, `dual${s}`], new RegExp(`^Error: endpoint with name dual${s} already exists in network ${na}\\n$`)],
      [["network", "disconnect", nb, `dual${s}`], new RegExp(`^Error: container [0-9a-f]{64} is not connected to network ${nb}\\n$`)],
      [["network", "connect", `nosuch${s}`, `dual${s}`], new RegExp(`^Error: network nosuch${s} not found\\n$`)],
      [["network", "connect", nb, `nosuch${s}`], new RegExp(`^Error: No such container: nosuch${s}\\n$`)],
      [["network", "connect", "host", `dual${s}`], /^Error: container cannot be disconnected from host network or connected to host network\n$/],
      [["network", "connect", "--alias", "x", "bridge", `dual${s}`], /network-scoped alias is supported only for containers in user defined networks/],
    ];
    for (const [args, message] of cases) {
      const r = await h.berth(args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toMatch(message);
    }
    expect((await h.berth(["run", "-d", "--name", `host${s}`, "--network", "host", "busybox", "sleep", "60"])).code).toBe(0);
    const onHost = await h.berth(["network", "connect", nb, `host${s}`]);
    expect(onHost.code).toBe(1);
    expect(onHost.stderr).toMatch(/container sharing network namespace with another container or host cannot be connected to any other network/);
    expect((await h.berth(["create", "--name", `none${s}`, "--network", "none", "busybox", "true"])).code).toBe(0);
    const onNone = await h.berth(["network", "connect", nb, `none${s}`]);
    expect(onNone.code).toBe(1);
    expect(onNone.stderr).toMatch(/container cannot be connected to multiple networks with one of the networks in private \(none\) mode/);
    // nothing changed
    expect(Object.keys((await inspect(`dual${s}`)).NetworkSettings.Networks)).toEqual([na]);
    expect(await sh(`dual${s}`, "ls /sys/class/net")).toBe("eth0\nlo\n");
    expect(Object.keys((await inspect(`none${s}`)).NetworkSettings.Networks)).toEqual(["none"]);
  }, 60_000);

  it("a stopped container connected to a second network gets both at its next start; a restart re-plugs them; disconnecting the first moves the default route", async () => {
    expect((await h.berth(["create", "--name", `late${s}`, "--network", nb, "busybox", "sleep", "300"])).code).toBe(0);
    const connect = await h.berth(["network", "connect", na, `late${s}`]);
    expect(connect.code, connect.stderr).toBe(0);
    expect(Object.keys((await inspect(`late${s}`)).NetworkSettings.Networks)).toEqual([nb, na]);
    expect((await h.berth(["start", `late${s}`])).code).toBe(0);
    const probe = `ip -4 -o addr show | grep -o 'eth[0-9] *inet [0-9.]*'; ip route | grep default; ping -c1 -W2 a${s} | head -1; ping -c1 -W2 b${s} | head -1`;
    const first = await sh(`late${s}`, probe);
    expect(first).toMatch(/eth0 +inet 10\.132\.0\.[0-9]+/);
    expect(first).toMatch(/eth1 +inet 10\.131\.0\.[0-9]+/);
    expect(first).toMatch(/default via 10\.132\.0\.1 dev eth0/);
    expect(first).toContain(`PING a${s} (10.131.0.2)`);
    expect(first).toContain(`PING b${s} (10.132.0.2)`);

    expect((await h.berth(["restart", "-t", "1", `late${s}`])).code).toBe(0);
    const again = await sh(`late${s}`, probe);
    expect(again).toMatch(/eth0 +inet 10\.132\.0\.[0-9]+/);
    expect(again).toMatch(/eth1 +inet 10\.131\.0\.[0-9]+/);
    expect(again).toContain(`PING a${s} (10.131.0.2)`);
    expect(await sh(`a${s}`, "cat /etc/hosts")).toContain(`late${s}`);

    // its first network leaves: the way out goes through the other one
    expect((await h.berth(["network", "disconnect", nb, `late${s}`])).code).toBe(0);
    const after = await sh(`late${s}`, "ls /sys/class/net; ip route | grep default; ping -c1 -W2 10.131.0.1 >/dev/null && echo gateway-answers");
    expect(after).toBe("eth1\nlo\ndefault via 10.131.0.1 dev eth1 \ngateway-answers\n");
    expect(await sh(`b${s}`, "cat /etc/hosts")).not.toContain(`late${s}`);
    expect((await h.berth(["rm", "-f", `late${s}`])).code).toBe(0);
    // its end frees its addresses and names on both networks
    expect(await sh(`a${s}`, "cat /etc/hosts")).not.toContain(`late${s}`);
  }, 120_000);

  it("the shell hook plugs containers in where berth-netplug is missing (BERTH_NO_NATIVE=1), at start and live", async () => {
    expect(existsSync(join(import.meta.dirname, "../../../native/build/Release/berth-netplug"))).toBe(true);
    const env = { BERTH_NO_NATIVE: "1" };
    const run = await h.berth(["run", "-d", "--name", `sh${s}`, "--network", na, "busybox", "sleep", "300"], { env });
    expect(run.code, run.stderr).toBe(0);
    const id = run.stdout.trim();
    const hook = (JSON.parse(readFileSync(join(h.root, "c", id, "config.json"), "utf8")) as { hooks: { createRuntime: Array<{ path: string }> } }).hooks.createRuntime[0];
    expect(hook?.path).toBe("/bin/sh");
    expect((await h.berth(["network", "connect", nb, `sh${s}`], { env })).code).toBe(0);
    const out = await sh(`sh${s}`, `ip -4 -o addr show | grep -o 'eth[0-9] *inet [0-9.]*'; ip route | grep default; ping -c1 -W2 a${s} | head -1; ping -c1 -W2 b${s} | head -1`);
    expect(out).toMatch(/eth0 +inet 10\.131\.0\.[0-9]+/);
    expect(out).toMatch(/eth1 +inet 10\.132\.0\.[0-9]+/);
    expect(out).toMatch(/default via 10\.131\.0\.1 dev eth0/);
    expect(out).toContain(`PING a${s} (10.131.0.2)`);
    expect(out).toContain(`PING b${s} (10.132.0.2)`);
    // and the helper where it is built (not in the fallback pass, BERTH_NO_NATIVE=1 for all)
    if (process.env.BERTH_NO_NATIVE !== "1") {
      const native = await h.berth(["run", "-d", "--network", na, "busybox", "sleep", "1"]);
      const nativeHook = (JSON.parse(readFileSync(join(h.root, "c", native.stdout.trim(), "config.json"), "utf8")) as { hooks: { createRuntime: Array<{ path: string }> } }).hooks.createRuntime[0];
      await h.berth(["rm", "-f", native.stdout.trim()]);
      expect(nativeHook?.path).toMatch(/berth-netplug$/);
    }
    // a container connected while it ran leaves both networks' hosts files when it goes
    expect(await sh(`b${s}`, "cat /etc/hosts")).toContain(`sh${s}`);
    expect((await h.berth(["rm", "-f", `sh${s}`])).code).toBe(0);
    expect(await sh(`b${s}`, "cat /etc/hosts")).not.toContain(`sh${s}`);
    expect(await sh(`a${s}`, "cat /etc/hosts")).not.toContain(`sh${s}`);
    const reuse = await h.berth(["run", "--rm", "--network", nb, "busybox", "sh", "-c", "ip -4 -o addr show eth0 | grep -o 'inet [0-9.]*'"]);
    expect(reuse.stdout).toBe("inet 10.132.0.3\n");
  }, 90_000);
});
