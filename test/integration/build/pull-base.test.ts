import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRemoteReference, pushStoredImage, RegistryClient } from "../../../src/registry/index.js";
import { openStore } from "../../../src/store/index.js";
import { freePort, startRegistry, type RegistryFixture } from "../../helpers/registry.js";
import { berthCli, readImageFile, runBuild, workspace, writeContext } from "./helpers.js";

const canRun = process.getuid?.() === 0 && (existsSync("/usr/sbin/runc") || existsSync("/usr/bin/runc"));

/** Issue 6: `FROM` of an image missing from the store pulls it; `--pull` always asks the registry. */
describe.skipIf(!canRun)("FROM pulls a base image the store lacks", () => {
  let reg: RegistryFixture;
  let source: Awaited<ReturnType<typeof workspace>>;
  let baseRef = "";
  let pushedId = "";
  const dirs: string[] = [];

  async function emptyMachine() {
    mkdirSync("/tmp/berth-build-tests", { recursive: true });
    const dir = mkdtempSync(join("/tmp/berth-build-tests", "pull-base-"));
    dirs.push(dir);
    return { dir, store: await openStore(join(dir, "store")), stateDir: join(dir, "run") };
  }

  beforeAll(async () => {
    reg = await startRegistry();
    source = await workspace("pull-base-src");
    baseRef = `${reg.host}/base/busybox:1`;
    const client = new RegistryClient();
    try {
      pushedId = (await pushStoredImage(client, source.store, "busybox", parseRemoteReference(baseRef))).imageId;
    } finally {
      client.close();
    }
  }, 120_000);
  afterAll(async () => {
    source?.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await reg?.stop();
  });

  it("berth run pulls an image the store lacks (--pull missing), --pull always asks again, --pull never refuses", async () => {
    const m = await emptyMachine();
    const root = join(m.dir, "store");
    const run = berthCli(root, ["run", "--rm", baseRef, "echo", "ran-after-pull"]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe("ran-after-pull\n");
    expect(run.stderr).toContain(`Unable to find image '${baseRef}' locally`);
    expect(run.stderr).toMatch(/Status: Downloaded newer image for /);
    expect((await m.store.resolveImage(baseRef)).id).toBe(pushedId);
    const again = berthCli(root, ["run", "--rm", "--pull", "always", baseRef, "true"]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/Status: Image is up to date for /);
    const empty = join((await emptyMachine()).dir, "store");
    const never = berthCli(empty, ["create", "--pull", "never", baseRef]);
    expect(never.status).toBe(125);
    expect(never.stderr).toContain("No such image");
    expect(never.stderr).not.toContain("Pulling from");
    const bad = berthCli(empty, ["run", "--pull", "sometimes", baseRef]);
    expect(bad.status).toBe(125);
    expect(bad.stderr).toContain(`invalid pull option: 'sometimes': must be one of "always", "missing" or "never"`);
  }, 120_000);

  it("pulls the missing base, then builds on it", async () => {
    const m = await emptyMachine();
    const ctx = writeContext(join(m.dir, "ctx"), { Dockerfile: `FROM ${baseRef}\nRUN echo pulled > /marker\n` });
    const built = await runBuild(m, ctx);
    expect(built.image.layers).toHaveLength(2);
    expect(await readImageFile(built.image, "/marker")).toBe("pulled\n");
    expect((await m.store.resolveImage(baseRef)).id).toBe(pushedId);
  }, 120_000);

  it("--pull checks the registry even when the image is in the store, and fails when it cannot reach it", async () => {
    const m = await emptyMachine();
    const ctx = writeContext(join(m.dir, "ctx"), { Dockerfile: `FROM ${baseRef}\nRUN true\n` });
    await runBuild(m, ctx); // pulls once
    await reg.stop();
    try {
      await expect(runBuild(m, ctx)).resolves.toBeDefined(); // in the store: no registry needed
      await expect(runBuild(m, ctx, { pull: true })).rejects.toThrow(reg.host);
    } finally {
      reg = await startRegistry();
    }
  }, 120_000);

  it("a base that is neither in the store nor pullable names both failures", async () => {
    const m = await emptyMachine();
    const ref = `127.0.0.1:${await freePort()}/nowhere/base:1`;
    const ctx = writeContext(join(m.dir, "ctx"), { Dockerfile: `FROM ${ref}\nRUN true\n` });
    await expect(runBuild(m, ctx)).rejects.toThrow(/No such image.*pulling it failed/);
    expect(await m.store.listImages()).toHaveLength(0);
  }, 120_000);
});
