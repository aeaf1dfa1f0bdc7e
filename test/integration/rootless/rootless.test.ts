import { execFile, execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busyboxTarball, hasBusybox } from "../../helpers/busybox.js";

/**
 * berth as an ordinary user (issue 16): the user `berthtest` with subordinate ids, made by
 * scripts/rootless-user.sh, runs the CLI with a store and run root of this test's own; berth
 * enters the user's namespace by itself.
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
  let env: Record<string, string> = {};

  const asUser = (args: string[], cwd = "/tmp"): Promise<Result> =>
    new Promise((resolve) => {
      execFile("runuser", ["-u", USER, "--", "env", "-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), "node", BERTH, ...args], { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
      });
    });
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
    for (const dir of [store, rootStore, context, runRoot]) rmSync(dir, { recursive: true, force: true });
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

  it("replaces a holder that is gone", async () => {
    const before = holderPid();
    process.kill(before, "SIGKILL");
    const deadline = Date.now() + 5000;
    while (existsSync(`/proc/${before}`) && !readFileSync(`/proc/${before}/stat`, "utf8").includes(") Z") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const images = await asUser(["images", "-q"]);
    expect(images.code).toBe(0);
    expect(holderPid()).not.toBe(before);
  });
});
