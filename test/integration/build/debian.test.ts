import { createReadStream, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { runTransient } from "../../../src/runtime/index.js";
import { openStore } from "../../../src/store/index.js";
import { importRootfs } from "../../../src/image/index.js";
import { readImageFile, runBuild, writeContext } from "./helpers.js";
import { debianMirrorUnreachable, debianTarball } from "../../helpers/debian.js";

const work = mkdtempSync("/tmp/berth-build-debian-");
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Store = Awaited<ReturnType<typeof openStore>>;
let networkStore: Promise<{ store?: Store; why?: string }> | undefined;

/** The Debian base imported into a store (once, for the network tests), or why the test cannot run. */
function debianStore(): Promise<{ store?: Store; why?: string }> {
  networkStore ??= (async () => {
    const { tarball, why } = debianTarball();
    if (tarball === undefined) return { why: why ?? "no Debian base" };
    const store = await openStore(join(work, "store-net"));
    await importRootfs(store, createReadStream(tarball), { source: "debian.tar", tag: "debian:bookworm" });
    return { store };
  })();
  return networkStore;
}

describe("a real distribution", () => {
  it("FROM a debootstrapped Debian: apt-get install hello, then run it", async (t) => {
    const { tarball, why } = debianTarball();
    if (tarball === undefined) {
      console.warn(`skipping the Debian end-to-end test: ${why ?? ""}`);
      t.skip();
      return;
    }
    const store = await openStore(join(work, "store"));
    await importRootfs(store, createReadStream(tarball), { source: "debian.tar", tag: "debian:bookworm" });
    const ctx = writeContext(join(work, "ctx"), {
      Dockerfile: "FROM debian:bookworm\nRUN apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*\nCMD [\"hello\"]\n",
    });
    const r = await runBuild({ store, stateDir: join(work, "run") }, ctx, { tags: ["hello:latest"] });
    expect(r.image.layers.length).toBe(2);
    const snap = await store.prepareSnapshot(r.image.layers.map((l) => l.diffId));
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on("data", (c: Buffer) => chunks.push(c));
    try {
      const res = await runTransient({ ...snap, process: { args: ["hello"], env: r.image.config.config?.Env ?? [] }, network: "none", stdout: out, stateDir: join(work, "run") });
      expect(res.exitCode).toBe(0);
    } finally {
      await store.removeSnapshot(snap);
    }
    expect(Buffer.concat(chunks).toString()).toBe("Hello, world!\n");
  }, 600_000);

  // the seed workflow, with no flags: apt-get reaches Debian's mirror through the build's
  // network sandbox (pasta), and through slirp4netns where pasta is missing
  it("apt-get update && apt-get install -y git in a RUN step, through the network sandbox", async (t) => {
    const unreachable = await debianMirrorUnreachable();
    const { store, why } = unreachable === undefined ? await debianStore() : { why: unreachable };
    if (store === undefined) {
      console.warn(`skipping the apt-get through the sandbox test: ${why ?? ""}`);
      t.skip();
      return;
    }
    const ctx = writeContext(join(work, "ctx-git"), {
      Dockerfile: "FROM debian:bookworm\nRUN apt-get update && apt-get install -y git && git --version > /git-version && rm -rf /var/lib/apt/lists/*\nRUN hostname > /hostname\n",
    });
    const r = await runBuild({ store, stateDir: join(work, "run-git") }, ctx, { tags: ["git:latest"] });
    expect(r.log).toMatch(/Setting up git /);
    expect(await readImageFile(r.image, "/git-version")).toMatch(/^git version 2\./);
    expect(await readImageFile(r.image, "/hostname")).toBe("buildkitsandbox\n");
  }, 900_000);

  it("apt-get update through slirp4netns (BERTH_NETWORK_STACK=slirp4netns)", async (t) => {
    const unreachable = await debianMirrorUnreachable();
    const { store, why } = unreachable === undefined ? await debianStore() : { why: unreachable };
    if (store === undefined) {
      console.warn(`skipping the apt-get through slirp4netns test: ${why ?? ""}`);
      t.skip();
      return;
    }
    const ctx = writeContext(join(work, "ctx-slirp"), { Dockerfile: "FROM debian:bookworm\nRUN ip route 2>/dev/null || cat /proc/net/route; apt-get update\n" });
    const r = await runBuild({ store, stateDir: join(work, "run-slirp") }, ctx, { environment: { BERTH_NETWORK_STACK: "slirp4netns" } });
    expect(r.log).toMatch(/tap0/);
    expect(r.log).toMatch(/Reading package lists/);
  }, 900_000);
});
