import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BERTH, canRun, leftovers, makeHarness, type Harness } from "./harness.js";

/** An interactive shell through a pseudo-terminal: util-linux `script` gives berth a real tty. */
describe.runIf(canRun)("berth run -it", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await makeHarness("tty");
  });
  afterAll(async () => {
    await h.cleanup();
    expect(leftovers(h)).toEqual({ mounts: [], processes: [], runcState: [] });
  });

  function inTerminal(command: string, input: string): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      const child = execFile("script", ["-q", "-e", "-c", command, "/dev/null"], { env: { ...process.env, BERTH_ROOT: h.root }, timeout: 30_000 }, (err, stdout) => {
        resolve({ code: err === null ? 0 : Number((err as unknown as { code: number }).code), out: stdout });
      });
      child.stdin?.end(input);
    });
  }

  it("gives a working interactive shell with a terminal", async () => {
    const r = await inTerminal(`${BERTH} run -it --rm busybox sh`, "tty; echo TERM=$TERM; exit 5\n");
    expect(r.out).toMatch(/\/dev\/pts\/\d+/);
    expect(r.out).toContain("TERM=xterm");
    expect(r.code).toBe(5);
  });

  it("refuses -t without a terminal", async () => {
    const r = await h.berth(["run", "-t", "--rm", "busybox", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/not a TTY/);
  });

  it("exec -it into a running container", async () => {
    await h.berth(["run", "-d", "--name", "ttybox", "busybox", "sleep", "60"]);
    const r = await inTerminal(`${BERTH} exec -it ttybox sh`, "tty; exit 0\n");
    expect(r.out).toMatch(/\/dev\/pts\/\d+/);
    await h.berth(["rm", "-f", "ttybox"]);
  });
});
