import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryBase } from "../../../src/builder/memory-dir.js";
import { BERTH, berthCli, writeContext } from "./helpers.js";
import { busyboxTarball } from "../../helpers/busybox.js";

/**
 * Secrets never touch a disk: a `--secret` file is held on a tmpfs while its RUN runs, an env
 * secret reaches the command through an fd (or, without the wrapper, a config.json on a tmpfs),
 * and a build killed with SIGKILL mid-RUN leaves them on no disk; the next build sweeps its
 * memory dir. The secret source files live in a dir the greps skip.
 */
const canRun = process.getuid?.() === 0 && existsSync(busyboxTarball());

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe.runIf(canRun)("secrets stay off disks", () => {
  let dir: string;
  let store: string;
  let srcDir: string;
  const token = () => `berth-secret-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  beforeAll(() => {
    mkdirSync("/tmp/berth-build-tests", { recursive: true });
    dir = mkdtempSync("/tmp/berth-build-tests/secrets-");
    store = join(dir, "store");
    srcDir = mkdtempSync("/tmp/berth-secret-src-");
    const r = berthCli(store, ["import", busyboxTarball(), "busybox"]);
    expect(r.status, r.stderr).toBe(0);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(srcDir, { recursive: true, force: true });
  });

  /** Files under these dirs that contain `value` (the secret sources' dir skipped). */
  const onDisk = (value: string): string[] => {
    const r = spawnSync("grep", ["-rlsF", "--devices=skip", `--exclude-dir=${srcDir.split("/").pop()}`, value, "/tmp", "/run", store], { encoding: "utf8", timeout: 120_000 });
    return r.stdout.split("\n").filter((l) => l !== "");
  };
  const inMemoryDirs = (value: string): string[] => {
    const base = memoryBase();
    if (base === null || !existsSync(base)) return [];
    const r = spawnSync("grep", ["-rlsF", value, base], { encoding: "utf8" });
    return r.stdout.split("\n").filter((l) => l !== "");
  };

  for (const variant of [{ label: "with the wrapper", env: {} }, { label: "without the addon or wrapper", env: { BERTH_NO_NATIVE: "1" } }]) {
    it(`${variant.label}: a file and an env secret reach the RUN and nothing else`, () => {
      const fileSecret = token();
      const envSecret = token();
      writeFileSync(join(srcDir, "tok"), fileSecret);
      const ctx = writeContext(join(dir, `ctx-${Object.keys(variant.env).length}`), {
        Dockerfile: [
          "FROM busybox",
          // hashes, not the values: the Dockerfile's text reaches the image's history
          `RUN --mount=type=secret,id=tok --mount=type=secret,id=envtok,env=MYTOK sh -c 'test "$(sha256sum < /run/secrets/tok)" = "${sha(fileSecret)}  -" && test "$(printf %s "$MYTOK" | sha256sum)" = "${sha(envSecret)}  -"'`,
        ].join("\n"),
      });
      const r = berthCli(store, ["build", "--progress", "plain", "-t", "sec", "--secret", `id=tok,src=${join(srcDir, "tok")}`, "--secret", "id=envtok,env=SRC_TOKEN", ctx], {
        env: { SRC_TOKEN: envSecret, ...variant.env },
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain("writing image");
      expect(onDisk(fileSecret)).toEqual([]);
      expect(onDisk(envSecret)).toEqual([]);
      expect(inMemoryDirs(fileSecret)).toEqual([]);
      expect(inMemoryDirs(envSecret)).toEqual([]);
    }, 180_000);
  }

  it("kill -9 mid-RUN leaves the secrets on no disk; the next build sweeps them", async () => {
    const fileSecret = token();
    const envSecret = token();
    writeFileSync(join(srcDir, "tok"), fileSecret);
    const ctx = writeContext(join(dir, "ctx-kill"), {
      Dockerfile: "FROM busybox\nRUN --mount=type=secret,id=tok --mount=type=secret,id=envtok,env=MYTOK echo started && sleep 60\n",
    });
    const child = spawn(process.execPath, [BERTH, "--root", store, "build", "--progress", "plain", "--no-cache", "--secret", `id=tok,src=${join(srcDir, "tok")}`, "--secret", "id=envtok,env=SRC_TOKEN", ctx], {
      env: { ...process.env, BERTH_ROOT: "", SRC_TOKEN: envSecret },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!out.includes("started") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain("started");
    // the file secret is held in memory while the step runs
    expect(inMemoryDirs(fileSecret).length).toBe(1);
    // and the env secret is in no file at all (config.json included) while it runs; without
    // the wrapper (no addon build) it is in the config.json on the tmpfs, and on no disk
    expect(onDisk(envSecret)).toEqual([]);
    expect(inMemoryDirs(envSecret).length).toBe(process.env.BERTH_NO_NATIVE === "1" ? 1 : 0);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    expect(onDisk(fileSecret)).toEqual([]);
    expect(onDisk(envSecret)).toEqual([]);
    // the next build that runs a container sweeps the killed build (its container, its memory dir)
    const next = writeContext(join(dir, "ctx-next"), { Dockerfile: "FROM busybox\nRUN true\n" });
    const r = berthCli(store, ["build", "--no-cache", next]);
    expect(r.status, r.stderr).toBe(0);
    expect(inMemoryDirs(fileSecret)).toEqual([]);
    expect(onDisk(fileSecret)).toEqual([]);
    expect(inMemoryDirs(envSecret)).toEqual([]);
  }, 240_000);

  it("berth build warns as BuildKit does for ARG/ENV names that look like secrets", () => {
    const ctx = writeContext(join(dir, "ctx-lint"), { Dockerfile: "FROM busybox\nARG GITHUB_TOKEN\nARG KEYBOARD\nENV DB_PASSWORD=changeme\nRUN true\n" });
    const r = berthCli(store, ["build", "--progress", "plain", ctx]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(' 2 warnings found:\n - SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG "GITHUB_TOKEN") (line 2)\n');
    expect(r.stderr).toContain(' - SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ENV "DB_PASSWORD") (line 4)');
    expect(r.stderr).not.toContain("KEYBOARD");
  }, 60_000);

  it("with no tmpfs to hold it, a secret fails the step instead of landing on a disk", () => {
    const value = token();
    writeFileSync(join(srcDir, "tok"), value);
    const notTmpfs = mkdtempSync(join(dir, "disk-"));
    const ctx = writeContext(join(dir, "ctx-notmpfs"), { Dockerfile: "FROM busybox\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\n" });
    const r = berthCli(store, ["build", "--progress", "plain", "--secret", `id=tok,src=${join(srcDir, "tok")}`, ctx], { env: { BERTH_MEMORY_DIR: notTmpfs } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("secret tok: no private tmpfs dir to hold it");
    expect(onDisk(value)).toEqual([]);
  }, 60_000);
});
