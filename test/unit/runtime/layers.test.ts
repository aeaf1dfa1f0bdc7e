import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkExecutable, resolveInRootfs, resolveUser } from "../../../src/runtime/index.js";

const root = mkdtempSync("/tmp/berth-rt-layers-");
const upper = join(root, "upper");
const mid = join(root, "mid");
const base = join(root, "base");
for (const d of [upper, mid, base]) mkdirSync(d);
// base: merged-usr style image
mkdirSync(join(base, "usr/bin"), { recursive: true });
mkdirSync(join(base, "etc"));
symlinkSync("usr/bin", join(base, "bin"));
writeFileSync(join(base, "usr/bin/tool"), "", { mode: 0o755 });
writeFileSync(join(base, "usr/bin/gone"), "", { mode: 0o755 });
writeFileSync(join(base, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
// mid: replaces passwd, adds a file
mkdirSync(join(mid, "etc"));
writeFileSync(join(mid, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n");
mkdirSync(join(mid, "usr/bin"), { recursive: true });
writeFileSync(join(mid, "usr/bin/added"), "", { mode: 0o755 });
// upper: deletes a file with a whiteout (char device 0:0), as overlayfs does
mkdirSync(join(upper, "usr/bin"), { recursive: true });
const canMknod = process.getuid?.() === 0;
if (canMknod) execFileSync("mknod", [join(upper, "usr/bin/gone"), "c", "0", "0"]);
const layers = [upper, mid, base];

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("layered rootfs view (overlay semantics without mounting)", () => {
  it("finds files through symlinks and merged directories", async () => {
    expect(await resolveInRootfs(layers, "/bin/tool")).toBe(join(base, "usr/bin/tool"));
    expect(await resolveInRootfs(layers, "/bin/added")).toBe(join(mid, "usr/bin/added"));
    expect(await resolveInRootfs(layers, "/etc/passwd")).toBe(join(mid, "etc/passwd"));
    await expect(checkExecutable(layers, "tool", ["PATH=/bin"])).resolves.toBeUndefined();
  });
  it.runIf(canMknod)("honours whiteouts", async () => {
    expect(await resolveInRootfs(layers, "/usr/bin/gone")).toBeUndefined();
    await expect(checkExecutable(layers, "gone", ["PATH=/usr/bin"])).rejects.toMatchObject({ exitCode: 127 });
  });
  it("reads users from the topmost passwd", async () => {
    expect(await resolveUser(layers, "web")).toEqual({ uid: 33, gid: 33, additionalGids: [], home: "/var/www" });
  });
});
