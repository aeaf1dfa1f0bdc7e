import { runRoot } from "../../../src/sys/run-root.js";
import { spawn, spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { BERTH, workspace, writeContext } from "./helpers.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
beforeAll(async () => {
  ws = await workspace("killed");
}, 60_000);
afterAll(() => ws?.cleanup());

/** Host processes whose argv has `marker`. */
function processesWith(marker: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (argv.includes(marker)) found.push(`${pid} ${argv}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function until(ok: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (ok()) return true;
  return ok();
}

/** Starts `berth build` of a RUN that sleeps and kills berth (-9) once the RUN's process runs; returns berth's pid and the marker. */
async function killDuringRun(name: string): Promise<{ pid: number; marker: string }> {
  const marker = String(900_000 + randomInt(99_999));
  const ctx = writeContext(join(ws.dir, name), { Dockerfile: `FROM busybox\nRUN echo step-runs; sleep ${marker}\n` });
  const child = spawn(process.execPath, [BERTH, "--root", join(ws.dir, "store"), "build", "--progress=plain", ctx], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  expect(await until(() => processesWith(`sleep ${marker}`).length > 0, 30_000), err).toBe(true);
  child.kill("SIGKILL");
  await exited;
  return { pid: child.pid!, marker };
}

describe("a build killed with SIGKILL", () => {
  it("takes its RUN's container with it: no process, no mount, no runc state within two seconds", async () => {
    const { pid, marker } = await killDuringRun("c1");
    const killedAt = Date.now();
    const gone = await until(() => processesWith(marker).length === 0, 2_000);
    expect(processesWith(marker)).toEqual([]);
    expect(gone).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(2_000);
    // its state dir (runc state, bundles) is gone too, and nothing is mounted from it or the store
    const buildDirs = join(runRoot(), "build");
    const stateDirs = () => (existsSync(buildDirs) ? readdirSync(buildDirs).filter((d) => d.startsWith(`${pid}-`)) : []);
    expect(await until(() => stateDirs().length === 0, 2_000)).toBe(true);
    const mounts = readFileSync("/proc/self/mountinfo", "utf8");
    expect(mounts).not.toContain(`${buildDirs}/${pid}-`);
    expect(mounts).not.toContain(ws.dir);
  }, 60_000);

  // the next command's sweep works from leases, which need the addon's flock (store/leases.ts)
  it.skipIf(process.env.BERTH_NO_NATIVE === "1")("leaves its snapshot and temp files only until the next command, which removes them", async () => {
    const store = join(ws.dir, "store");
    const before = readdirSync(join(store, "s"));
    const { pid } = await killDuringRun("c2");
    const left = readdirSync(join(store, "s")).filter((id) => !before.includes(id));
    expect(left).toHaveLength(1); // the RUN's snapshot
    const next = spawnSync(process.execPath, [BERTH, "--root", store, "images", "-q"], { encoding: "utf8" });
    expect(next.status, next.stderr).toBe(0);
    expect(readdirSync(join(store, "s")).filter((id) => !before.includes(id))).toEqual([]);
    expect(readdirSync(join(store, "tmp")).filter((n) => n.includes(`-${pid}-`))).toEqual([]);
    expect(readdirSync(join(store, "locks", "live")).filter((n) => n.startsWith(`${pid}-`))).toEqual([]);
  }, 60_000);
});
