import { spawn, spawnSync } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkStore, openStore, type ImageRecord } from "../../../src/store/index.js";
import { importRootfs } from "../../../src/image/index.js";
import { busyboxTarball } from "../../helpers/busybox.js";

const BERTH = join(import.meta.dirname, "../../../bin/berth");
const LIBRARY = join(import.meta.dirname, "../../../dist/index.js");

/**
 * What a killed process left in the store goes at the next command that opens it (leases.ts):
 * its snapshots, the layer dirs it moved into l/ without a record, its temp files. What a live
 * process holds stays, however old.
 */
// leases need the addon's flock (see leases.ts): without it, system check --repair removes them
describe.skipIf(process.env.BERTH_NO_NATIVE === "1")("leftovers of a killed process", () => {
  let root: string;
  let image: ImageRecord;
  beforeAll(async () => {
    root = mkdtempSync("/tmp/berth-leftovers-");
    const store = await openStore(root);
    image = await importRootfs(store, createReadStream(busyboxTarball()), { source: "busybox.tar", tag: "busybox" });
  }, 60_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** A process that makes a snapshot, a layer dir without record and a temp file, says "ready" and waits. */
  function leaver(): Promise<{ kill(): Promise<void>; made: { snapshot: string; layerDir: string; temp: string } }> {
    const script = `
      const { openStore } = await import(${JSON.stringify(LIBRARY)});
      const { writeFileSync } = await import("node:fs");
      const { basename } = await import("node:path");
      const store = await openStore(${JSON.stringify(root)});
      const kept = await store.prepareSnapshot(${JSON.stringify(image.layers.map((l) => l.diffId))});
      writeFileSync(kept.upperDir + "/file", "x");
      const other = await store.prepareSnapshot([]);
      writeFileSync(other.upperDir + "/layer-file", "y");
      const layerDir = store.detachSnapshot(other);
      const temp = store.stagingPath("layer");
      writeFileSync(temp, "partial");
      console.log(JSON.stringify({ snapshot: kept.id, layerDir: basename(layerDir), temp: basename(temp) }));
      setInterval(() => undefined, 1000);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    return new Promise((resolve, reject) => {
      child.once("error", reject);
      child.stdout.once("data", (b: Buffer) => {
        const made = JSON.parse(b.toString()) as { snapshot: string; layerDir: string; temp: string };
        resolve({
          made,
          kill: () =>
            new Promise<void>((r) => {
              child.once("exit", () => r());
              child.kill("SIGKILL");
            }),
        });
      });
    });
  }

  const exists = (made: { snapshot: string; layerDir: string; temp: string }) => ({
    snapshot: existsSync(join(root, "s", made.snapshot)),
    layerDir: existsSync(join(root, "l", made.layerDir)),
    temp: existsSync(join(root, "tmp", made.temp)),
  });

  it("a live process's are kept; once it is killed, the next command removes them", async () => {
    const p = await leaver();
    expect(exists(p.made)).toEqual({ snapshot: true, layerDir: true, temp: true });
    // another command while the owner lives: nothing of it goes
    const live = spawnSync(process.execPath, [BERTH, "--root", root, "images", "-q"], { encoding: "utf8" });
    expect(live.status, live.stderr).toBe(0);
    expect(exists(p.made)).toEqual({ snapshot: true, layerDir: true, temp: true });

    await p.kill();
    expect(exists(p.made)).toEqual({ snapshot: true, layerDir: true, temp: true });
    const next = spawnSync(process.execPath, [BERTH, "--root", root, "images", "-q"], { encoding: "utf8" });
    expect(next.status, next.stderr).toBe(0);
    expect(exists(p.made)).toEqual({ snapshot: false, layerDir: false, temp: false });
    // (this test's process holds one too: its store imported busybox)
    expect(readdirSync(join(root, "locks", "live")).filter((n) => !n.startsWith(`${process.pid}-`))).toEqual([]);
    // the store is whole: its image is untouched and system check finds nothing to repair
    const store = await openStore(root);
    expect((await store.resolveImage("busybox")).id).toBe(image.id);
    expect((await checkStore(store)).problems).toEqual([]);
  }, 60_000);

  it("a process that ends normally leaves no lease behind", () => {
    const script = `
      const { openStore } = await import(${JSON.stringify(LIBRARY)});
      const { readdirSync } = await import("node:fs");
      const store = await openStore(${JSON.stringify(root)});
      store.stagingPath("layer");
      console.log(readdirSync(${JSON.stringify(join(root, "locks", "live"))}).join(" "));
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split(/\s+/).filter((n) => n.startsWith(`${r.pid}-`))).toHaveLength(1); // held while it ran
    expect(readdirSync(join(root, "locks", "live")).filter((n) => n.startsWith(`${r.pid}-`))).toEqual([]);
  });
});
