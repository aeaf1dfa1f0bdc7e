import { execFile } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeCredentials } from "../../../src/registry/index.js";
import { importRootfs } from "../../../src/image/index.js";
import { openStore } from "../../../src/store/index.js";
import { busyboxTarball } from "../../helpers/busybox.js";
import { freePort, startRegistry, type RegistryFixture } from "../../helpers/registry.js";

const BERTH = join(import.meta.dirname, "../../../bin/berth");

function berth(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BERTH, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
  });
}

let work: string;
let root: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "berth-search-"));
  root = join(work, "store");
  const store = await openStore(root);
  await importRootfs(store, createReadStream(busyboxTarball()), { source: "busybox.tar", tag: "busybox:latest" });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("berth search (docker-registry's catalog)", () => {
  let reg: RegistryFixture;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    reg = await startRegistry();
    env = { BERTH_ROOT: root, DOCKER_CONFIG: await mkdtemp(join(work, "docker-")) };
    for (const name of ["tools/busybox", "web/nginx-like", "tools/curl"]) {
      expect((await berth(["tag", "busybox", `${reg.host}/${name}:1`], env)).code).toBe(0);
      expect((await berth(["push", "-q", `${reg.host}/${name}:1`], env)).code).toBe(0);
    }
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("lists the registry's repositories whose names contain the term, in Docker's columns", async () => {
    const res = await berth(["search", `${reg.host}/tools`], env);
    expect(res).toMatchObject({ code: 0, stderr: "" });
    const lines = res.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/))).toEqual([
      [`${reg.host}/tools/busybox`, "0"],
      [`${reg.host}/tools/curl`, "0"],
    ]);
    expect((await berth(["search", "--limit", "1", "--format", "{{.Name}}", `${reg.host}/o`], env)).stdout).toBe(`${reg.host}/tools/busybox\n`);
    expect((await berth(["search", "--format", "{{.Name}}", `${reg.host}/NGINX`], env)).stdout).toBe(`${reg.host}/web/nginx-like\n`);
    expect((await berth(["search", "--filter", "stars=1", "--format", "{{.Name}}", `${reg.host}/tools`], env)).stdout).toBe("");
    const json = await berth(["search", "--format", "json", `${reg.host}/curl`], env);
    expect(JSON.parse(json.stdout)).toEqual({ Description: "", IsOfficial: "false", Name: `${reg.host}/tools/curl`, StarCount: "0" });
  });

  it("refuses a bad limit or filter with Docker's words", async () => {
    const limit = await berth(["search", "--limit", "101", `${reg.host}/x`], env);
    expect(limit.code).toBe(1);
    expect(limit.stderr).toContain("limit 101 is outside the range of [1, 100]");
    const filter = await berth(["search", "--filter", "colour=red", `${reg.host}/x`], env);
    expect(filter.code).toBe(1);
    expect(filter.stderr).toContain("invalid filter 'colour'");
  });

  it("a registry that does not answer, and Docker Hub out of reach, are errors naming the registry and why", async () => {
    const port = await freePort();
    const down = await berth(["search", `127.0.0.1:${port}/x`], env);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`127.0.0.1:${port}`);
    expect(down.stderr).toMatch(/unreachable|ECONNREFUSED/);
    // no internet here: docker.io's search API cannot answer
    const hub = await berth(["search", "busybox"], env);
    expect(hub.code).toBe(1);
    expect(hub.stdout).toBe("");
    expect(hub.stderr).toMatch(/^docker\.io: cannot search Docker Hub: index\.docker\.io is unreachable: /);
  });
});

describe("push without a login to a registry that wants one", () => {
  let reg: RegistryFixture;
  beforeAll(async () => {
    reg = await startRegistry({ auth: "htpasswd" });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("says the registry wants authentication and names `berth login REGISTRY`; after login the push works", async () => {
    const env = { BERTH_ROOT: root, DOCKER_CONFIG: await mkdtemp(join(work, "docker-auth-")) };
    const ref = `${reg.host}/private/app:1`;
    expect((await berth(["tag", "busybox", ref], env)).code).toBe(0);
    const denied = await berth(["push", ref], env);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("unauthorized: authentication required");
    expect(denied.stderr).toContain(`berth login ${reg.host}`);
    const search = await berth(["search", `${reg.host}/app`], env);
    expect(search.code).toBe(1);
    expect(search.stderr).toContain(`berth login ${reg.host}`);

    await storeCredentials(reg.host, { username: reg.username, password: reg.password }, join(env.DOCKER_CONFIG, "config.json"));
    expect((await berth(["push", "-q", ref], env)).code).toBe(0);
    expect((await berth(["search", "--format", "{{.Name}}", `${reg.host}/app`], env)).stdout).toBe(`${reg.host}/private/app\n`);
  });
});
