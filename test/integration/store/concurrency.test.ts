import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { busyboxTarball } from "../../helpers/busybox.js";
import { BERTH, berth, ok } from "./helpers.js";

const work = mkdtempSync("/tmp/berth-store-conc-");
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(root: string, args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BERTH, "--root", root, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => { stderr += b.toString(); });
    child.on("close", (code, signal) => resolve({ code, signal, stderr }));
  });
}

/** A rootfs of ~1,500 files (~12 MB) so that a load takes long enough to be interrupted. */
function biggerTarball(): string {
  const dir = join(work, "big");
  mkdirSync(dir);
  execFileSync("tar", ["-C", dir, "-xf", busyboxTarball()]);
  for (let d = 0; d < 30; d++) {
    mkdirSync(join(dir, "data", String(d)), { recursive: true });
    for (let f = 0; f < 50; f++) writeFileSync(join(dir, "data", String(d), `f${f}`), Buffer.alloc(8192, d * 50 + f));
  }
  execFileSync("tar", ["-C", dir, "--numeric-owner", "-cf", `${dir}.tar`, "."]);
  return `${dir}.tar`;
}

describe("several processes on one store", () => {
  it("import and tag at once; every tag lands; check is clean", async () => {
    const root = join(work, "conc");
    ok(root, ["import", busyboxTarball(), "base:1"]);
    const jobs: Promise<{ code: number | null; stderr: string }>[] = [];
    for (let i = 0; i < 4; i++) {
      jobs.push(run(root, ["import", "-m", `job ${i}`, busyboxTarball(), `imp:${i}`]));
      for (let t = 0; t < 3; t++) jobs.push(run(root, ["tag", "base:1", `tag${i}:${t}`]));
    }
    const results = await Promise.all(jobs);
    for (const r of results) expect(r.stderr).toBe("");
    expect(results.every((r) => r.code === 0)).toBe(true);
    const tags = ok(root, ["images", "--format", "{{.Repository}}:{{.Tag}}"]).trim().split("\n").sort();
    expect(tags).toEqual(["base:1", ...[0, 1, 2, 3].map((i) => `imp:${i}`), ...[0, 1, 2, 3].flatMap((i) => [0, 1, 2].map((t) => `tag${i}:${t}`))].sort());
    expect(ok(root, ["system", "check"])).toMatch(/no problems/);
  });
});

describe("kill -9 during load", () => {
  it("leaves a store that check --repair makes clean, and the image loads again", async () => {
    const src = join(work, "src");
    ok(src, ["import", biggerTarball(), "big:1"]);
    const archive = join(work, "big-saved.tar");
    ok(src, ["save", "-o", archive, "big:1"]);
    const root = join(work, "crash");
    ok(root, ["import", busyboxTarball(), "keep:1"]);
    const delays = [40, 120, 200, 300, 450, 600];
    for (const delay of delays) {
      const child = spawn(process.execPath, [BERTH, "--root", root, "load", "-i", archive], { stdio: "ignore" });
      // listen from the start: a load that ends before the kill has already emitted 'close'
      const closed = new Promise((r) => child.on("close", r));
      await new Promise((r) => setTimeout(r, delay));
      child.kill("SIGKILL");
      await closed;
      // whatever the moment, the store is usable: the other image is intact
      expect(ok(root, ["images", "--format", "{{.Repository}}:{{.Tag}}"])).toContain("keep:1");
      ok(root, ["system", "check", "--repair"]);
      expect(ok(root, ["system", "check"]), `after kill at ${delay} ms`).toMatch(/no problems/);
      berth(root, ["rmi", "-f", "big:1"]); // the load may have finished before the kill
    }
    expect(ok(root, ["load", "-i", archive])).toBe("Loaded image: big:1\n");
    expect(ok(root, ["system", "check"])).toMatch(/no problems/);
  }, 180_000);
});
