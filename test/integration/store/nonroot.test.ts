import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as tar from "tar-stream";

const work = mkdtempSync("/tmp/berth-store-nonroot-");
chmodSync(work, 0o755);
afterAll(() => rmSync(work, { recursive: true, force: true }));
const dist = join(import.meta.dirname, "../../../dist/layer/index.js");

async function tarFile(path: string, entries: { name: string; type?: tar.Header["type"]; body?: string; mode?: number; uid?: number; devmajor?: number; devminor?: number; linkname?: string }[]): Promise<void> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? "file", mode: e.mode ?? 0o644, uid: e.uid ?? 0, gid: 0, devmajor: e.devmajor, devminor: e.devminor, linkname: e.linkname, mtime: new Date(1_000_000) }, e.body ?? "");
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  writeFileSync(path, Buffer.concat(chunks));
}

/** Applies `tarPath` into `target` in a process running as nobody (setpriv), with the built dist. */
function applyAsNobody(tarPath: string, target: string): { status: number | null; stdout: string; stderr: string } {
  const script = `import(${JSON.stringify(dist)}).then(async (m) => { const fs = await import("node:fs"); const r = await m.applyLayer(fs.createReadStream(${JSON.stringify(tarPath)}), ${JSON.stringify(target)}, { source: "x.tar" }); console.log(JSON.stringify(r)); }).catch((e) => { console.error(e.message); process.exit(3); })`;
  return spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", script], { encoding: "utf8" });
}

describe.skipIf(!existsSync(dist) || process.getuid?.() !== 0)("apply as a non-root user (setpriv to nobody)", () => {
  it("skips device nodes, keeps setuid bits, ignores owners, and still refuses escapes", async () => {
    const layer = join(work, "l.tar");
    await tarFile(layer, [
      { name: "dev/", type: "directory", mode: 0o755 },
      { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
      { name: "bin/", type: "directory", mode: 0o755 },
      { name: "bin/su", body: "x", mode: 0o4755, uid: 0 },
      { name: "home/", type: "directory", mode: 0o755 },
      { name: "home/u", body: "u", uid: 1000 },
      { name: "fifo", type: "fifo", mode: 0o600 },
    ]);
    const target = join(work, "t1");
    execFileSync("mkdir", [target]);
    chownSync(target, 65534, 65534);
    const r = applyAsNobody(layer, target);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toMatchObject({ skippedDevices: 1 });
    expect(existsSync(join(target, "dev/null"))).toBe(false);
    expect(statSync(join(target, "bin/su")).mode & 0o7777).toBe(0o4755);
    expect(statSync(join(target, "home/u")).uid).toBe(65534);
    expect(lstatSync(join(target, "fifo")).isFIFO()).toBe(true);
    expect(readFileSync(join(target, "home/u"), "utf8")).toBe("u");

    const evil = join(work, "evil.tar");
    await tarFile(evil, [{ name: "s", type: "symlink", linkname: "/tmp" }, { name: "s/pwned", body: "x" }]);
    const t2 = join(work, "t2");
    execFileSync("mkdir", [t2]);
    chownSync(t2, 65534, 65534);
    const r2 = applyAsNobody(evil, t2);
    expect(r2.status).toBe(3);
    expect(r2.stderr).toMatch(/x\.tar: entry "s\/pwned": path goes through the symbolic link "s"/);
    expect(existsSync("/tmp/pwned")).toBe(false);
  });
});
