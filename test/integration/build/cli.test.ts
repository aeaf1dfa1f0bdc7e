import { runRoot } from "../../../src/sys/run-root.js";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { workspace, writeContext, BERTH, berthCli } from "./helpers.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
beforeAll(async () => {
  ws = await workspace("cli");
}, 60_000);
afterAll(() => ws?.cleanup());

function berth(args: string[], input?: string) {
  return berthCli(join(ws.dir, "store"), args, input !== undefined ? { input } : {});
}

describe("berth build (CLI)", () => {
  it("-q prints the ID; --iidfile writes it; -t tags; --progress=plain shows steps; -f - reads stdin", () => {
    const ctx = writeContext(join(ws.dir, "c1"), { Dockerfile: "FROM busybox\nRUN echo hi\n" });
    const q = berth(["build", "-q", "-t", "cli-test:1", "--iidfile", join(ws.dir, "iid"), ctx]);
    expect(q.status).toBe(0);
    expect(q.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    expect(readFileSync(join(ws.dir, "iid"), "utf8")).toBe(q.stdout.trim());
    const plain = berth(["build", "--progress=plain", ctx]);
    expect(plain.status).toBe(0);
    expect(plain.stderr).toContain("#2 [2/2] RUN echo hi\n#2 CACHED");
    const stdin = berth(["build", "--progress=plain", "-f", "-", ctx], "FROM busybox\nRUN echo from-stdin\n");
    expect(stdin.status).toBe(0);
    expect(stdin.stderr).toMatch(/#2 [\d.]+ from-stdin/);
  }, 60_000);

  it("a failing RUN exits non-zero with the output, the error and a code frame", () => {
    const ctx = writeContext(join(ws.dir, "c2"), { Dockerfile: "FROM busybox\nRUN echo before\nRUN echo broken-output && exit 7\n" });
    const r = berth(["build", "--progress=plain", ctx]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("broken-output");
    expect(r.stderr).toContain('ERROR: failed to solve: [3/3] RUN echo broken-output && exit 7: process "/bin/sh -c echo broken-output && exit 7" did not complete successfully: exit code: 7');
    expect(r.stderr).toContain(" 3 | >>> RUN echo broken-output && exit 7");
  }, 60_000);

  it("bad flags are usage errors (125); an unknown base image names it", () => {
    expect(berth(["build", "--network", "bridge", "."]).status).toBe(125);
    // an invalid -t is refused before anything is built (the step would print "ran")
    const tagged = berth(["build", "--progress=plain", "-t", "Bad:1", writeContext(join(ws.dir, "c-badtag"), { Dockerfile: "FROM busybox\nRUN echo ran\n" })]);
    expect(tagged.status).toBe(125);
    expect(tagged.stderr).toContain('invalid argument "Bad:1" for "-t, --tag" flag: invalid reference format: repository name must be lowercase');
    expect(tagged.stderr).not.toContain("ran");
    const ctx = writeContext(join(ws.dir, "c3"), { Dockerfile: "FROM nosuchimage:1\n" });
    const r = berth(["build", ctx]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("nosuchimage:1");
    // named once, the hint once (each error line)
    const line = r.stderr.split("\n").find((l) => l.startsWith("ERROR: failed to solve")) ?? "";
    expect(line.split("nosuchimage:1").length - 1, line).toBe(2); // "FROM nosuchimage:1: No such image: nosuchimage:1"
    expect(line.split("berth import it first").length - 1, line).toBe(1);
  }, 60_000);

  for (const when of [{ name: "while it runs", re: /#\d+ [\d.]+ started/, delay: 300 }, { name: "as it starts", re: /RUN echo started/, delay: 0 }]) {
    it(`Ctrl-C ${when.name} stops the step's container and leaves no mount behind`, async () => {
      const ctx = writeContext(join(ws.dir, `c4-${when.delay}`), { Dockerfile: `FROM busybox\nRUN echo started && sleep 60 # ${when.delay}\n` });
      const child = spawn(process.execPath, [BERTH, "--root", join(ws.dir, "store"), "build", "--progress=plain", ctx], { stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      child.stderr.on("data", (c: Buffer) => (err += c.toString()));
      const started = Date.now();
      await new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (when.re.test(err) || Date.now() - started > 20_000) {
            clearInterval(t);
            resolve();
          }
        }, 5);
      });
      await new Promise((r) => setTimeout(r, when.delay));
      child.kill("SIGINT");
      const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
      expect(code).not.toBe(0);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(`${runRoot()}/build/`);
      const ps = spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout;
      expect(ps).not.toContain(`sleep 60 # ${when.delay}`);
    }, 60_000);
  }

  it("a reader of its output that goes away (| head) stops the build as Ctrl-C does, leaving nothing behind", async () => {
    const ctx = writeContext(join(ws.dir, "c5"), { Dockerfile: "FROM busybox\nRUN echo started-epipe && sleep 60 # epipe\n" });
    const snapshots = () => readdirSync(join(ws.dir, "store", "s")).sort();
    const before = snapshots();
    const child = spawn(process.execPath, [BERTH, "--root", join(ws.dir, "store"), "build", "--progress=plain", ctx], { stdio: ["ignore", "pipe", "pipe"] });
    const started = Date.now();
    // read until the step runs, then close the pipe as `head` does when it has its lines
    await new Promise<void>((resolve) => {
      let err = "";
      child.stderr.on("data", (c: Buffer) => {
        err += c.toString();
        if (err.includes("started-epipe")) resolve();
      });
    });
    child.stderr.destroy();
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    expect(code).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(existsSync(join(runRoot(), "build")) ? readdirSync(join(runRoot(), "build")).filter((d) => d.startsWith(`${child.pid}-`)) : []).toEqual([]);
    expect(snapshots()).toEqual(before);
    const ps = spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout;
    expect(ps).not.toContain("sleep 60 # epipe");
  }, 60_000);

  it("a build that runs containers sweeps the state dirs of killed builds, and only theirs", async () => {
    const dead = spawnSync("true").pid as number; // a pid that is gone
    const root = join(runRoot(), "build");
    const killedWithLock = join(root, `${dead}-0000aa01`);
    const killedOld = join(root, `${dead}-0000aa02`); // an older berth's: no lock file
    const running = join(root, `${dead}-0000aa03`); // its lock is held (by a flock(1) here)
    for (const d of [killedWithLock, killedOld, running]) {
      mkdirSync(join(d, "b", "t000000000001", "rootfs"), { recursive: true });
      writeFileSync(join(d, "b", "t000000000001", "config.json"), "{}");
      mkdirSync(join(d, "runc"), { recursive: true });
    }
    writeFileSync(join(killedWithLock, "lock"), "");
    writeFileSync(join(running, "lock"), "");
    const holder = spawn("flock", ["-x", join(running, "lock"), "sleep", "60"], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const ctx = writeContext(join(ws.dir, "c6"), { Dockerfile: "FROM busybox\nRUN echo sweep > /s\n" });
      const r = berth(["build", "-q", "--no-cache", ctx]);
      expect(r.status).toBe(0);
      expect(existsSync(killedWithLock)).toBe(false);
      expect(existsSync(killedOld)).toBe(false);
      expect(existsSync(running)).toBe(true);
    } finally {
      holder.kill();
      spawnSync("rm", ["-rf", running]);
    }
  }, 60_000);
});
