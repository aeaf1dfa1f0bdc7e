import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// Both ways xattrs are read and written (src/sys/xattr.ts): berth's addon, and the
// getfattr/setfattr processes used without it. Each test loads the module afresh
// with the environment it needs.
const work = mkdtempSync("/tmp/berth-xattr-test-");
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

const saved = process.env.BERTH_NO_NATIVE;
afterAll(() => {
  if (saved === undefined) delete process.env.BERTH_NO_NATIVE;
  else process.env.BERTH_NO_NATIVE = saved;
});

async function load(native: boolean): Promise<typeof import("../../../src/sys/xattr.js")> {
  if (native) delete process.env.BERTH_NO_NATIVE;
  else process.env.BERTH_NO_NATIVE = "1";
  const { vi } = await import("vitest");
  vi.resetModules();
  return import("../../../src/sys/xattr.js");
}

describe.each([["the addon", true], ["getfattr/setfattr", false]])("xattrs through %s", (_name, native) => {
  it("reads every xattr of a tree without following symlinks, reads one, and writes a batch", async () => {
    const m = await load(native);
    const root = join(work, `t${n++}`);
    mkdirSync(join(root, "opq"), { recursive: true });
    writeFileSync(join(root, "f"), "x");
    symlinkSync("f", join(root, "l"));
    execFileSync("setfattr", ["-n", "user.note", "-v", "hi", join(root, "f")]);
    execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(root, "opq")]);
    const of = await m.xattrReader(root);
    expect(of(join(root, "f"))?.get("user.note")?.toString()).toBe("hi");
    expect(of(join(root, "l"))).toBeUndefined(); // the link's own (none), not its target's
    expect(of(join(root, "opq"))?.get("trusted.overlay.opaque")?.toString()).toBe("y");
    expect(m.readXattr(join(root, "opq"), "trusted.overlay.opaque")?.toString()).toBe("y");
    expect(m.readXattr(join(root, "f"), "trusted.overlay.opaque")).toBeUndefined();
    const bin = Buffer.from([0, 1, 2, 255]);
    await m.setXattrsBatch([{ path: join(root, "l"), name: "trusted.t", value: bin }, { path: join(root, "f"), name: "user.b", value: bin }]);
    expect(execFileSync("getfattr", ["-h", "--absolute-names", "-e", "hex", "-n", "trusted.t", join(root, "l")], { encoding: "utf8" })).toContain("0x000102ff");
    expect(execFileSync("getfattr", ["--absolute-names", "-e", "hex", "-n", "user.b", join(root, "f")], { encoding: "utf8" })).toContain("0x000102ff");
    await expect(m.setXattrsBatch([{ path: join(root, "absent"), name: "user.x", value: bin }])).rejects.toThrow(/extended attributes/);
  });
});
