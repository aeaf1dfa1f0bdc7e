import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRun, leftovers, makeHarness, type Harness } from "./harness.js";

/** `berth run` in the foreground: exit codes, config from image and flags, confinement, limits. */
describe.runIf(canRun)("berth run (foreground)", () => {
  let h: Harness;
  let hostDir: string;
  beforeAll(async () => {
    h = await makeHarness("run");
    await h.image("cfg:1", { Env: ["PATH=/usr/bin:/bin", "FROM_IMAGE=img", "OVER=image"], WorkingDir: "/home/app", User: "app", Cmd: ["sh", "-c", "echo $FROM_IMAGE $OVER; pwd; id -un"] });
    hostDir = mkdtempSync("/tmp/berth-rt-run-host-");
    writeFileSync(join(hostDir, "hello.txt"), "from host\n");
  });
  afterAll(async () => {
    await h.cleanup();
    rmSync(hostDir, { recursive: true, force: true });
    expect(leftovers(h)).toEqual({ mounts: [], processes: [], runcState: [] });
  });

  it.each([
    [["true"], 0],
    [["sh", "-c", "exit 7"], 7],
    [["nosuchcommand"], 127],
    [["/etc/passwd"], 126],
    [["sh", "-c", "kill -KILL $$; sleep 0.1"], 0], // pid 1 ignores SIGKILL from inside, like Docker
  ])("%j exits %i", async (cmd, code) => {
    const r = await h.berth(["run", "--rm", "busybox", ...cmd]);
    expect(r.code, r.stderr).toBe(code);
  });

  it("-v with a host dir that does not exist makes it, as Docker's daemon does", async () => {
    const parent = mkdtempSync("/tmp/berth-vmissing-");
    try {
      const missing = join(parent, "made", "here");
      const r = await h.berth(["run", "--rm", "-v", `${missing}:/x`, "busybox", "sh", "-c", "echo hi > /x/f"]);
      expect(r.code, r.stderr).toBe(0);
      expect(statSync(missing).mode & 0o777).toBe(0o755);
      expect(readFileSync(join(missing, "f"), "utf8")).toBe("hi\n");
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it("says what is wrong with exit code 125: unknown image, bad flags", async () => {
    const unknown = await h.berth(["run", "--rm", "nosuchimage:1", "true"]);
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toMatch(/nosuchimage/);
    const mem = await h.berth(["run", "--rm", "--memory", "lots", "busybox", "true"]);
    expect(mem.code).toBe(125);
    expect(mem.stderr).toMatch(/--memory/);
    const envFile = await h.berth(["run", "--rm", "--env-file", "/nonexistent/vars.env", "busybox", "true"]);
    expect(envFile.code).toBe(125);
    expect(envFile.stderr).toMatch(/\/nonexistent\/vars\.env.*--env-file/);
    const cap = await h.berth(["run", "--rm", "--cap-add", "NOT_A_CAP", "busybox", "true"]);
    expect(cap.code).toBe(125);
    expect(cap.stderr).toMatch(/NOT_A_CAP/);
  });

  it("takes env, workdir, user and command from the image", async () => {
    const r = await h.berth(["run", "--rm", "cfg:1"]);
    expect(r.stdout).toBe("img image\n/home/app\napp\n");
  });

  it("overrides them with -e, --env-file, -w, -u, --entrypoint and a command", async () => {
    const envFile = join(hostDir, "vars.env");
    writeFileSync(envFile, "# comment\nFROM_FILE=file\n");
    const r = await h.berth(["run", "--rm", "-e", "OVER=flag", "--env-file", envFile, "-w", "/tmp", "-u", "1000:0", "cfg:1", "sh", "-c", "echo $OVER $FROM_FILE $FROM_IMAGE; pwd; id -u; id -g"]);
    expect(r.stdout).toBe("flag file img\n/tmp\n1000\n0\n");
    const ep = await h.berth(["run", "--rm", "--entrypoint", "echo", "cfg:1", "a", "b"]);
    expect(ep.stdout).toBe("a b\n");
    const host = await h.berth(["run", "--rm", "--hostname", "box1", "busybox", "sh", "-c", "hostname; echo $HOSTNAME; cat /etc/hostname; grep -c box1 /etc/hosts"]);
    expect(host.stdout).toBe("box1\nbox1\nbox1\n1\n");
  });

  it("-i passes stdin through; a relative BERTH_ROOT works for detached containers too", async () => {
    expect((await h.berth(["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done"], { input: "from stdin\n" })).stdout).toBe("from stdin\ndone\n");
    const { dirname, basename } = await import("node:path");
    const rel = { env: { BERTH_ROOT: basename(h.root) }, cwd: dirname(h.root) };
    const id = (await h.berth(["run", "-d", "busybox", "sleep", "30"], rel)).stdout.trim();
    const exec = await h.berth(["exec", id, "echo", "relative ok"], rel);
    expect(exec.stdout, `${id} ${exec.code} ${exec.stderr}`).toBe("relative ok\n");
    expect((await h.berth(["rm", "-f", id])).code).toBe(0);
  });

  it("bind-mounts host dirs and enforces :ro", async () => {
    const rw = await h.berth(["run", "--rm", "-v", `${hostDir}:/data`, "busybox", "sh", "-c", "cat /data/hello.txt; echo written > /data/out.txt"]);
    expect(rw.stdout).toBe("from host\n");
    const ro = await h.berth(["run", "--rm", "-v", `${hostDir}:/data:ro`, "busybox", "sh", "-c", "cat /data/hello.txt; echo x > /data/nope.txt"]);
    expect(ro.stdout).toBe("from host\n");
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
  });

  it("--read-only makes the root file system read-only", async () => {
    const r = await h.berth(["run", "--rm", "--read-only", "busybox", "sh", "-c", "touch /file"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Read-only file system/);
    const tmpfs = await h.berth(["run", "--rm", "--read-only", "--tmpfs", "/tmp", "busybox", "sh", "-c", "touch /tmp/ok && echo ok"]);
    expect(tmpfs.stdout).toBe("ok\n");
  });

  it("keeps Docker's default capabilities: mount needs --privileged", async () => {
    const plain = await h.berth(["run", "--rm", "busybox", "mount", "-t", "tmpfs", "none", "/tmp"]);
    expect(plain.code).not.toBe(0);
    const caps = await h.berth(["run", "--rm", "busybox", "sh", "-c", "grep CapEff /proc/self/status"]);
    expect(caps.stdout.trim()).toBe("CapEff:\t00000000a80425fb");
    const priv = await h.berth(["run", "--rm", "--privileged", "busybox", "mount", "-t", "tmpfs", "none", "/tmp"]);
    expect(priv.code, priv.stderr).toBe(0);
    const dropped = await h.berth(["run", "--rm", "--cap-drop", "CHOWN", "busybox", "chown", "1000", "/tmp"]);
    expect(dropped.code).not.toBe(0);
  });

  it("masks /proc paths and limits /dev to the default devices", async () => {
    // /proc/keys (non-empty on the host) reads empty; /proc/sys is read-only
    const r = await h.berth(["run", "--rm", "busybox", "sh", "-c", "wc -c < /proc/keys; ls /dev | sort | tr '\\n' ' '"]);
    expect(r.stdout).toMatch(/^0\n/);
    const sys = await h.berth(["run", "--rm", "busybox", "sh", "-c", "echo 1 > /proc/sys/kernel/domainname"]);
    expect(sys.code).not.toBe(0);
    expect(r.stdout).toContain("null");
    expect(r.stdout).not.toMatch(/\bsda\b|\bvda\b|\bmem\b/);
  });

  it("no-new-privileges is set only when asked", async () => {
    const off = await h.berth(["run", "--rm", "busybox", "sh", "-c", "grep NoNewPrivs /proc/self/status"]);
    expect(off.stdout).toMatch(/NoNewPrivs:\s+0/);
    const on = await h.berth(["run", "--rm", "--security-opt", "no-new-privileges", "busybox", "sh", "-c", "grep NoNewPrivs /proc/self/status"]);
    expect(on.stdout).toMatch(/NoNewPrivs:\s+1/);
  });

  it("a memory limit kills a hog (137), a pids limit stops a fork bomb", async () => {
    const hog = await h.berth(["run", "--rm", "--memory", "32m", "busybox", "sh", "-c", "head -c 200000000 /dev/zero | tail > /dev/null"]);
    expect(hog.code).toBe(137);
    const pids = await h.berth(["run", "--rm", "--pids-limit", "5", "busybox", "sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait"]);
    expect(pids.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    const cpus = await h.berth(["run", "--rm", "--cpus", "0.5", "busybox", "sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max"]);
    expect(cpus.stdout).toMatch(/50000/);
  });

  it("network none has loopback only; host shares the host's interfaces", async () => {
    const none = await h.berth(["run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"]);
    expect(none.stdout.trim()).toBe("lo");
    const host = await h.berth(["run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"]);
    expect(host.stdout.trim().split(/\s+/).length).toBeGreaterThanOrEqual(1);
    const bad = await h.berth(["run", "--rm", "--network", "nosuchnet", "busybox", "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/network nosuchnet not found/);
  });

  it("--init runs tini as pid 1", async () => {
    const r = await h.berth(["run", "--rm", "--init", "busybox", "sh", "-c", "ps -o pid,comm | grep docker-init"]);
    expect(r.stdout).toMatch(/^\s*1 docker-init/);
  });

  it("--rm removes the container; without it the container stays, exited", async () => {
    await h.berth(["run", "--rm", "--name", "gone", "busybox", "true"]);
    await h.berth(["run", "--name", "kept", "busybox", "sh", "-c", "exit 4"]);
    const ps = await h.berth(["ps", "-a", "--format", "json"]);
    const rows = ps.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { Names: string; State: string; ExitCode: number });
    expect(rows.find((r) => r.Names === "gone")).toBeUndefined();
    expect(rows.find((r) => r.Names === "kept")).toMatchObject({ State: "exited", ExitCode: 4 });
    expect((await h.berth(["ps", "-a", "--filter", "name=kept", "--format", "{{.Names}} {{.State}}"])).stdout).toBe("kept exited\n");
    const table = (await h.berth(["ps", "-a", "--filter", "status=exited"])).stdout.split("\n");
    expect(table[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(table.find((l) => l.endsWith(" kept"))).toMatch(/Exited \(4\) .* ago\s+kept$/);
    const dup = await h.berth(["run", "--name", "kept", "busybox", "true"]);
    expect(dup.code).toBe(125);
    expect(dup.stderr).toMatch(/already in use/);
  });

  it("anonymous volumes for image VOLUMEs keep the image's content; named volumes outlive containers", async () => {
    await h.image("vol:1", { Volumes: { "/etc": {} } });
    const anon = await h.berth(["run", "--rm", "vol:1", "cat", "/etc/group"]);
    expect(anon.stdout).toMatch(/^root:x:0:/);
    expect((await h.berth(["volume", "create", "shared"])).stdout).toBe("shared\n");
    await h.berth(["run", "--rm", "-v", "shared:/v", "busybox", "sh", "-c", "echo kept > /v/f"]);
    const again = await h.berth(["run", "--rm", "-v", "shared:/v:ro", "busybox", "cat", "/v/f"]);
    expect(again.stdout).toBe("kept\n");
    expect((await h.berth(["volume", "ls", "-q"])).stdout).toContain("shared\n");
    expect((await h.berth(["volume", "rm", "shared"])).code).toBe(0);
    // rm -v removes the container's anonymous volumes, nothing else
    const before = (await h.berth(["volume", "ls", "-q"])).stdout;
    await h.berth(["run", "--name", "withvol", "vol:1", "true"]);
    const during = (await h.berth(["volume", "ls", "-q"])).stdout;
    expect(during.split("\n").length).toBe(before.split("\n").length + 1);
    await h.berth(["rm", "-v", "withvol"]);
    expect((await h.berth(["volume", "ls", "-q"])).stdout).toBe(before);
  });
});
