import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkExecutable, resolveUser } from "../../../src/runtime/index.js";

const rootfs = mkdtempSync("/tmp/berth-rt-user-");
mkdirSync(join(rootfs, "etc"));
mkdirSync(join(rootfs, "bin"));
mkdirSync(join(rootfs, "usr/bin"), { recursive: true });
writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n");
writeFileSync(join(rootfs, "etc/group"), "root:x:0:\napp:x:1000:\nwheel:x:10:app,other\nstaff:x:50:\n");
writeFileSync(join(rootfs, "bin/busybox"), "", { mode: 0o755 });
symlinkSync("busybox", join(rootfs, "bin/sh"));
symlinkSync("/bin/busybox", join(rootfs, "usr/bin/env"));
writeFileSync(join(rootfs, "bin/data"), "", { mode: 0o644 });
symlinkSync("/../../../etc/shadow-outside", join(rootfs, "bin/escape"));

afterAll(() => rmSync(rootfs, { recursive: true, force: true }));

describe("resolveUser", () => {
  const cases: Array<[string | undefined, { uid: number; gid: number; additionalGids: number[]; home: string }]> = [
    [undefined, { uid: 0, gid: 0, additionalGids: [], home: "/root" }],
    ["app", { uid: 1000, gid: 1000, additionalGids: [10], home: "/home/app" }],
    ["1000", { uid: 1000, gid: 1000, additionalGids: [10], home: "/home/app" }],
    ["app:staff", { uid: 1000, gid: 50, additionalGids: [10], home: "/home/app" }],
    ["4242", { uid: 4242, gid: 0, additionalGids: [], home: "/" }],
    ["4242:77", { uid: 4242, gid: 77, additionalGids: [], home: "/" }],
  ];
  it.each(cases)("%s", async (spec, expected) => {
    expect(await resolveUser(rootfs, spec)).toEqual(expected);
  });
  it("names the missing user or group", async () => {
    await expect(resolveUser(rootfs, "ghost")).rejects.toThrow("unable to find user ghost");
    await expect(resolveUser(rootfs, "app:ghosts")).rejects.toThrow("unable to find group ghosts");
  });
});

describe("checkExecutable", () => {
  const env = ["PATH=/usr/bin:/bin"];
  it("finds commands through symlinks inside the rootfs", async () => {
    await expect(checkExecutable(rootfs, "sh", env)).resolves.toBeUndefined();
    await expect(checkExecutable(rootfs, "/usr/bin/env", env)).resolves.toBeUndefined();
  });
  it("gives 127 for missing and 126 for non-executable", async () => {
    await expect(checkExecutable(rootfs, "nope", env)).rejects.toMatchObject({ exitCode: 127 });
    await expect(checkExecutable(rootfs, "/bin/data", env)).rejects.toMatchObject({ exitCode: 126 });
    await expect(checkExecutable(rootfs, "/bin/escape", env)).rejects.toMatchObject({ exitCode: 127 });
  });
});
