import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRun, httpGet, eventually, leftovers, makeHarness, type Harness } from "./harness.js";

interface PsRow { ID: string; Names: string; State: string; ExitCode?: number; Status: string; Ports: string }

/** Detached containers: supervisor, logs, exec, ports, stop/kill/rm, diff/commit/cp, crash truth. */
describe.runIf(canRun)("detached containers", () => {
  let h: Harness;
  let hostDir: string;
  const port = 20000 + (process.pid % 20000);
  const ps = async (): Promise<PsRow[]> =>
    (await h.berth(["ps", "-a", "--format", "json"])).stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as PsRow);

  beforeAll(async () => {
    h = await makeHarness("detached");
    hostDir = mkdtempSync("/tmp/berth-rt-det-host-");
  });
  afterAll(async () => {
    await h.cleanup();
    rmSync(hostDir, { recursive: true, force: true });
    expect(leftovers(h)).toEqual({ mounts: [], processes: [], runcState: [] });
  });

  it("publishes a busybox httpd with -p, reachable at 127.0.0.1", async () => {
    const run = await h.berth(["run", "-d", "--name", "web", "-p", `127.0.0.1:${port}:80`, "busybox", "sh", "-c", "mkdir -p /www && echo hello from httpd > /www/index.html && exec httpd -f -p 80 -h /www"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const body = await eventually(async () => httpGet("127.0.0.1", port, "/index.html").catch(() => undefined));
    expect(body).toBe("hello from httpd\n");
    const row = (await ps()).find((r) => r.Names === "web");
    expect(row).toMatchObject({ State: "running", Ports: `127.0.0.1:${port}->80/tcp` });
    const busy = await h.berth(["run", "-d", "-p", `127.0.0.1:${port}:80`, "busybox", "sleep", "5"]);
    expect(busy.code).toBe(125);
    expect(busy.stderr).toMatch(/port is already allocated/);
    expect((await h.berth(["rm", "-f", "web"])).code).toBe(0);
    await expect(httpGet("127.0.0.1", port)).rejects.toThrow();
  });

  it("logs -f follows output until the container exits; --tail and -t", async () => {
    await h.berth(["run", "-d", "--name", "talker", "busybox", "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done; echo err >&2"]);
    const follow = await h.berth(["logs", "-f", "talker"]);
    expect(follow.stdout).toBe("line 1\nline 2\nline 3\n");
    expect(follow.stderr).toBe("err\n");
    expect((await h.berth(["logs", "--tail", "1", "talker"])).stdout).toBe("");
    expect((await h.berth(["logs", "--tail", "2", "talker"])).stdout).toBe("line 3\n");
    expect((await h.berth(["logs", "-t", "talker"])).stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z line 1\n/);
    expect((await h.berth(["wait", "talker"])).stdout).toBe("0\n");
  });

  it("exec runs in the container with its env and flags; exit codes pass through", async () => {
    await h.berth(["run", "-d", "--name", "box", "-e", "FOO=bar", "busybox", "sleep", "60"]);
    expect((await h.berth(["exec", "box", "sh", "-c", "echo $FOO; cat /proc/1/cmdline | tr '\\0' ' '"])).stdout).toBe("bar\nsleep 60 ");
    expect((await h.berth(["exec", "-e", "FOO=baz", "-w", "/tmp", "-u", "app", "box", "sh", "-c", "echo $FOO; pwd; id -un"])).stdout).toBe("baz\n/tmp\napp\n");
    expect((await h.berth(["exec", "box", "sh", "-c", "exit 3"])).code).toBe(3);
    expect((await h.berth(["exec", "box", "nosuch"])).code).toBe(127);
    expect((await h.berth(["exec", "nosuchcontainer", "true"])).code).not.toBe(0);
  });

  it("stop sends the image's STOPSIGNAL, then SIGKILL after the grace period", async () => {
    await h.image("stopper:1", { StopSignal: "SIGUSR1" });
    await h.berth(["run", "-d", "--name", "polite", "stopper:1", "sh", "-c", "trap 'echo got USR1; exit 3' USR1; while true; do sleep 0.1; done"]);
    await new Promise((r) => setTimeout(r, 300));
    expect((await h.berth(["stop", "polite"])).code).toBe(0);
    expect((await ps()).find((r) => r.Names === "polite")).toMatchObject({ State: "exited", ExitCode: 3 });
    expect((await h.berth(["logs", "polite"])).stdout).toBe("got USR1\n");

    await h.berth(["run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await h.berth(["stop", "-t", "1", "stubborn"]);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(5000);
    expect((await ps()).find((r) => r.Names === "stubborn")).toMatchObject({ State: "exited", ExitCode: 137 });
  });

  it("kill -s, start, restart and rm", async () => {
    // tini forwards TERM to sleep (sleep as pid 1 would ignore it)
    await h.berth(["run", "-d", "--name", "kk", "--init", "busybox", "sleep", "60"]);
    expect((await h.berth(["kill", "-s", "TERM", "kk"])).code).toBe(0);
    expect((await h.berth(["wait", "kk"])).stdout).toBe("143\n");
    expect((await h.berth(["kill", "kk"])).code).toBe(1);
    expect((await h.berth(["start", "kk"])).code).toBe(0);
    expect((await ps()).find((r) => r.Names === "kk")?.State).toBe("running");
    expect((await h.berth(["restart", "-t", "0", "kk"])).code).toBe(0);
    expect((await ps()).find((r) => r.Names === "kk")?.State).toBe("running");
    const refuse = await h.berth(["rm", "kk"]);
    expect(refuse.code).toBe(1);
    expect(refuse.stderr).toMatch(/cannot remove a running container/);
    expect((await h.berth(["rm", "-f", "kk"])).code).toBe(0);
    expect((await ps()).find((r) => r.Names === "kk")).toBeUndefined();
    const attached = await h.berth(["create", "--name", "later", "busybox", "sh", "-c", "echo attached; exit 2"]);
    expect(attached.code).toBe(0);
    const start = await h.berth(["start", "-a", "later"]);
    expect(start).toMatchObject({ code: 2, stdout: "attached\n" });
  });

  it("ps tells the truth when the supervisor is SIGKILLed; rm -f cleans up", async () => {
    const id = (await h.berth(["run", "-d", "--name", "orphan", "busybox", "sleep", "2"])).stdout.trim();
    const dir = join(h.root, "c", id);
    const record = JSON.parse(readFileSync(join(dir, "record.json"), "utf8")) as { supervisor: { pid: number } };
    process.kill(record.supervisor.pid, "SIGKILL");
    expect((await ps()).find((r) => r.Names === "orphan")?.State).toBe("running");
    const exited = await eventually(async () => ((await ps()).find((r) => r.Names === "orphan")?.State === "exited" ? true : undefined), 10_000);
    expect(exited).toBe(true);
    expect((await h.berth(["rm", "-f", "orphan"])).code).toBe(0);
    const again = (await h.berth(["run", "-d", "--name", "orphan2", "busybox", "sleep", "60"])).stdout.trim();
    const rec2 = JSON.parse(readFileSync(join(h.root, "c", again, "record.json"), "utf8")) as { supervisor: { pid: number } };
    process.kill(rec2.supervisor.pid, "SIGKILL");
    expect((await h.berth(["rm", "-f", "orphan2"])).code).toBe(0);
  });

  const exitCodeOf = async (name: string): Promise<number | undefined> =>
    (JSON.parse((await h.berth(["inspect", name])).stdout) as Array<{ State: { ExitCode: number } }>)[0]?.State.ExitCode;

  it("ps tells the truth when a foreground berth run is SIGKILLed, with the container's own exit code", async () => {
    const cli = h.spawnBerth(["run", "--name", "fgkill", "busybox", "sh", "-c", "sleep 1.5; exit 7"]);
    const exited = new Promise((r) => cli.once("exit", r)); // listen before anything can end it
    await eventually(async () => ((await ps()).find((r) => r.Names === "fgkill")?.State === "running" ? true : undefined));
    cli.kill("SIGKILL");
    await exited;
    expect((await ps()).find((r) => r.Names === "fgkill")?.State).toBe("running");
    await eventually(async () => ((await ps()).find((r) => r.Names === "fgkill")?.State === "exited" ? true : undefined), 10_000);
    expect(await exitCodeOf("fgkill")).toBe(7); // not 255: the code reached the chain's shell
    expect((await h.berth(["rm", "-f", "fgkill"])).code).toBe(0);
  });

  it("a SIGKILLed foreground berth run --rm: the container runs to its end, then is removed", async () => {
    const cli = h.spawnBerth(["run", "--rm", "--name", "fgrm", "busybox", "sh", "-c", "sleep 1.5; exit 3"]);
    const exited = new Promise((r) => cli.once("exit", r));
    await eventually(async () => ((await ps()).find((r) => r.Names === "fgrm")?.State === "running" ? true : undefined));
    const id = (JSON.parse((await h.berth(["inspect", "fgrm"])).stdout) as Array<{ Id: string }>)[0]!.Id;
    cli.kill("SIGKILL");
    await exited;
    expect((await ps()).find((r) => r.Names === "fgrm")?.State).toBe("running"); // as Docker's: the client's death does not stop it
    await eventually(async () => ((await h.berth(["ps", "-a", "-q", "--no-trunc"])).stdout.includes(id) ? undefined : true), 10_000);
    expect(existsSync(join(h.root, "c", id))).toBe(false);
    const left = leftovers(h);
    expect({ mounts: left.mounts.filter((m) => m.includes(id)), processes: left.processes.filter((p) => p.includes(id)), runcState: left.runcState.filter((r) => r === id) }).toEqual({ mounts: [], processes: [], runcState: [] });
  });

  it("a SIGKILLed supervisor: the container's exit code is still recorded", async () => {
    const id = (await h.berth(["run", "-d", "--name", "supkill", "busybox", "sh", "-c", "sleep 1; exit 5"])).stdout.trim();
    const record = JSON.parse(readFileSync(join(h.root, "c", id, "record.json"), "utf8")) as { supervisor: { pid: number } };
    process.kill(record.supervisor.pid, "SIGKILL");
    await eventually(async () => ((await ps()).find((r) => r.Names === "supkill")?.State === "exited" ? true : undefined), 10_000);
    expect(await exitCodeOf("supkill")).toBe(5);
    expect((await h.berth(["rm", "supkill"])).code).toBe(0);
  });

  it("diff lists A/C/D from the upper dir; commit makes an image with the changes and a history entry", async () => {
    await h.berth(["run", "--name", "changer", "busybox", "sh", "-c", "echo new > /added.txt; rm /etc/group; echo x >> /etc/passwd; mkdir /root/sub && echo f > /root/sub/f"]);
    const diff = await h.berth(["diff", "changer"]);
    expect(diff.stdout).toBe("A /added.txt\nC /etc\nD /etc/group\nC /etc/passwd\nC /root\nA /root/sub\nA /root/sub/f\n");
    const commit = await h.berth(["commit", "-m", "my change", "changer", "changed:1"]);
    expect(commit.code, commit.stderr).toBe(0);
    const r = await h.berth(["run", "--rm", "changed:1", "sh", "-c", "cat /added.txt; test -e /etc/group || echo no-group; cat /root/sub/f"]);
    expect(r.stdout).toBe("new\nno-group\nf\n");
    // `berth inspect` tries containers, then images
    const inspect = JSON.parse((await h.berth(["inspect", "changer"])).stdout) as Array<{ Name: string }>;
    expect(inspect[0]?.Name).toBe("/changer");
    const image = JSON.parse((await h.berth(["inspect", "changed:1"])).stdout) as Array<{ RepoTags: string[] }>;
    expect(image[0]?.RepoTags).toContain("changed:1");
    const history = await h.berth(["history", "changed:1"]);
    expect(history.stdout).toContain("my change");
  });

  it("cp copies into and out of a container", async () => {
    writeFileSync(join(hostDir, "in.txt"), "into the container\n");
    await h.berth(["create", "--name", "cpbox", "busybox", "true"]);
    expect((await h.berth(["cp", join(hostDir, "in.txt"), "cpbox:/tmp/in.txt"])).code).toBe(0);
    expect((await h.berth(["cp", "cpbox:/etc/passwd", join(hostDir, "passwd")])).code).toBe(0);
    expect(readFileSync(join(hostDir, "passwd"), "utf8")).toMatch(/^root:x:0:0/);
    const diff = await h.berth(["diff", "cpbox"]);
    expect(diff.stdout).toContain("A /tmp/in.txt\n");
  });

  it("--init reaps orphaned zombies that a plain pid 1 leaves", async () => {
    const count = async (init: boolean) => {
      const name = `z${init ? "i" : "n"}`;
      await h.berth(["run", "-d", "--name", name, ...(init ? ["--init"] : []), "busybox", "sh", "-c", "(sleep 0.1 &); exec sleep 30"]);
      await new Promise((r) => setTimeout(r, 800));
      const out = await h.berth(["exec", name, "sh", "-c", "ps -o stat | grep -c Z || true"]);
      await h.berth(["rm", "-f", name]);
      return Number(out.stdout.trim());
    };
    expect(await count(false)).toBe(1);
    expect(await count(true)).toBe(0);
  });

  it("inspect shows state; container prune removes stopped containers", async () => {
    await h.berth(["run", "--name", "done1", "busybox", "sh", "-c", "exit 5"]);
    const inspect = JSON.parse((await h.berth(["container", "inspect", "done1"])).stdout) as Array<{ State: { Status: string; ExitCode: number }; Name: string }>;
    expect(inspect[0]).toMatchObject({ Name: "/done1", State: { Status: "exited", ExitCode: 5 } });
    // without -f, Docker's prompt: "n" or no answer keeps them, "y" removes them
    for (const answer of ["n\n", ""]) {
      const declined = await h.berth(["container", "prune"], { input: answer });
      expect(declined.stdout).toBe("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] Total reclaimed space: 0B\n");
      expect((await ps()).some((r) => r.Names === "done1")).toBe(true);
    }
    const prune = await h.berth(["container", "prune"], { input: "y\n" });
    expect(prune.stdout).toContain("Deleted Containers:");
    expect((await ps()).filter((r) => r.State !== "running")).toEqual([]);
  });

  it("stop of a run -d --rm container stops it and it is gone", async () => {
    expect((await h.berth(["run", "-d", "--rm", "--name", "rmstop", "busybox", "sleep", "60"])).code).toBe(0);
    const stop = await h.berth(["stop", "-t", "1", "rmstop"]);
    expect(stop.stderr).toBe("");
    expect(stop.code).toBe(0);
    expect(stop.stdout).toBe("rmstop\n");
    expect((await ps()).some((r) => r.Names === "rmstop")).toBe(false);
  });
});
