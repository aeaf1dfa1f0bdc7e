import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busyboxRootfs, busyboxTarball, hasBusybox } from "../../helpers/busybox.js";
import { startRegistry, type RegistryFixture } from "../../helpers/registry.js";

/**
 * Issue 16 item 6, CI fleets: berth inside a berth container started as a CI job's is (Docker's
 * default seccomp profile, no --privileged: no CAP_SYS_ADMIN, so no mounts and no namespaces)
 * builds an image with `--isolation chroot` and pushes it, with its cache, to a registry on the
 * host (reached through --network host); the host pulls it back and runs it.
 */
const REPO = join(import.meta.dirname, "../../..");
const BERTH = join(REPO, "bin/berth");

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root";
  if (!hasBusybox()) return "needs busybox-static";
  if (!existsSync("/usr/bin/docker-registry")) return "needs docker-registry";
  if (!existsSync(join(REPO, "native/build/Release/berth-chroot"))) return "needs native/build/Release/berth-chroot (node scripts/build-native.mjs)";
  return undefined;
}
const why = skipReason();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(why !== undefined)(`berth in a berth container${why !== undefined ? ` (skipped: ${why})` : ""}`, () => {
  const dirs: string[] = [];
  const temp = (prefix: string): string => {
    const d = mkdtempSync(join("/tmp", prefix));
    dirs.push(d);
    return d;
  };
  let env: NodeJS.ProcessEnv = {};
  let registry: RegistryFixture;
  let context = "";
  let innerStore = "";
  const berth = (args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(BERTH, args, { env, timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
      });
    });
  /** `berth run` of the image with node and berth in it, as a CI runner starts a job. */
  const job = (args: string[], opts: { user?: string } = {}): Promise<Result> => {
    const modules = realpathSync(join(REPO, "node_modules"));
    return berth([
      "run", "--rm", "--network", "host",
      ...(opts.user !== undefined ? ["--user", opts.user, "-e", "HOME=/tmp", "-e", "XDG_RUNTIME_DIR=/tmp/run"] : []),
      "-v", `${REPO}:${REPO}:ro`,
      ...(modules !== join(REPO, "node_modules") ? ["-v", `${modules}:${modules}:ro`] : []),
      "-v", `${context}:/ctx:ro`,
      "-v", `${innerStore}:/store`,
      ...(opts.user === undefined ? ["-e", "BERTH_ROOT=/store/root", "-e", "BERTH_RUN_ROOT=/store/run"] : []),
      "berth-job:1", BERTH, ...args,
    ]);
  };

  beforeAll(async () => {
    const run = temp("berth-nest-run-");
    env = { ...process.env, BERTH_ROOT: temp("berth-nest-store-"), BERTH_RUN_ROOT: run };
    // the job's image: busybox, node and the libraries it links (the host's)
    const rootfs = join(temp("berth-nest-rootfs-"), "r");
    await new Promise<void>((resolve, reject) => execFile("cp", ["-a", busyboxRootfs(), rootfs], (err) => (err ? reject(err) : resolve())));
    const ldd = await new Promise<string>((resolve, reject) => execFile("ldd", [process.execPath], (err, out) => (err ? reject(err) : resolve(out))));
    for (const file of [process.execPath, ...(ldd.match(/\/\S+/g) ?? [])]) {
      mkdirSync(join(rootfs, dirname(file)), { recursive: true });
      copyFileSync(file, join(rootfs, file));
    }
    const tar = join(temp("berth-nest-tar-"), "job.tar");
    await new Promise<void>((resolve, reject) => execFile("tar", ["-C", rootfs, "-cf", tar, "."], (err) => (err ? reject(err) : resolve())));
    expect((await berth(["import", tar, "berth-job:1"])).code).toBe(0);
    expect((await berth(["import", busyboxTarball(), "busybox:latest"])).code).toBe(0);
    registry = await startRegistry();
    expect((await berth(["tag", "busybox:latest", `${registry.host}/busybox:latest`])).code).toBe(0);
    expect((await berth(["push", `${registry.host}/busybox:latest`])).code).toBe(0);
    context = temp("berth-nest-ctx-");
    writeFileSync(
      join(context, "Dockerfile"),
      `FROM ${registry.host}/busybox:latest\nRUN echo built-in-a-job > /made && rm /bin/vi\nCOPY note /note\nRUN cat /note >> /made && echo ci:x:1234:1234::/tmp:/bin/sh >> /etc/passwd\nUSER ci\nRUN id -u > /tmp/uid\n`,
    );
    writeFileSync(join(context, "note"), "with a note\n");
    innerStore = temp("berth-nest-inner-");
  }, 120_000);

  afterAll(async () => {
    await registry?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("builds with --isolation chroot inside an unprivileged container, pushes with its cache, and the host runs the image", async () => {
    const image = `${registry.host}/nested:1`;
    const built = await job(["build", "--isolation", "chroot", "--progress", "plain", "-t", image, "--cache-to", `type=registry,ref=${registry.host}/nested:cache`, "/ctx"]);
    expect(built.stderr + built.stdout).toContain("--isolation chroot: RUN steps run in a chroot");
    expect(built.code, built.stderr).toBe(0);
    const pushed = await job(["push", image]);
    expect(pushed.code, pushed.stderr).toBe(0);

    // the host: pull and run it (a container of the host's default isolation)
    expect((await berth(["pull", image])).code).toBe(0);
    const ran = await berth(["run", "--rm", "--network", "none", image, "sh", "-c", "cat /made /tmp/uid; id -un; ls /bin/vi 2>&1 || true"]);
    expect(ran.stdout).toBe("built-in-a-job\nwith a note\n1234\nci\nls: /bin/vi: No such file or directory\n");

    // the cache pushed from the job serves another store: every step is a hit
    rmSync(join(innerStore, "root"), { recursive: true, force: true });
    const again = await job(["build", "--isolation", "chroot", "--progress", "plain", "-t", image, "--cache-from", `type=registry,ref=${registry.host}/nested:cache`, "/ctx"]);
    expect(again.code, again.stderr).toBe(0);
    expect((again.stderr.match(/CACHED/g) ?? []).length).toBe(4);
  }, 240_000);

  it("without --isolation chroot, says it cannot make containers there and names the flag", async () => {
    const built = await job(["build", "-t", "x", "/ctx"]);
    expect(built.code).not.toBe(0);
    expect(built.stderr).toContain("without CAP_SYS_ADMIN");
    expect(built.stderr).toContain("--isolation chroot");
  }, 120_000);

  it("as an ordinary user there (no root, no user namespaces), says so and names what works", async () => {
    const built = await job(["build", "-t", "x", "/ctx"], { user: "1000" });
    expect(built.code, built.stderr).toBe(125);
    expect(built.stderr).toContain("may not make a user namespace");
    expect(built.stderr).toContain("as root in the job's container and build with --isolation chroot");
  }, 120_000);

  it("takes BERTH_ISOLATION=chroot from the environment, and refuses an isolation it does not know, naming the flag", async () => {
    const saved = env;
    env = { ...saved, BERTH_ISOLATION: "chroot" };
    try {
      const built = await berth(["build", "--progress", "plain", "-t", "from-env", context]);
      expect(built.code, built.stderr).toBe(0);
      expect(built.stderr).toContain("--isolation chroot: RUN steps run in a chroot");
    } finally {
      env = saved;
    }
    const bad = await berth(["build", "--isolation", "vm", context]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('--isolation: unsupported isolation "vm" (want default or chroot)');
  }, 120_000);
});
