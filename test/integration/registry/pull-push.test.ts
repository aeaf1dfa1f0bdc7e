import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Digest } from "../../../src/image/digest.js";
import { storeCredentials } from "../../../src/registry/index.js";
import { openStore, type ImageRecord, type Store } from "../../../src/store/index.js";
import { importRootfs } from "../../../src/image/index.js";
import { busyboxTarball } from "../../helpers/busybox.js";
import { startRegistry, type RegistryFixture } from "../../helpers/registry.js";

const BERTH = join(import.meta.dirname, "../../../bin/berth");

function berth(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BERTH, ...args], { env: { ...process.env, ...env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
  });
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "berth-pullpush-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** busybox + one layer made in a snapshot (uncompressed in the store: push must gzip it) + `extraMiB` of random files. */
async function buildImage(store: Store, tag: string, extraMiB = 0): Promise<ImageRecord> {
  const base = await importRootfs(store, createReadStream(busyboxTarball()), { source: "busybox.tar" });
  const diffIds: Digest[] = [...base.config.rootfs.diff_ids];
  const layers = extraMiB > 0 ? 3 : 1;
  for (let i = 0; i < layers; i++) {
    const snap = await store.prepareSnapshot(diffIds);
    await writeFile(join(snap.upperDir, `hello-${i}.txt`), `hello ${i} ${tag}\n`);
    if (extraMiB > 0) await writeFile(join(snap.upperDir, `random-${i}.bin`), randomBytes(Math.round((extraMiB / layers) * 2 ** 20)));
    const layer = await store.commitSnapshot(snap);
    diffIds.push(layer.diffId);
  }
  const config = { ...base.config, rootfs: { type: "layers" as const, diff_ids: diffIds }, history: diffIds.map((_, i) => ({ created_by: `step ${i}` })) };
  return store.createImage(config, { tags: [tag] });
}

async function storeSnapshot(root: string): Promise<{ images: string[]; layers: string[] }> {
  const s = await openStore(root);
  return { images: (await s.listImages()).map((i) => i.id), layers: (await readdir(join(root, "layers"))).sort() };
}

describe.each(["none", "token"] as const)("berth push / pull against docker-registry (auth: %s)", (auth) => {
  let reg: RegistryFixture;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    reg = await startRegistry({ auth });
    const dockerConfig = await mkdtemp(join(work, "docker-"));
    env = { DOCKER_CONFIG: dockerConfig };
    if (auth !== "none") await storeCredentials(reg.host, { username: reg.username, password: reg.password }, join(dockerConfig, "config.json"));
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("push from one store, pull into an empty one: same image ID, manifest digest and layers; a re-pull skips every layer", async () => {
    const rootA = join(work, `a-${auth}`);
    const rootB = join(work, `b-${auth}`);
    const a = await openStore(rootA);
    const ref = `${reg.host}/berth/app:v1`;
    const img = await buildImage(a, ref);
    const pushed = await berth(["--root", rootA, "push", ref], env);
    expect(pushed.stderr).not.toContain("internal error");
    expect(pushed.code).toBe(0);
    const afterPush = await a.resolveImage(ref);
    expect(afterPush.id).toBe(img.id);
    expect(pushed.stdout).toContain(afterPush.manifestDigest);

    const pulled = await berth(["--root", rootB, "pull", ref], env);
    expect(pulled.code).toBe(0);
    expect(pulled.stdout).toContain(afterPush.manifestDigest);
    // per-layer progress: each finished layer with its size and rate
    expect(pulled.stderr).toMatch(/^[0-9a-f]{12}: Pull complete [\d.]+k?B at [\d.]+[kMG]?B\/s$/m);
    const b = await openStore(rootB);
    const got = await b.resolveImage(ref);
    expect(got.id).toBe(img.id);
    expect(got.manifestDigest).toBe(afterPush.manifestDigest);
    expect(got.layers.map((l) => l.diffId)).toEqual(img.layers.map((l) => l.diffId));
    const top = got.layers.at(-1)!;
    expect((await readdir(top.dir)).sort()).toContain("hello-0.txt");

    if (auth === "none") {
      // the pulled image runs
      const run = await berth(["--root", rootB, "run", "--rm", ref, "cat", "/hello-0.txt"], env);
      expect(run.stderr).toBe("");
      expect(run.stdout).toBe(`hello 0 ${ref}\n`);
    }

    const again = await berth(["--root", rootB, "pull", ref], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("Already exists");
    expect(again.stderr).not.toContain("Pull complete");

    // a second push sends no blob again
    const repush = await berth(["--root", rootA, "push", ref], env);
    expect(repush.code).toBe(0);
    expect(repush.stderr).not.toContain("Pushed");

    // the same image under another repository of the registry: blobs are mounted, not sent
    const other = `${reg.host}/berth/copy:v1`;
    await a.tag(other, img.id);
    const mounted = await berth(["--root", rootA, "push", other], env);
    expect(mounted.code).toBe(0);
    expect(mounted.stderr).toContain("Mounted from another repository");
    expect(mounted.stderr).not.toContain("Pushed");
  });

  it("unknown repository: exit non-zero naming the reference and 404, store unchanged", async () => {
    const root = join(work, `c-${auth}`);
    await openStore(root);
    const before = await storeSnapshot(root);
    const res = await berth(["--root", root, "pull", `${reg.host}/berth/missing:v1`], env);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(`${reg.host}/berth/missing:v1`);
    expect(res.stderr).toContain("404");
    expect(await storeSnapshot(root)).toEqual(before);
  });
});

describe("bad input and faults", () => {
  let reg: RegistryFixture;
  beforeAll(async () => {
    reg = await startRegistry({ auth: "htpasswd" });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  async function pushTestImage(name: string, extraMiB = 0): Promise<{ ref: string; img: ImageRecord; env: NodeJS.ProcessEnv }> {
    const dockerConfig = await mkdtemp(join(work, "docker-"));
    await storeCredentials(reg.host, { username: reg.username, password: reg.password }, join(dockerConfig, "config.json"));
    const env = { DOCKER_CONFIG: dockerConfig };
    const root = join(work, `src-${name}`);
    const ref = `${reg.host}/berth/${name}:v1`;
    const img = await buildImage(await openStore(root), ref, extraMiB);
    const res = await berth(["--root", root, "push", ref], env);
    expect(res.stderr).toBe(res.code === 0 ? res.stderr : "");
    return { ref, img, env };
  }

  it("wrong password: 401 naming the reference, store unchanged", async () => {
    const { ref } = await pushTestImage("pw");
    const dockerConfig = await mkdtemp(join(work, "docker-bad-"));
    await storeCredentials(reg.host, { username: reg.username, password: "wrong" }, join(dockerConfig, "config.json"));
    const root = join(work, "pw-dst");
    await openStore(root);
    const before = await storeSnapshot(root);
    const res = await berth(["--root", root, "pull", ref], { DOCKER_CONFIG: dockerConfig });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(ref);
    expect(res.stderr).toContain("401");
    expect(await storeSnapshot(root)).toEqual(before);
  });

  it("a layer blob whose bytes do not match its digest: digest mismatch, no image, no layer", async () => {
    const { ref, img, env } = await pushTestImage("corrupt");
    const layerDigest = (img.manifest.layers.at(-1)!.digest as string).slice(7);
    // the pushed manifest names gzip blobs: find the one the registry holds for the last layer
    const blobsDir = join(reg.storageDir, "docker/registry/v2/blobs/sha256");
    const all: string[] = [];
    for (const p of await readdir(blobsDir)) for (const h of await readdir(join(blobsDir, p))) all.push(h);
    const manifest = (await openStore(join(work, "src-corrupt")).then((s) => s.resolveImage(ref))).manifest;
    const target = manifest.layers.at(-1)!.digest.slice(7);
    expect(all).toContain(target);
    void layerDigest;
    const data = join(blobsDir, target.slice(0, 2), target, "data");
    const { stat } = await import("node:fs/promises");
    await writeFile(data, randomBytes((await stat(data)).size));
    const root = join(work, "corrupt-dst");
    await openStore(root);
    const res = await berth(["--root", root, "pull", ref], env);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(ref);
    expect(res.stderr).toMatch(/hashes to|mismatch/);
    const after = await storeSnapshot(root);
    expect(after.images).toEqual([]);
    const s = await openStore(root);
    expect(await s.layer(img.layers.at(-1)!.diffId)).toBeUndefined();
  });

  it("a pull killed with SIGKILL leaves no image; the next pull completes", async () => {
    const { ref, img, env } = await pushTestImage("big", 90);
    const root = join(work, "kill-dst");
    await openStore(root);
    const child = spawn(process.execPath, [BERTH, "--root", root, "pull", ref], { env: { ...process.env, ...env }, stdio: "ignore" });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    // kill once the first layer record is committed (the pull is then half done)
    let killed = false;
    for (let i = 0; i < 2000 && child.exitCode === null; i++) {
      const layers = await readdir(join(root, "layers")).catch(() => []);
      if (layers.filter((f) => f.endsWith(".json")).length >= 1) {
        child.kill("SIGKILL");
        killed = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await exited;
    expect(killed).toBe(true);
    const s = await openStore(root);
    expect(await s.listImages()).toEqual([]);
    await expect(s.resolveImage(ref)).rejects.toThrow(/No such image/);
    const res = await berth(["--root", root, "pull", ref], env);
    expect(res.code).toBe(0);
    const got = await s.resolveImage(ref);
    expect(got.id).toBe(img.id);
  });
});
