import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attachEgress, chooseEgressStack, createNetns, PASTA_DNS, SLIRP_DNS, type EgressStack } from "../../../src/runtime/network/index.js";

/**
 * The network pieces on their own, with real namespaces, real pasta and real slirp4netns: what a
 * namespace can reach, DNS through the stack's relay, and that nothing outlives its owner.
 */
const root = process.getuid?.() === 0;
const has = (bin: string) => spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;
const tmp = mkdtempSync("/tmp/berth-egress-");
const dist = join(import.meta.dirname, "../../../dist/runtime/network/index.js");

/** Runs a shell command inside the namespace (nsenter): its output, or the failure's. */
function inNetns(path: string, script: string): { status: number | null; out: string } {
  const r = spawnSync("nsenter", [`--net=${path}`, "sh", "-c", script], { encoding: "utf8", timeout: 20_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** Whether a process is alive (and not a zombie). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

async function gone(pid: number, ms = 5000): Promise<boolean> {
  for (let t = 0; t < ms; t += 25) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !alive(pid);
}

describe.runIf(root)("a network namespace with user-space egress", () => {
  let listener: Server;
  let port = 0;
  beforeAll(async () => {
    // a service on the host's loopback only: no namespace of berth's may reach it
    listener = createServer((s) => s.end("host-loopback-secret\n"));
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", () => r()));
    port = (listener.address() as { port: number }).port;
  });
  afterAll(() => {
    listener?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("the holder is in a namespace of its own, with no capabilities, and ends when closed", async () => {
    const ns = await createNetns();
    try {
      expect(readFileSync(`/proc/${ns.pid}/status`, "utf8")).toMatch(/^CapEff:\s+0+$/m);
      expect(execFileSync("readlink", [ns.path], { encoding: "utf8" })).not.toBe(execFileSync("readlink", ["/proc/self/ns/net"], { encoding: "utf8" }));
      // nothing but loopback, and that down until a stack configures it
      expect(inNetns(ns.path, "ip -br link").out).toMatch(/^lo\s+DOWN\s+[^\n]*\n?$/);
    } finally {
      await ns.close();
    }
    expect(alive(ns.pid)).toBe(false);
  });

  for (const stack of ["pasta", "slirp4netns"] as EgressStack[]) {
    it.skipIf(!has(stack))(`${stack}: a default route, the host's resolver answers, the host's 127.0.0.1 unreachable; stop() ends it`, async () => {
      const ns = await createNetns();
      const egress = await attachEgress({ netns: ns.path, runDir: tmp, stack });
      try {
        expect(egress.stack).toBe(stack);
        expect(egress.nameserver).toBe(stack === "pasta" ? undefined : SLIRP_DNS);
        const routes = inNetns(ns.path, "ip route; ip -br addr");
        expect(routes.out).toMatch(/^default via /m);
        expect(routes.out).toMatch(/^lo\s+UNKNOWN\s+127\.0\.0\.1\/8/m);
        // the host's resolver answers in the namespace (nsenter keeps the host's resolv.conf)
        expect(inNetns(ns.path, "getent ahostsv4 deb.debian.org").out).toMatch(/^\d+\.\d+\.\d+\.\d+\s+STREAM deb\.debian\.org/m);
        // the host's loopback listener: not through 127.0.0.1 (pasta's -T auto would relay it),
        // nor slirp4netns's host alias 10.0.2.2 (pasta's gateway mapping is off by --no-map-gw,
        // not tried here: that connection would leave the machine)
        for (const addr of stack === "pasta" ? ["127.0.0.1"] : ["127.0.0.1", "10.0.2.2"]) {
          const r = inNetns(ns.path, `timeout 3 busybox nc ${addr} ${port} </dev/null; echo rc=$?`);
          expect(r.out, addr).not.toContain("host-loopback-secret");
        }
      } finally {
        await egress.stop();
        await ns.close();
      }
      expect(await gone(egress.pid)).toBe(true);
    }, 60_000);
  }

  for (const stack of ["pasta", "slirp4netns"] as EgressStack[]) {
    it.skipIf(!has(stack))(`${stack}: a DNS relay in the namespace answers for the host's resolver (hosts whose nameservers are loopback)`, async () => {
      const ns = await createNetns();
      const egress = await attachEgress({ netns: ns.path, runDir: tmp, stack, dnsRelay: true });
      try {
        expect(egress.nameserver).toBe(stack === "pasta" ? PASTA_DNS : SLIRP_DNS);
        const relay = inNetns(ns.path, `busybox nslookup deb.debian.org ${egress.nameserver ?? ""}`);
        expect(relay.out).toMatch(/Name:\s+deb\.debian\.org\s+Address:?\s+\d+\.\d+\.\d+\.\d+/);
      } finally {
        await egress.stop();
        await ns.close();
      }
    }, 60_000);
  }

  it("BERTH_NETWORK_STACK picks the stack; pasta where installed otherwise; a bad value is named", () => {
    expect(chooseEgressStack({ BERTH_NETWORK_STACK: "slirp4netns" })).toBe("slirp4netns");
    expect(chooseEgressStack({ BERTH_NETWORK_STACK: "pasta" })).toBe("pasta");
    expect(chooseEgressStack({})).toBe(has("pasta") ? "pasta" : "slirp4netns");
    expect(() => chooseEgressStack({ BERTH_NETWORK_STACK: "vde" })).toThrow(/BERTH_NETWORK_STACK=vde: want pasta or slirp4netns/);
  });

  for (const stack of ["pasta", "slirp4netns"] as EgressStack[]) {
    it.skipIf(!has(stack))(`${stack} and the holder die with their owner when it is SIGKILLed`, async () => {
      // an owner process of its own, killed with SIGKILL once the network is up
      // (the compiled modules: `npm run build` first, as the CLI tests)
      const script = join(tmp, `owner-${stack}.mjs`);
      writeFileSync(
        script,
        `import { attachEgress, createNetns } from ${JSON.stringify(dist)};\n` +
          `const ns = await createNetns();\nconst e = await attachEgress({ netns: ns.path, runDir: ${JSON.stringify(tmp)}, stack: ${JSON.stringify(stack)} });\n` +
          `process.stdout.write(JSON.stringify({ holder: ns.pid, stack: e.pid }) + "\\n");\nsetInterval(() => undefined, 1000);\n`,
      );
      const owner = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
      const pids = await new Promise<{ holder: number; stack: number }>((res, rej) => {
        owner.stdout.setEncoding("utf8").once("data", (d: string) => res(JSON.parse(d) as { holder: number; stack: number }));
        owner.once("exit", (c) => rej(new Error(`owner exited ${c}`)));
      });
      expect(alive(pids.holder)).toBe(true);
      expect(alive(pids.stack)).toBe(true);
      owner.kill("SIGKILL");
      expect(await gone(pids.stack)).toBe(true);
      expect(await gone(pids.holder)).toBe(true);
    }, 60_000);
  }
});
