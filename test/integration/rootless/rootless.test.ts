import { execFile, execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busyboxTarball, hasBusybox } from "../../helpers/busybox.js";
import { startRegistry, type RegistryFixture } from "../../helpers/registry.js";

/**
 * berth as an ordinary user (issue 16): the user `berthtest` with subordinate ids, made by
 * scripts/rootless-user.sh, runs the CLI (bin/berth as a program, as from the user's shell) with
 * a store, run root and cache dir of this test's own; berth enters the user's namespace by
 * itself.
 */
const USER = "berthtest";
const REPO = join(import.meta.dirname, "../../..");
const BERTH = join(REPO, "bin/berth");

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (to set up the user berthtest and run commands as it)";
  if (!existsSync("/usr/bin/newuidmap") || !existsSync("/usr/bin/newgidmap")) return "needs newuidmap/newgidmap (apt-get install uidmap)";
  if (!hasBusybox()) return "needs busybox-static";
  return undefined;
}
const why = skipReason();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(why !== undefined)(`berth as an ordinary user${why !== undefined ? ` (skipped: ${why})` : ""}`, () => {
  let uid = 0;
  let gid = 0;
  let store = "";
  let runRoot = "";
  let rootStore = "";
  let context = "";
  let cache = "";
  let env: Record<string, string> = {};

  const userCommand = (args: string[]): string[] => ["runuser", "-u", USER, "--", "env", "-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), BERTH, ...args];
  const asUser = (args: string[], cwd = "/tmp"): Promise<Result> =>
    new Promise((resolve) => {
      const [file, ...rest] = userCommand(args);
      execFile(file as string, rest, { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
      });
    });
  /** A context dir the user can read, with these files. */
  const userContext = (files: Record<string, string>): string => {
    const dir = mkdtempSync("/tmp/berth-rootless-ctx-");
    chmodSync(dir, 0o755);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o644 });
    contexts.push(dir);
    return dir;
  };
  const contexts: string[] = [];
  const asRoot = (args: string[], cwd = "/tmp"): string => execFileSync(BERTH, ["--root", rootStore, ...args], { cwd, encoding: "utf8" });
  const holderPid = (): number => Number(readFileSync(join(runRoot, "userns.pid"), "utf8").split(" ")[0]);

  beforeAll(() => {
    execFileSync(join(REPO, "scripts/rootless-user.sh"), [USER], { stdio: "ignore" });
    uid = Number(execFileSync("id", ["-u", USER], { encoding: "utf8" }).trim());
    gid = Number(execFileSync("id", ["-g", USER], { encoding: "utf8" }).trim());
    store = mkdtempSync("/tmp/berth-rootless-store-");
    chownSync(store, uid, gid);
    runRoot = `/run/user/${uid}/berth-test-${process.pid}`;
    rootStore = mkdtempSync("/tmp/berth-rootless-rootstore-");
    context = mkdtempSync("/tmp/berth-rootless-ctx-");
    cache = mkdtempSync("/tmp/berth-rootless-cache-");
    chownSync(cache, uid, gid);
    writeFileSync(join(context, "Dockerfile"), "FROM busybox\nRUN echo hi > /x && chown 1000:1000 /x\nRUN rm -rf /home && mkdir /home && echo a > /home/y\n");
    chmodSync(context, 0o755);
    chmodSync(join(context, "Dockerfile"), 0o644);
    const tarball = busyboxTarball();
    chmodSync(join(tarball, ".."), 0o755);
    chmodSync(tarball, 0o644);
    env = {
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: `/home/${USER}`,
      XDG_RUNTIME_DIR: `/run/user/${uid}`,
      BERTH_ROOT: store,
      BERTH_RUN_ROOT: runRoot,
      XDG_CACHE_HOME: cache,
    };
  });

  afterAll(async () => {
    if (store === "") return;
    const ps = await asUser(["ps", "-a", "-q"]);
    for (const id of ps.stdout.split("\n").filter((l) => l !== "")) await asUser(["rm", "-f", id]);
    await asUser(["network", "prune", "-f"]);
    // the builds' network sandboxes (pasta daemons) stay between builds until pruned
    await asUser(["builder", "prune", "-af"]);
    // the namespace goes with its holder, and every mount made in it
    try {
      process.kill(holderPid(), "SIGKILL");
    } catch {
      // never started, or gone
    }
    for (const dir of [store, rootStore, context, runRoot, cache, ...contexts]) rmSync(dir, { recursive: true, force: true });
    const left = execFileSync("ps", ["-u", USER, "-o", "args="], { encoding: "utf8" }).split("\n").filter((a) => a.includes(runRoot));
    if (left.length > 0) throw new Error(`left running: ${left.join("; ")}`);
  });

  it("imports an image, lists it and says in `info` that it is rootless, with the user's paths", async () => {
    const imported = await asUser(["import", "--change", 'CMD ["sh"]', busyboxTarball(), "busybox"]);
    expect(imported.stderr).toBe("");
    expect(imported.code).toBe(0);
    expect((await asUser(["images", "--format", "{{.Repository}}:{{.Tag}}"])).stdout).toBe("busybox:latest\n");
    const info = JSON.parse((await asUser(["info", "--format", "json"])).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ Mode: "rootless", StoreRoot: store, RunRoot: runRoot });
    expect(info.SecurityOptions).toContain("name=rootless");
    // the store's files belong to the user; an image's uid 1000 is the user's subordinate id 1000
    const subuid = Number(/^berthtest:(\d+):/m.exec(readFileSync("/etc/subuid", "utf8"))?.[1]);
    const owners = execFileSync("find", [store, "-path", "*/home/app", "-printf", "%U\n"], { encoding: "utf8" }).trim().split("\n");
    expect(owners).toContain(String(subuid + 999));
  });

  it("runs a container as root inside it that the host sees as the user", async () => {
    const id = await asUser(["run", "--rm", "--network", "none", "busybox", "id"]);
    expect(id.stderr).toBe("");
    expect(id.stdout).toBe("uid=0(root) gid=0(root)\n");
    const started = await asUser(["run", "-d", "--network", "none", "busybox", "sleep", "60"]);
    expect(started.code).toBe(0);
    const pid = Number((await asUser(["inspect", "--format", "{{.State.Pid}}", started.stdout.trim()])).stdout.trim());
    expect(pid).toBeGreaterThan(0);
    expect(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]).toBe(String(uid));
    // SIGKILL at once (runc's kill --all needs a cgroup, which a rootless container has not got)
    const removing = Date.now();
    expect((await asUser(["rm", "-f", started.stdout.trim()])).code).toBe(0);
    expect(Date.now() - removing).toBeLessThan(5000);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it("reaches another container over a network of its own (pasta, no root)", async () => {
    expect((await asUser(["network", "create", "rl-net"])).code).toBe(0);
    expect((await asUser(["run", "-d", "--network", "rl-net", "--name", "rl-srv", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"])).code).toBe(0);
    const got = await asUser(["run", "--rm", "--network", "rl-net", "busybox", "wget", "-q", "-O-", "http://rl-srv/group"]);
    expect(got.stdout).toContain("root:x:0:");
    await asUser(["rm", "-f", "rl-srv"]);
    expect((await asUser(["network", "rm", "rl-net"])).code).toBe(0);
  });

  it("refuses resource limits with the reason, instead of running without them", async () => {
    const r = await asUser(["run", "--rm", "--network", "none", "--memory", "64m", "busybox", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("--memory: rootless berth cannot limit resources");
    expect((await asUser(["ps", "-a", "-q"])).stdout).toBe("");
  });

  it("builds RUN steps into layers byte-identical to root's", async () => {
    const built = await asUser(["build", "-q", "--source-date-epoch", "1700000000", "-t", "rl-built", "."], context);
    expect(built.stderr).toBe("");
    expect(built.code).toBe(0);
    expect((await asUser(["run", "--rm", "--network", "none", "rl-built", "sh", "-c", "cat /x; ls /home"])).stdout).toBe("hi\ny\n");
    asRoot(["import", busyboxTarball(), "busybox"]);
    asRoot(["build", "-q", "--source-date-epoch", "1700000000", "-t", "rl-built", "."], context);
    const layers = "{{json .RootFS.Layers}}";
    expect((await asUser(["inspect", "--format", layers, "rl-built"])).stdout).toBe(asRoot(["inspect", "--format", layers, "rl-built"]));
  });

  it("enters the namespace before Node starts: one Node process per command, its code cache in the user's cache dir", async () => {
    expect((await asUser(["images", "-q"])).code).toBe(0); // the holder runs
    const running = asUser(["run", "--rm", "--network", "none", "busybox", "sleep", "2"]);
    await new Promise((r) => setTimeout(r, 1200));
    const nodes = execFileSync("ps", ["-u", USER, "-o", "args="], { encoding: "utf8" })
      .split("\n")
      .filter((a) => a.includes(BERTH) && a.includes(" run --rm --network none busybox sleep 2"));
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatch(/^node -- /);
    expect((await running).code).toBe(0);
    expect(readdirSync(join(cache, "berth")).some((f) => /^container\.cjs\.run\..*\.cache$/.test(f))).toBe(true);
  });

  it("refuses a host port below net.ipv4.ip_unprivileged_port_start, naming the sysctl and the flag", async () => {
    const start = Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8"));
    if (start <= 80) return;
    const r = await asUser(["run", "-d", "-p", "80:8080", "busybox", "sleep", "60"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("-p 80:8080");
    expect(r.stderr).toContain(`net.ipv4.ip_unprivileged_port_start (${start})`);
    expect(r.stderr).not.toContain("EACCES");
    expect((await asUser(["ps", "-a", "-q"])).stdout).toBe("");
  });

  it("builds with COPY, a cache mount and secrets (a file and an env)", async () => {
    const ctx = userContext({
      "Dockerfile": [
        "FROM busybox",
        "COPY app.txt /app/",
        "RUN --mount=type=cache,target=/cache echo run >> /cache/log && wc -l < /cache/log > /app/runs",
        "RUN --mount=type=secret,id=tok cat /run/secrets/tok > /app/from-file",
        "RUN --mount=type=secret,id=tok,env=TOK echo \"$TOK\" > /app/from-env",
        "",
      ].join("\n"),
      "app.txt": "app\n",
      "tok": "s3cret\n",
    });
    const build = (extra: string[]) => asUser(["build", "-q", "--secret", `id=tok,src=${join(ctx, "tok")}`, ...extra, "-t", "rl-secrets", "."], ctx);
    const first = await build([]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    // the cache mount keeps its contents between builds (--no-cache runs the step again)
    expect((await build(["--no-cache"])).code).toBe(0);
    const out = await asUser(["run", "--rm", "--network", "none", "rl-secrets", "sh", "-c", "cat /app/app.txt /app/runs /app/from-file /app/from-env"]);
    // an env secret is the file's content as it is, newline included
    expect(out.stdout).toBe("app\n2\ns3cret\ns3cret\n\n");
  });

  it("runs -d with logs and exec, -v with the user's files, commits, saves and loads", async () => {
    const data = mkdtempSync("/tmp/berth-rootless-vol-");
    chownSync(data, uid, gid);
    contexts.push(data);
    const started = await asUser(["run", "-d", "--name", "rl-box", "--network", "none", "-v", `${data}:/data`, "busybox", "sh", "-c", "echo hello from rl-box; touch /data/made; sleep 60"]);
    expect(started.stderr).toBe("");
    expect(started.code).toBe(0);
    const deadline = Date.now() + 5000;
    while (!existsSync(join(data, "made")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // root in the container is the user on the host
    expect(execFileSync("stat", ["-c", "%u", join(data, "made")], { encoding: "utf8" }).trim()).toBe(String(uid));
    expect((await asUser(["logs", "rl-box"])).stdout).toBe("hello from rl-box\n");
    const exec = await asUser(["exec", "rl-box", "sh", "-c", "echo committed > /committed; cat /data/../committed"]);
    expect(exec.stdout).toBe("committed\n");
    expect((await asUser(["commit", "rl-box", "rl-committed"])).code).toBe(0);
    expect((await asUser(["rm", "-f", "rl-box"])).code).toBe(0);
    const archive = join(data, "saved.tar");
    expect((await asUser(["save", "-o", archive, "rl-committed"])).code).toBe(0);
    expect((await asUser(["rmi", "rl-committed"])).code).toBe(0);
    const loaded = await asUser(["load", "-i", archive]);
    expect(loaded.code).toBe(0);
    expect(loaded.stdout).toContain("rl-committed");
    expect((await asUser(["run", "--rm", "--network", "none", "rl-committed", "cat", "/committed"])).stdout).toBe("committed\n");
  });

  it("runs -it with a terminal", async () => {
    const command = userCommand(["run", "-it", "--rm", "--network", "none", "busybox", "sh"]).join(" ");
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      const child = execFile("script", ["-q", "-e", "-c", command, "/dev/null"], { cwd: "/tmp", timeout: 30_000 }, (err, stdout) => {
        resolve({ code: err === null ? 0 : Number((err as unknown as { code: number }).code), out: stdout });
      });
      child.stdin?.end("tty; id -u; exit 5\n");
    });
    expect(r.out).toMatch(/\/dev\/pts\/\d+/);
    expect(r.out).toMatch(/^0\r?$/m);
    expect(r.code).toBe(5);
  });

  it("pushes to and pulls from a local registry", async () => {
    let registry: RegistryFixture | undefined;
    try {
      registry = await startRegistry();
      const ref = `${registry.host}/rootless/busybox:1`;
      expect((await asUser(["tag", "busybox", ref])).code).toBe(0);
      const pushed = await asUser(["push", ref]);
      expect(pushed.code).toBe(0);
      expect((await asUser(["rmi", ref])).code).toBe(0);
      const pulled = await asUser(["pull", ref]);
      expect(pulled.code).toBe(0);
      expect((await asUser(["run", "--rm", "--network", "none", ref, "echo", "pulled"])).stdout).toBe("pulled\n");
    } finally {
      await registry?.stop();
    }
  });

  it("leaves a store that `system check` passes after a build is killed with SIGKILL", async () => {
    const ctx = userContext({ "Dockerfile": "FROM busybox\nRUN echo a > /a && sleep 30\n" });
    const [file, ...rest] = userCommand(["build", "-q", "."]);
    const child = execFile(file as string, rest, { cwd: ctx });
    // the build's RUN step is running once its sleep shows up among the user's processes
    const deadline = Date.now() + 20_000;
    const sleeping = () => execFileSync("ps", ["-u", String(uid), "-o", "args="], { encoding: "utf8" }).includes("sleep 30");
    while (!sleeping() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(sleeping()).toBe(true);
    const berthPid = execFileSync("ps", ["-u", String(uid), "-o", "pid=,args="], { encoding: "utf8" })
      .split("\n")
      .find((l) => l.includes(BERTH) && l.includes("build -q"))
      ?.trim()
      .split(" ")[0];
    expect(berthPid).toBeDefined();
    process.kill(Number(berthPid), "SIGKILL");
    await new Promise((r) => child.on("exit", r));
    const check = await asUser(["system", "check"]);
    expect(check.stdout).toMatch(/no problems/);
    expect(check.code).toBe(0);
  });

  it("builds and runs on fuse-overlayfs (BERTH_OVERLAY=fuse) with the kernel overlay's layers", async () => {
    if (!existsSync("/usr/bin/fuse-overlayfs")) return;
    const fuseStore = mkdtempSync("/tmp/berth-rootless-fuse-");
    chownSync(fuseStore, uid, gid);
    contexts.push(fuseStore);
    const fuseEnv = { ...env, BERTH_ROOT: fuseStore, BERTH_OVERLAY: "fuse" };
    const asFuse = (args: string[], cwd = "/tmp"): Promise<Result> => {
      const saved = env;
      env = fuseEnv;
      try {
        return asUser(args, cwd);
      } finally {
        env = saved;
      }
    };
    expect((await asFuse(["import", "--change", 'CMD ["sh"]', busyboxTarball(), "busybox"])).code).toBe(0);
    // a file deleted (whiteout) and a directory replaced (opaque), then read through as a lower layer
    const ctx = userContext({ "Dockerfile": "FROM busybox\nRUN rm /bin/vi && rm -rf /home && mkdir /home && echo a > /home/y\nRUN ls -a /home > /listing; ls /bin/vi >> /listing 2>&1; true\n" });
    const layers = "{{json .RootFS.Layers}}";
    const built = await asFuse(["build", "-q", "--source-date-epoch", "1700000000", "-t", "rl-fuse", "."], ctx);
    expect(built.stderr).toBe("");
    expect(built.code).toBe(0);
    expect((await asUser(["build", "-q", "--source-date-epoch", "1700000000", "-t", "rl-fuse", "."], ctx)).code).toBe(0);
    expect((await asFuse(["inspect", "--format", layers, "rl-fuse"])).stdout).toBe((await asUser(["inspect", "--format", layers, "rl-fuse"])).stdout);
    const listing = await asFuse(["run", "--rm", "--network", "none", "rl-fuse", "cat", "/listing"]);
    expect(listing.stdout).toBe(".\n..\ny\nls: /bin/vi: No such file or directory\n");
    // the container's root is fuse-overlayfs's, whose process ends with the container
    const started = await asFuse(["run", "-d", "--network", "none", "rl-fuse", "sleep", "60"]);
    expect(started.code).toBe(0);
    const servers = () => execFileSync("ps", ["-u", String(uid), "-o", "args="], { encoding: "utf8" }).split("\n").filter((a) => a.startsWith("fuse-overlayfs") && a.includes(fuseStore));
    expect(servers()).toHaveLength(1);
    expect((await asFuse(["rm", "-f", started.stdout.trim()])).code).toBe(0);
    const deadline = Date.now() + 3000;
    while (servers().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(servers()).toEqual([]);
  });

  it("replaces a holder that is gone", async () => {
    const before = holderPid();
    process.kill(before, "SIGKILL");
    const deadline = Date.now() + 5000;
    while (existsSync(`/proc/${before}`) && !readFileSync(`/proc/${before}/stat`, "utf8").includes(") Z") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const images = await asUser(["images", "-q"]);
    expect(images.code).toBe(0);
    expect(holderPid()).not.toBe(before);
  });

  it("system reset-userns ends the namespace (not while a container runs, unless forced); the next command starts a new one", async () => {
    expect((await asUser(["images", "-q"])).code).toBe(0);
    const before = holderPid();
    const started = await asUser(["run", "-d", "--network", "none", "busybox", "sleep", "60"]);
    expect(started.code, started.stderr).toBe(0);
    const refused = await asUser(["system", "reset-userns"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("container(s) running");
    expect(holderPid()).toBe(before);
    expect((await asUser(["rm", "-f", started.stdout.trim()])).code).toBe(0);
    const reset = await asUser(["system", "reset-userns"]);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toBe(`user namespace ended (holder pid ${before})\n`);
    expect(existsSync(join(runRoot, "userns.pid"))).toBe(false);
    expect((await asUser(["images", "-q"])).code).toBe(0);
    expect(holderPid()).not.toBe(before);
    // as root there is no namespace to end
    expect(() => asRoot(["system", "reset-userns"])).toThrow(/runs as root here/);
  });

  it("the library as the user: openStore and build say to use bin/berth instead of failing on a chown", () => {
    const script = join(userContext({}), "lib.mjs");
    writeFileSync(script, `import { openStore, build } from ${JSON.stringify(join(REPO, "dist/index.js"))};\nfor (const f of [() => openStore(), () => build({ context: "/tmp", dockerfileText: "FROM scratch\\n" })]) {\n  try { await f(); console.log("opened"); } catch (e) { console.log(e.message); }\n}\n`, { mode: 0o644 });
    const out = execFileSync("runuser", ["-u", USER, "--", "env", "-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, script], { encoding: "utf8" });
    const lines = out.trim().split("\n");
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toContain("openStore: berth's library needs root, or an ordinary user's berth namespace, which a running Node process cannot join: use the CLI (bin/berth");
  });
});
