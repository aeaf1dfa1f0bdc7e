import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildError, type BuildOptions } from "../../../src/builder/index.js";
import type { CacheExportSpec, CacheImportSpec } from "../../../src/builder/cache-options.js";
import { parseCacheFrom, parseCacheTo } from "../../../src/builder/cache-options.js";
import { parseRemoteReference, pullImage, pushCache, pushStoredImage, RegistryClient, type RegistryClientOptions } from "../../../src/registry/index.js";
import { openStore, type Store } from "../../../src/store/index.js";
import { freePort, startRegistry, type RegistryFixture } from "../../helpers/registry.js";
import { runBuild, workspace, writeContext, type Built } from "./helpers.js";

/** RUN needs root and runc. */
const canRun = process.getuid?.() === 0 && (existsSync("/usr/sbin/runc") || existsSync("/usr/bin/runc"));

/**
 * The CI scenario of issue 6: machine A builds and exports its cache (`--cache-to`), machine B
 * (an empty store but for the base image, a checkout in another directory) imports it
 * (`--cache-from`), runs no RUN step and makes the same image; one changed file then rebuilds
 * only the steps that depend on it. Against a real docker-registry, and as a local directory.
 *
 * Every RUN appends to a file in a cache mount (it lives under the store root), so a RUN that
 * ran on B leaves a trace there beside the build's own events.
 */
const DOCKERFILE = `FROM busybox AS builder
RUN --mount=type=cache,target=/cache echo run >> /cache/runs; mkdir -p /out && echo built > /out/lib.txt
COPY src/ /src/
RUN --mount=type=cache,target=/cache echo run >> /cache/runs; cat /src/a.txt /src/b.txt > /out/all.txt

FROM busybox
WORKDIR /app
COPY --from=builder /out/ /app/
COPY app.txt /app/
RUN --mount=type=cache,target=/cache echo run >> /cache/runs; wc -c /app/all.txt /app/app.txt > /app/sizes
`;
const FILES = { Dockerfile: DOCKERFILE, "src/a.txt": "alpha\n", "src/b.txt": "beta\n", "app.txt": "app v1\n" };
const RETRY_ONCE: RegistryClientOptions = { retry: { retries: 0, baseDelayMs: 10, maxDelayMs: 10 } };

type Ws = { dir: string; store: Store; stateDir: string; cleanup(): void };
let reg: RegistryFixture;
let machineA: Ws;
let baseRef = "";

/** RUN steps that ran in a store: lines in its cache mounts' `runs` files. */
function runsIn(store: Store): number {
  const mounts = store.cacheMountsDir();
  if (!existsSync(mounts)) return 0;
  let n = 0;
  for (const d of readdirSync(mounts)) {
    const f = join(mounts, d, "runs");
    if (existsSync(f)) n += readFileSync(f, "utf8").split("\n").filter(Boolean).length;
  }
  return n;
}

/** A fresh CI machine: an empty store with only the base image, pulled from the registry (same ID as on A). */
async function freshMachine(name: string): Promise<Ws> {
  mkdirSync("/tmp/berth-build-tests", { recursive: true });
  const dir = mkdtempSync(join("/tmp/berth-build-tests", `${name}-`));
  const store = await openStore(join(dir, "store"));
  const client = new RegistryClient();
  try {
    const pulled = await pullImage(client, store, parseRemoteReference(baseRef));
    await store.tag("busybox", pulled.image.id);
  } finally {
    client.close();
  }
  return { dir, store, stateDir: join(dir, "run"), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function build(ws: Ws, ctx: string, options: Partial<BuildOptions> = {}): Promise<Built> {
  return runBuild(ws, ctx, { registry: RETRY_ONCE, ...options });
}

const from = (text: string): CacheImportSpec[] => parseCacheFrom(text);
const to = (text: string): CacheExportSpec[] => parseCacheTo(text);

beforeAll(async () => {
  if (!canRun) return;
  reg = await startRegistry();
  machineA = await workspace("shared-a");
  baseRef = `${reg.host}/base/busybox:1`;
  const client = new RegistryClient();
  try {
    await pushStoredImage(client, machineA.store, "busybox", parseRemoteReference(baseRef));
  } finally {
    client.close();
  }
}, 120_000);
afterAll(async () => {
  machineA?.cleanup();
  await reg?.stop();
});

describe.skipIf(!canRun).each([
  { kind: "registry", exportTo: () => `type=registry,ref=${reg.host}/ci/cache:main,mode=max`, importFrom: () => `type=registry,ref=${reg.host}/ci/cache:main` },
  { kind: "local", exportTo: () => `type=local,dest=${join(machineA.dir, "ci-cache")},mode=max`, importFrom: () => `type=local,src=${join(machineA.dir, "ci-cache")}` },
])("shared build cache, type=$kind", ({ kind, exportTo, importFrom }) => {
  let built: Built;
  let machineB: Ws;
  let ctxB = "";
  afterAll(() => machineB?.cleanup());

  it("machine A builds and exports its cache", async () => {
    const ctxA = writeContext(join(machineA.dir, `ctx-${kind}`), FILES);
    built = await build(machineA, ctxA, { cacheTo: to(exportTo()) });
    expect(built.cacheExchange?.exported).toHaveLength(1);
    // mode=max: all 7 layer steps of both stages (3 + 4).
    expect(built.cacheExchange?.exported[0]?.entries).toBe(7);
  }, 120_000);

  it("machine B (empty store, other checkout dir) runs no RUN step and makes the same image", async () => {
    machineB = await freshMachine(`shared-b-${kind}`);
    ctxB = writeContext(join(machineB.dir, "checkout", "repo"), FILES);
    const r = await build(machineB, ctxB, { cacheFrom: from(importFrom()) });
    expect(r.executedNames).toEqual([]);
    expect(r.executedSteps).toBe(0);
    expect(runsIn(machineB.store)).toBe(0);
    expect(r.imageId).toBe(built.imageId);
    expect(r.warnings).toEqual([]);
    expect(r.cacheExchange?.remoteHits).toBe(7);
    expect(r.cacheExchange?.layersFetched).toBeGreaterThan(0);
    // Pushed, both machines' images have the same manifest digest too (the same gzip blobs).
    const client = new RegistryClient();
    try {
      const pa = await pushStoredImage(client, machineA.store, built.imageId, parseRemoteReference(`${reg.host}/ci/app-${kind}:a`));
      const pb = await pushStoredImage(client, machineB.store, r.imageId, parseRemoteReference(`${reg.host}/ci/app-${kind}:b`));
      expect(pb.manifestDigest).toBe(pa.manifestDigest);
    } finally {
      client.close();
    }
    // The hits are in B's own cache now: a second build needs no import.
    const again = await build(machineB, ctxB);
    expect(again.executedSteps).toBe(0);
    expect(again.imageId).toBe(built.imageId);
  }, 120_000);

  it("one changed file on B rebuilds only the steps that depend on it", async () => {
    writeFileSync(join(ctxB, "app.txt"), "app v2, longer\n");
    const r = await build(machineB, ctxB, { cacheFrom: from(importFrom()) });
    expect(r.executedNames.map((n) => n.replace(/^\[[^\]]*\] /, ""))).toEqual([
      "COPY app.txt /app/",
      "RUN --mount=type=cache,target=/cache echo run >> /cache/runs; wc -c /app/all.txt /app/app.txt > /app/sizes",
    ]);
    expect(runsIn(machineB.store)).toBe(1);
    expect(r.imageId).not.toBe(built.imageId);
  }, 120_000);

  it("B exporting back to the ref it imported from (the usual CI line) keeps every step's record", async () => {
    const r = await build(machineB, ctxB, { cacheFrom: from(importFrom()), cacheTo: to(exportTo()) });
    expect(r.executedSteps).toBe(0);
    expect(r.cacheExchange?.exported[0]?.entries).toBe(7);
    // A third machine gets B's result from it.
    const machineC = await freshMachine(`shared-c-${kind}`);
    try {
      const c = await build(machineC, writeContext(join(machineC.dir, "repo"), { ...FILES, "app.txt": "app v2, longer\n" }), { cacheFrom: from(importFrom()) });
      expect(c.executedSteps).toBe(0);
      expect(c.imageId).toBe(r.imageId);
    } finally {
      machineC.cleanup();
    }
  }, 120_000);
});

describe.skipIf(!canRun)("shared build cache: mode=min and bad sources", () => {
  let machineB: Ws;
  beforeAll(async () => {
    machineB = await freshMachine("shared-bad");
  }, 120_000);
  afterAll(() => machineB?.cleanup());

  it("mode=min exports only the image's stage chain: B reruns the builder stage, hits the rest, same image", async () => {
    const ctxA = writeContext(join(machineA.dir, "ctx-min"), FILES);
    const a = await build(machineA, ctxA, { cacheTo: to(`type=registry,ref=${reg.host}/ci/cache:min`) });
    expect(a.cacheExchange?.exported[0]?.entries).toBe(4); // WORKDIR, COPY --from, COPY, RUN
    const ctxB = writeContext(join(machineB.dir, "ctx-min"), FILES);
    const r = await build(machineB, ctxB, { cacheFrom: from(`${reg.host}/ci/cache:min`) });
    expect(r.executedNames.map((n) => n.replace(/^\[[^\]]*\] /, "").slice(0, 3))).toEqual(["RUN", "COP", "RUN"]);
    expect(r.imageId).toBe(a.imageId);
  }, 180_000);

  it("a ref that is not a berth cache, an unreachable registry, a corrupt local index: a warning naming it, the build goes on, the store untouched by the import", async () => {
    const ctx = writeContext(join(machineB.dir, "ctx-bad"), { Dockerfile: "FROM busybox\nRUN echo hi > /hi\n" });
    const first = await build(machineB, ctx);
    const layersBefore = readdirSync(join(machineB.store.root, "layers")).sort();
    const unreachable = `127.0.0.1:${await freePort()}/nothing/here:1`;
    const corrupt = join(machineB.dir, "corrupt-cache");
    // A layout cache whose index blob no longer matches its digest.
    await build(machineB, ctx, { cacheTo: to(`type=local,dest=${corrupt}`) });
    const manifest = JSON.parse(readFileSync(join(corrupt, "blobs/sha256", (JSON.parse(readFileSync(join(corrupt, "index.json"), "utf8")) as { manifests: { digest: string }[] }).manifests[0]!.digest.slice(7)), "utf8")) as { config: { digest: string } };
    writeFileSync(join(corrupt, "blobs/sha256", manifest.config.digest.slice(7)), "{ not json");
    // A berth cache artifact whose index has an entry the builder cannot use.
    const badIndexRef = `${reg.host}/ci/bad-index:1`;
    const client = new RegistryClient();
    try {
      await pushCache(client, parseRemoteReference(badIndexRef), { version: 1, entries: { "sha256:0": { layers: [], diffId: null } }, layers: {} }, () => {
        throw new Error("no layers");
      });
    } finally {
      client.close();
    }
    const r = await build(machineB, ctx, {
      cacheFrom: [
        ...from(`type=registry,ref=${baseRef}`),
        ...from(`type=registry,ref=${unreachable}`),
        ...from(`type=local,src=${corrupt}`),
        ...from(badIndexRef),
      ],
    });
    expect(r.imageId).toBe(first.imageId);
    expect(r.warnings, r.warnings.join("\n")).toHaveLength(4);
    expect(r.warnings[3]).toContain(badIndexRef);
    expect(r.warnings[3]).toContain("corrupt build cache index: entry sha256:0 has no created time");
    expect(r.warnings[0]).toContain(baseRef);
    expect(r.warnings[0]).toContain("not a berth build cache");
    expect(r.warnings[1]).toContain(unreachable);
    expect(r.warnings[2]).toContain(corrupt);
    expect(r.warnings[2]).toMatch(/does not match its digest/);
    expect(readdirSync(join(machineB.store.root, "layers")).sort()).toEqual(layersBefore);
    // With nothing cached locally it still builds (and runs the step).
    const fresh = await build(machineB, writeContext(join(machineB.dir, "ctx-bad2"), { Dockerfile: "FROM busybox\nRUN echo other > /o\n" }), { cacheFrom: from(`type=registry,ref=${unreachable}`) });
    expect(fresh.executedSteps).toBe(1);
    expect(fresh.warnings[0]).toContain(unreachable);
  }, 120_000);

  it("a cached layer the registry lost: a warning, that step runs, the rest still hits", async () => {
    const ctxA = writeContext(join(machineA.dir, "ctx-lost"), { Dockerfile: "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n" });
    const a = await build(machineA, ctxA, { cacheTo: to(`type=registry,ref=${reg.host}/ci/lost:1`) });
    // Delete the blob of the first RUN's layer from the registry's storage.
    const firstLayer = a.image.layers[a.image.layers.length - 2]!;
    const blob = await machineA.store.compressedLayerBlob(firstLayer.diffId);
    rmSync(join(reg.storageDir, "docker/registry/v2/blobs/sha256", blob.digest.slice(7, 9), blob.digest.slice(7)), { recursive: true, force: true });
    const ctxB = writeContext(join(machineB.dir, "ctx-lost"), { Dockerfile: "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n" });
    const r = await build(machineB, ctxB, { cacheFrom: from(`${reg.host}/ci/lost:1`) });
    expect(r.warnings.join("\n")).toContain(`${reg.host}/ci/lost:1: cannot fetch a cached layer, running the step instead`);
    // The first RUN ran (its layer was lost); the second's key depends on the first's (same
    // key: RUN output is the same), so it still hits.
    expect(r.executedNames.map((n) => n.replace(/^\[[^\]]*\] /, ""))).toEqual(["RUN echo one > /one"]);
    expect(r.cachedNames.map((n) => n.replace(/^\[[^\]]*\] /, ""))).toEqual(["RUN echo two > /two"]);
  }, 120_000);

  it("--cache-to an unreachable registry fails after the image is built, naming the ref", async () => {
    const ctx = writeContext(join(machineB.dir, "ctx-to"), { Dockerfile: "FROM busybox\nRUN echo to > /to\n" });
    const ref = `127.0.0.1:${await freePort()}/ci/cache:x`;
    const err = await build(machineB, ctx, { cacheTo: to(`type=registry,ref=${ref}`) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).message).toContain(`--cache-to type=registry,ref=${ref}`);
    const id = /image (sha256:[a-f0-9]{64}) was built/.exec((err as BuildError).message)?.[1];
    expect(id).toBeDefined();
    expect(await machineB.store.imageExists(id as never)).toBe(true);
    // ignore-error=true: a warning, the build succeeds.
    const ok = await build(machineB, ctx, { cacheTo: to(`type=registry,ref=${ref},ignore-error=true`) });
    expect(ok.warnings.join("\n")).toContain(ref);
  }, 120_000);
});
