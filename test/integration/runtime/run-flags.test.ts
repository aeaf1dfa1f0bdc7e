import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRun, httpGet, eventually, leftovers, makeHarness, type Harness } from "./harness.js";

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

  const inspect = async (name: string) => {
    const r = await h.berth(["inspect", name]);
    return (JSON.parse(r.stdout) as Array<{ RestartCount: number; State: { Status: string; Restarting: boolean; Running: boolean; ExitCode: number }; HostConfig: { RestartPolicy: { Name: string; MaximumRetryCount: number } } }>)[0]!;
  };
  const status = async (name: string) => (await h.berth(["ps", "-a", "--filter", `name=${name}`, "--format", "{{.Status}}"])).stdout.trim();

  it("--restart on-failure:N restarts a failing container N times, with Docker's doubling back-off", async () => {
    const run = await h.berth(["run", "-d", "--name", `fail${s}`, "--restart", "on-failure:4", "busybox", "sh", "-c", "echo ran; exit 3"]);
    expect(run.code, run.stderr).toBe(0);
    const done = await eventually(async () => {
      const i = await inspect(`fail${s}`);
      return i.RestartCount === 4 && i.State.Status === "exited" ? i : undefined;
    }, 20_000);
    expect(done.State.ExitCode).toBe(3);
    expect(done.HostConfig.RestartPolicy).toEqual({ Name: "on-failure", MaximumRetryCount: 4 });
    const logs = (await h.berth(["logs", "-t", `fail${s}`])).stdout.trim().split("\n");
    expect(logs.length).toBe(5);
    const times = logs.map((l) => Date.parse(l.split(" ")[0]!));
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // 100, 200, 400, 800 ms of waiting (plus each start's own time)
    expect(gaps[0]).toBeGreaterThanOrEqual(100);
    expect(gaps[3]).toBeGreaterThanOrEqual(800);
    expect(gaps[3]).toBeGreaterThan(gaps[1]! + 300);
    // no more: the count is spent
    await new Promise((r) => setTimeout(r, 1000));
    expect((await inspect(`fail${s}`)).RestartCount).toBe(4);
    // a container that succeeds is not restarted by on-failure
    const ok = await h.berth(["run", "-d", "--name", `ok${s}`, "--restart", "on-failure", "busybox", "true"]);
    expect(ok.code, ok.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 600));
    expect(await inspect(`ok${s}`)).toMatchObject({ RestartCount: 0, State: { Status: "exited", ExitCode: 0 } });
    await h.berth(["rm", `fail${s}`, `ok${s}`]);
  }, 60_000);

  it("--restart always: ps shows Restarting between runs; stop ends it for good, start brings it back with RestartCount 0", async () => {
    const run = await h.berth(["run", "-d", "--name", `loop${s}`, "--restart", "always", "busybox", "sh", "-c", "exit 1"]);
    expect(run.code, run.stderr).toBe(0);
    // the back-off grows to seconds after a few quick exits: after the fifth, 3.2 s to look
    expect(await eventually(async () => ((await inspect(`loop${s}`)).RestartCount >= 5 && /^Restarting \(1\) .* ago$/.test(await status(`loop${s}`)) ? true : undefined), 20_000)).toBe(true);
    expect((await h.berth(["ps", "--filter", `name=loop${s}`, "--format", "{{.State}}"])).stdout).toBe("restarting\n");
    const during = await inspect(`loop${s}`);
    expect(during.State).toMatchObject({ Status: "restarting", Restarting: true, Running: true });
    expect(during.RestartCount).toBeGreaterThan(0);
    const removing = await h.berth(["rm", `loop${s}`]);
    expect(removing.code).toBe(1);
    // (it may be between two runs or in one of them)
    expect(removing.stderr).toMatch(/You cannot remove a (restarting|running) container/);
    const stop = await h.berth(["stop", `loop${s}`]);
    expect(stop.code, stop.stderr).toBe(0);
    expect(await status(`loop${s}`)).toMatch(/^Exited \(1\) /);
    const count = (await inspect(`loop${s}`)).RestartCount;
    await new Promise((r) => setTimeout(r, 1500));
    expect(await status(`loop${s}`)).toMatch(/^Exited \(1\) /);
    expect((await inspect(`loop${s}`)).RestartCount).toBe(count);
    expect((await h.berth(["rm", `loop${s}`])).code).toBe(0);

    // a long-running one: stop keeps it down (always and unless-stopped alike), start starts it again
    for (const policy of ["always", "unless-stopped"]) {
      const name = `svc${policy}${s}`;
      expect((await h.berth(["run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "60"])).code).toBe(0);
      expect((await h.berth(["stop", "-t", "1", name])).code).toBe(0);
      await new Promise((r) => setTimeout(r, 500));
      expect(await status(name)).toMatch(/^Exited \(137\) /);
      expect((await h.berth(["start", name])).code).toBe(0);
      expect(await inspect(name)).toMatchObject({ RestartCount: 0, State: { Status: "running" } });
      // a crash (the process killed from outside berth) is restarted
      const pid = (await h.berth(["inspect", "--format", "{{.State.Pid}}", name])).stdout.trim();
      process.kill(Number(pid), "SIGKILL");
      expect(await eventually(async () => ((await inspect(name)).RestartCount === 1 && (await inspect(name)).State.Status === "running" ? true : undefined))).toBe(true);
      expect((await h.berth(["rm", "-f", name])).code).toBe(0);
    }
  }, 90_000);

  it("a foreground run returns the first exit code and its restarts go on in the background", async () => {
    const run = await h.berth(["run", "--name", `fg${s}`, "--restart", "on-failure:2", "busybox", "sh", "-c", "echo once; exit 5"]);
    expect(run.code).toBe(5);
    expect(run.stdout).toBe("once\n");
    const done = await eventually(async () => {
      const i = await inspect(`fg${s}`);
      return i.RestartCount === 2 && i.State.Status === "exited" ? i : undefined;
    }, 20_000);
    expect(done.State.ExitCode).toBe(5);
    expect((await h.berth(["logs", `fg${s}`])).stdout).toBe("once\nonce\nonce\n");
    await h.berth(["rm", `fg${s}`]);
  }, 60_000);

  it("--restart with --rm, or a policy Docker does not know, fails naming the flag and leaves nothing", async () => {
    const before = (await h.berth(["ps", "-a", "-q"])).stdout;
    const both = await h.berth(["run", "--rm", "--restart", "always", "busybox", "true"]);
    expect(both.code).toBe(125);
    expect(both.stderr).toContain("conflicting options: cannot specify both --restart and --rm");
    const unknown = await h.berth(["create", "--restart", "sometimes", "busybox", "true"]);
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toContain("invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped' (--restart)");
    const count = await h.berth(["run", "--restart", "always:3", "busybox", "true"]);
    expect(count.code).toBe(125);
    expect(count.stderr).toContain("maximum retry count can only be used with 'on-failure' (--restart)");
    const notInt = await h.berth(["run", "--restart", "on-failure:x", "busybox", "true"]);
    expect(notInt.stderr).toContain("invalid restart policy format: maximum retry count must be an integer (--restart)");
    expect((await h.berth(["ps", "-a", "-q"])).stdout).toBe(before);
    // --rm with --restart no is fine, as Docker's
    expect((await h.berth(["run", "--rm", "--restart", "no", "busybox", "true"])).code).toBe(0);
  }, 30_000);

  it("update --restart gives a container a new policy, carried out at its next exit; --rm containers and unknown policies are refused", async () => {
    const run = await h.berth(["run", "-d", "--name", `upd${s}`, "busybox", "sh", "-c", "sleep 2; exit 3"]);
    expect(run.code, run.stderr).toBe(0);
    expect(await h.berth(["update", "--restart", "on-failure:2", `upd${s}`])).toMatchObject({ code: 0, stdout: `upd${s}\n` });
    expect((await inspect(`upd${s}`)).HostConfig.RestartPolicy).toEqual({ Name: "on-failure", MaximumRetryCount: 2 });
    const done = await eventually(async () => {
      const i = await inspect(`upd${s}`);
      return i.RestartCount === 2 && i.State.Status === "exited" ? i : undefined;
    }, 20_000);
    expect(done.State.ExitCode).toBe(3);
    // back to no: a start runs it once
    expect((await h.berth(["update", "--restart", "no", `upd${s}`])).code).toBe(0);
    expect((await h.berth(["start", "-a", `upd${s}`])).code).toBe(3);
    await new Promise((r) => setTimeout(r, 600));
    expect(await inspect(`upd${s}`)).toMatchObject({ RestartCount: 0, State: { Status: "exited" }, HostConfig: { RestartPolicy: { Name: "no" } } });
    const unknown = await h.berth(["update", "--restart", "sometimes", `upd${s}`]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("invalid restart policy: unknown policy 'sometimes'");
    const rm = await h.berth(["run", "-d", "--rm", "--name", `updrm${s}`, "busybox", "sleep", "30"]);
    expect(rm.code, rm.stderr).toBe(0);
    const refused = await h.berth(["update", "--restart", "always", `updrm${s}`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("Restart policy cannot be updated because AutoRemove is enabled for the container");
    expect((await inspect(`updrm${s}`)).HostConfig.RestartPolicy.Name).toBe("no");
    const events = await h.berth(["events", "--since", "1m", "--until", "0s", "--filter", "event=update", "--format", "{{.Actor.Attributes.name}}"]);
    expect(events.stdout).toBe(`upd${s}\nupd${s}\n`);
    await h.berth(["rm", "-f", `upd${s}`, `updrm${s}`]);
  }, 60_000);

  it("--mount binds, volumes and tmpfs in Docker's CSV form; bad specs fail with Docker's messages and leave nothing", async () => {
    const dir = mkdtempSync("/tmp/berth-mount-");
    writeFileSync(join(dir, "hello"), "from the host\n");
    try {
      const bind = await h.berth(["run", "--rm", "--mount", `type=bind,source=${dir},target=/data,readonly`, "busybox", "sh", "-c", "cat /data/hello; touch /data/x 2>&1; true"]);
      expect(bind.code, bind.stderr).toBe(0);
      expect(bind.stdout).toBe("from the host\ntouch: /data/x: Read-only file system\n");
      // type=volume is the default; a named volume outlives the container
      const write = await h.berth(["run", "--rm", "--mount", `src=vol${s},dst=/v`, "busybox", "sh", "-c", "echo kept > /v/f"]);
      expect(write.code, write.stderr).toBe(0);
      const read = await h.berth(["run", "--rm", "--mount", `type=volume,source=vol${s},target=/v,ro=true`, "busybox", "sh", "-c", "cat /v/f; touch /v/g 2>&1; true"]);
      expect(read.stdout).toBe("kept\ntouch: /v/g: Read-only file system\n");
      const tmpfs = await h.berth(["run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770", "busybox", "sh", "-c", "stat -c %a /t; grep ' /t ' /proc/mounts"]);
      expect(tmpfs.code, tmpfs.stderr).toBe(0);
      expect(tmpfs.stdout).toMatch(/^1770\ntmpfs \/t tmpfs rw,nosuid,nodev,noexec,.*size=1024k/);
      const created = await h.berth(["create", "--name", `mnt${s}`, "--mount", `type=bind,src=${dir},dst=/data`, "busybox"]);
      expect(created.code, created.stderr).toBe(0);
      const mounts = JSON.parse((await h.berth(["inspect", "--format", "{{json .Mounts}}", `mnt${s}`])).stdout) as unknown[];
      expect(mounts).toEqual([{ Type: "bind", Source: dir, Destination: "/data", RW: true }]);
      await h.berth(["rm", `mnt${s}`]);

      const before = [(await h.berth(["ps", "-a", "-q"])).stdout, (await h.berth(["volume", "ls", "-q"])).stdout];
      const cases: Array<[string, string]> = [
        ["type=bind,source=/nonexistent-berth-src,target=/x", 'invalid mount config for type "bind": bind source path does not exist: /nonexistent-berth-src'],
        ["type=tmpfs,source=x,target=/t", 'invalid mount config for type "tmpfs": field Source must not be specified'],
        [`type=bind,src=${dir}`, 'invalid mount config for type "bind": field Target must not be empty'],
        ["type=volume,target=relative", "invalid mount path: 'relative' mount path must be absolute"],
        ["type=nfs,target=/x", 'invalid mount config for type "nfs": mount type unknown'],
        ["readonly,target", "invalid field 'target' must be a key=value pair"],
        ["type=volume,target=/x,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'volume'"],
        ["type=tmpfs,target=/x,ro=maybe", `invalid value for 'ro': invalid boolean value ("maybe")`],
        ["type=tmpfs,target=/x,color=red", "unknown option 'color' in 'color=red'"],
      ];
      for (const [spec, message] of cases) {
        const r = await h.berth(["run", "--rm", "--mount", spec, "busybox", "true"]);
        expect(r.code, spec).toBe(125);
        expect(r.stderr, spec).toContain(message);
      }
      const dup = await h.berth(["run", "--rm", "-v", `${dir}:/d`, "--mount", "type=tmpfs,dst=/d", "busybox", "true"]);
      expect(dup.stderr).toContain("Duplicate mount point: /d");
      expect([(await h.berth(["ps", "-a", "-q"])).stdout, (await h.berth(["volume", "ls", "-q"])).stdout]).toEqual(before);
      await h.berth(["volume", "rm", `vol${s}`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("commit -c applies Dockerfile instructions to the new image; -m, -a; -p pauses a running container (the default)", async () => {
    const run = await h.berth(["run", "-d", "--name", `src${s}`, "busybox", "sh", "-c", "echo made > /made; sleep 60"]);
    expect(run.code, run.stderr).toBe(0);
    await eventually(async () => ((await h.berth(["exec", `src${s}`, "cat", "/made"])).stdout === "made\n" ? true : undefined));
    const commit = await h.berth(["commit", "-p", `src${s}`, "--change", 'CMD ["cat", "/made"]', "-c", "ENV GREETING=hi", "-c", "EXPOSE 7000", "-c", "WORKDIR /tmp", "-c", "LABEL team=berth", "-c", "USER nobody", "-m", "a message", "-a", "someone", `committed${s}:1`]);
    expect(commit.code, commit.stderr).toBe(0);
    const image = (JSON.parse((await h.berth(["image", "inspect", `committed${s}:1`])).stdout) as Array<{ Comment: string; Author: string; Config: Record<string, unknown> }>)[0]!;
    expect(image.Comment).toBe("a message");
    expect(image.Author).toBe("someone");
    expect(image.Config).toMatchObject({ Cmd: ["cat", "/made"], WorkingDir: "/tmp", User: "nobody", ExposedPorts: { "7000/tcp": {} }, Labels: { team: "berth" } });
    expect(image.Config.Env).toContain("GREETING=hi");
    const out = await h.berth(["run", "--rm", `committed${s}:1`]);
    expect(out.stdout).toBe("made\n");
    const env = await h.berth(["run", "--rm", `committed${s}:1`, "sh", "-c", "echo $GREETING $(pwd) $(id -un)"]);
    expect(env.stdout).toBe("hi /tmp nobody\n");
    // the container runs on (thawed after the commit), and --pause=false commits without pausing it
    expect((await h.berth(["ps", "--filter", `name=src${s}`, "--format", "{{.State}}"])).stdout).toBe("running\n");
    expect((await h.berth(["commit", "--pause=false", `src${s}`, `committed${s}:2`])).code).toBe(0);
    const before = (await h.berth(["images", "-q"])).stdout;
    const bad = await h.berth(["commit", "-c", "RUN rm -rf /", `src${s}`, `committed${s}:3`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('invalid --change "RUN rm -rf /": RUN is not allowed');
    expect((await h.berth(["images", "-q"])).stdout).toBe(before);
    await h.berth(["rm", "-f", `src${s}`]);
    await h.berth(["rmi", `committed${s}:1`, `committed${s}:2`]);
  }, 60_000);
});
