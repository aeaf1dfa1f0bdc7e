import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRun, eventually, leftovers, makeHarness, type Harness } from "./harness.js";

function httpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: "/" }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.end();
  });
}

const HTTPD = (text: string, port: number) => ["sh", "-c", `mkdir -p /w && echo ${text} > /w/index.html && exec httpd -f -p ${port} -h /w`];

/** run/create flags as Docker's: -P/--expose, --restart, --mount; commit --change. */
describe.runIf(canRun)("run flags", () => {
  let h: Harness;
  const s = String(process.pid);
  beforeAll(async () => {
    h = await makeHarness("runflags");
  });
  afterAll(async () => {
    await h.cleanup();
    expect(leftovers(h)).toEqual({ mounts: [], processes: [], runcState: [] });
  });

  it("-P publishes the image's EXPOSEd ports and --expose's on free host ports; port and ps show them", async () => {
    const image = await h.image(`exposing${s}`, { ExposedPorts: { "80/tcp": {} } });
    const run = await h.berth(["run", "-d", "--name", `all${s}`, "-P", "--expose", "8080", image, ...HTTPD("exposed", 80)]);
    expect(run.code, run.stderr).toBe(0);
    const ports = (await h.berth(["port", `all${s}`])).stdout;
    const m = /^80\/tcp -> 0\.0\.0\.0:([0-9]+)\n80\/tcp -> \[::\]:\1\n8080\/tcp -> 0\.0\.0\.0:([0-9]+)\n8080\/tcp -> \[::\]:\2\n$/.exec(ports);
    expect(m, ports).not.toBeNull();
    expect(await eventually(() => httpGet("127.0.0.1", Number(m?.[1])).catch(() => undefined))).toBe("exposed\n");
    const ps = (await h.berth(["ps", "--filter", `name=all${s}`, "--format", "{{.Ports}}"])).stdout;
    expect(ps).toContain(`0.0.0.0:${m?.[1]}->80/tcp`);
    expect(ps).toContain(`0.0.0.0:${m?.[2]}->8080/tcp`);
    expect((await h.berth(["rm", "-f", `all${s}`])).code).toBe(0);
    // an explicit -p wins over -P for its port; without -P, EXPOSE publishes nothing
    const mixed = await h.berth(["run", "-d", "--name", `mixed${s}`, "-P", "-p", "127.0.0.1::80", image, "sleep", "30"]);
    expect(mixed.code, mixed.stderr).toBe(0);
    expect((await h.berth(["port", `mixed${s}`])).stdout).toMatch(/^80\/tcp -> 127\.0\.0\.1:[0-9]+\n$/);
    const plain = await h.berth(["run", "-d", "--name", `plain${s}`, image, "sleep", "30"]);
    expect(plain.code, plain.stderr).toBe(0);
    expect((await h.berth(["port", `plain${s}`])).stdout).toBe("");
    await h.berth(["rm", "-f", `mixed${s}`, `plain${s}`]);
    const bad = await h.berth(["run", "--rm", "--expose", "NaN/tcp", "busybox", "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain("invalid range format for --expose: invalid start port 'NaN': invalid syntax");
  }, 60_000);
});
