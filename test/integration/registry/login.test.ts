import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryFixture } from "../../helpers/registry.js";

const BERTH = join(import.meta.dirname, "../../../bin/berth");

function berth(args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BERTH, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
    child.stdin?.end(stdin ?? "");
  });
}

describe.each(["htpasswd", "token"] as const)("berth login/logout (%s)", (auth) => {
  let reg: RegistryFixture;
  let dockerConfig: string;
  beforeAll(async () => {
    reg = await startRegistry({ auth });
    dockerConfig = await mkdtemp(join(tmpdir(), "berth-login-"));
  });
  afterAll(async () => {
    await reg?.stop();
    await rm(dockerConfig, { recursive: true, force: true });
  });

  it("stores a verified login in DOCKER_CONFIG/config.json with mode 0600 and removes it on logout", async () => {
    const env = { DOCKER_CONFIG: dockerConfig };
    const ok = await berth(["login", "-u", reg.username, "--password-stdin", reg.host], env, `${reg.password}\n`);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("Login Succeeded");
    const path = join(dockerConfig, "config.json");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const json = JSON.parse(await readFile(path, "utf8")) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(json.auths[reg.host]!.auth, "base64").toString()).toBe(`${reg.username}:${reg.password}`);

    const out = await berth(["logout", reg.host], env);
    expect(out.code).toBe(0);
    const after = JSON.parse(await readFile(path, "utf8")) as { auths: Record<string, unknown> };
    expect(after.auths[reg.host]).toBeUndefined();
  });

  it("refuses a wrong password, exits non-zero and stores nothing", async () => {
    const cfg = await mkdtemp(join(tmpdir(), "berth-login-bad-"));
    try {
      const res = await berth(["login", "-u", reg.username, "--password-stdin", reg.host], { DOCKER_CONFIG: cfg }, "wrong\n");
      expect(res.code).not.toBe(0);
      expect(res.stderr).toContain(reg.host);
      expect(res.stderr).toMatch(/401|password/);
      await expect(stat(join(cfg, "config.json"))).rejects.toMatchObject({ code: "ENOENT" });
    } finally {
      await rm(cfg, { recursive: true, force: true });
    }
  });
});
