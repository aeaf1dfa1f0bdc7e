import { mkdtempSync, mkdirSync, readFileSync, readdirSync, readlinkSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { busyboxRootfs, hasBusybox } from "../../helpers/busybox.js";
import { cleanupTransient, runTransient, RuntimeError } from "../../../src/runtime/index.js";
import { runtimeExecutable } from "../../../src/runtime/runc.js";

const root = process.getuid?.() === 0 && hasBusybox();
const tmp = mkdtempSync("/tmp/berth-rt-transient-");
const stateDir = join(tmp, "state");
let n = 0;

function snapshot() {
  const dir = join(tmp, `s${n++}`);
  mkdirSync(join(dir, "u"), { recursive: true });
  mkdirSync(join(dir, "w"), { recursive: true });
  return { lowerDirs: [busyboxRootfs()], upperDir: join(dir, "u"), workDir: join(dir, "w") };
}

async function run(args: string[], extra: { env?: string[]; user?: string | { uid: number; gid: number }; cwd?: string; network?: "host" | "none" } = {}) {
  const out = new PassThrough();
  let text = "";
  out.setEncoding("utf8").on("data", (d: string) => (text += d));
  const dirs = snapshot();
  const { exitCode } = await runTransient({
    ...dirs,
    process: { args, env: extra.env ?? [], ...(extra.user !== undefined ? { user: extra.user } : {}), ...(extra.cwd !== undefined ? { cwd: extra.cwd } : {}) },
    ...(extra.network !== undefined ? { network: extra.network } : {}),
    stdout: out,
    stderr: out,
    stateDir,
  });
  return { exitCode, text, dirs };
}

describe.runIf(root)("runTransient", () => {
  afterAll(async () => {
    await cleanupTransient(stateDir);
    rmSync(tmp, { recursive: true, force: true });
  });

  it("returns the process's exit code and output, keeps changes in the upper dir", async () => {
    const r = await run(["sh", "-c", "echo hello; echo data > /created; exit 3"]);
    expect(r.exitCode).toBe(3);
    expect(r.text).toBe("hello\n");
    expect(readFileSync(join(r.dirs.upperDir, "created"), "utf8")).toBe("data\n");
  });

  // the sealed copy is the addon's (without it, runc runs as itself)
  it.runIf(process.env.BERTH_NO_NATIVE !== "1")("starts the containers after one that said another follows from runc's sealed copy", async () => {
    const first = snapshot();
    const out = new PassThrough();
    out.resume();
    await runTransient({ ...first, process: { args: ["true"], env: [] }, stdout: out, stderr: out, stateDir, anotherFollows: true });
    // the copy is made on the thread pool meanwhile
    for (let i = 0; i < 100 && !runtimeExecutable("runc").startsWith("/proc/"); i++) await new Promise((r) => setTimeout(r, 20));
    const exe = runtimeExecutable("runc");
    expect(exe).toMatch(new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
    expect(readlinkSync(exe)).toBe("/memfd:runc (deleted)");
    const r = await run(["sh", "-c", "echo from the sealed copy; exit 4"]);
    expect(r).toMatchObject({ exitCode: 4, text: "from the sealed copy\n" });
  });

  it("starts the process with no signal blocked or ignored", async () => {
    const r = await run(["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
    expect(r.text).toBe("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
  });

  it("resolves users by name and sets env, cwd and HOME", async () => {
    const r = await run(["sh", "-c", "id -u; id -g; pwd; echo $FOO $HOME"], { user: "app", env: ["FOO=bar"], cwd: "/tmp" });
    expect(r.text).toBe("1000\n1000\n/tmp\nbar /home/app\n");
  });

  it("has loopback only with network none, the host's interfaces with host", async () => {
    const none = await run(["sh", "-c", "ls /sys/class/net"], { network: "none" });
    expect(none.text.trim()).toBe("lo");
    const host = await run(["sh", "-c", "ls /sys/class/net | wc -l"], { network: "host" });
    expect(Number(host.text.trim())).toBeGreaterThanOrEqual(1);
  });

  it("maps a missing command to 127 and a non-executable one to 126", async () => {
    await expect(run(["nosuchcommand"])).rejects.toMatchObject({ exitCode: 127 });
    await expect(run(["/etc/passwd"])).rejects.toMatchObject({ exitCode: 126 });
    await expect(run(["true"], { user: "nosuchuser" })).rejects.toBeInstanceOf(RuntimeError);
  });

  it("runs over no lower layer (FROM scratch) and over many layers, keeping the top layer's files", async () => {
    const scratch = snapshot();
    mkdirSync(join(scratch.upperDir, "bin"));
    writeFileSync(join(scratch.upperDir, "bin", "marker"), "x");
    // no lower dir: only the upper dir is seen; its marker is not executable (126, not 127: it exists)
    await expect(runTransient({ ...scratch, lowerDirs: [], process: { args: ["/bin/marker"], env: [] }, stateDir })).rejects.toMatchObject({ exitCode: 126 });
    // 48 lower dirs with long paths: more than a page as absolute paths, fine as relative ones
    const many = snapshot();
    const lowers: string[] = [];
    for (let i = 0; i < 48; i++) {
      const d = join(tmp, `layer-with-a-rather-long-name-to-fill-the-page-${String(i).padStart(3, "0")}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${i}`), String(i));
      lowers.push(d);
    }
    const out = new PassThrough();
    let text = "";
    out.setEncoding("utf8").on("data", (d: string) => (text += d));
    const r = await runTransient({ ...many, lowerDirs: [...lowers, busyboxRootfs()], process: { args: ["sh", "-c", "cat /f0 /f47"], env: [] }, stdout: out, stderr: out, stateDir });
    expect(r.exitCode).toBe(0);
    expect(text).toBe("047");
  });

  it("fails with a clear error when the root file system cannot be mounted", async () => {
    const dirs = snapshot();
    await expect(runTransient({ ...dirs, lowerDirs: [join(tmp, "no-such-layer")], process: { args: ["true"], env: [] }, stateDir })).rejects.toMatchObject({ exitCode: 125, message: expect.stringMatching(/root file system.*no-such-layer/) });
  });

  it("kills the container on abort", async () => {
    const dirs = snapshot();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const started = Date.now();
    const { exitCode } = await runTransient({ ...dirs, process: { args: ["sleep", "30"], env: [] }, stateDir, signal: ac.signal });
    expect(exitCode).toBe(137);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("leaves no mount, bundle or runc state behind", async () => {
    await run(["true"]);
    expect(readFileSync("/proc/mounts", "utf8")).not.toContain(stateDir);
    expect(existsSync(join(stateDir, "b")) ? readdirCount(join(stateDir, "b")) : 0).toBe(0);
    writeFileSync(join(tmp, "marker"), "");
  });
});

function readdirCount(dir: string): number {
  return readdirSync(dir).length;
}
