import { createReadStream, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { runTransient } from "../../../src/runtime/index.js";
import { importRootfs, openStore } from "../../../src/store/index.js";
import { runBuild, writeContext } from "./helpers.js";
import { debianTarball } from "../../helpers/debian.js";

const work = mkdtempSync("/tmp/berth-build-debian-");
afterAll(() => rmSync(work, { recursive: true, force: true }));

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
});
