import { describe, expect, it } from "vitest";
import { parseChmod } from "../../../src/builder/copy/chmod.js";
import { resolveChown } from "../../../src/builder/copy/owner.js";

const FILE = 0o100000;
const DIR = 0o040000;

describe("--chmod", () => {
  it.each([
    ["755", FILE | 0o600, false, 0o755],
    ["0640", DIR | 0o777, true, 0o640],
    ["4755", FILE | 0o644, false, 0o4755],
    ["u+x", FILE | 0o644, false, 0o744],
    ["a+X", FILE | 0o644, false, 0o644],
    ["a+X", FILE | 0o744, false, 0o755],
    ["a+X", DIR | 0o600, true, 0o711],
    ["go-rwx", FILE | 0o777, false, 0o700],
    ["u=rw,go=r", FILE | 0o777, false, 0o644],
    ["g=u", FILE | 0o640, false, 0o660],
    ["+t", DIR | 0o777, true, 0o1777],
  ] as const)("%s on %o (dir %s) → %o", (spec, mode, isDir, want) => {
    expect(parseChmod(spec)(mode, isDir)).toBe(want);
  });

  it.each(["10000", "999", "u+q", "x+r", ""])("rejects %j", (spec) => {
    expect(() => parseChmod(spec)).toThrow();
  });
});

describe("--chown", () => {
  const files: Record<string, string> = {
    "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n# comment\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\nsvc:x:1001:50::/srv:/bin/sh\n",
    "/etc/group": "root:x:0:\nwww-data:x:33:\nstaff:x:50:\n",
  };
  const read = async (p: string): Promise<string | undefined> => files[p];
  const none = async (): Promise<undefined> => undefined;

  it.each([
    ["1000", { uid: 1000, gid: 1000 }],
    ["1000:50", { uid: 1000, gid: 50 }],
    ["www-data", { uid: 33, gid: 33 }],
    ["www-data:staff", { uid: 33, gid: 50 }],
    ["0:staff", { uid: 0, gid: 50 }],
    // a named user without a group gets its primary group from /etc/passwd, as BuildKit does
    ["svc", { uid: 1001, gid: 50 }],
    ["svc:www-data", { uid: 1001, gid: 33 }],
  ])("%s → %j", async (spec, want) => {
    expect(await resolveChown(spec, read)).toEqual(want);
  });

  it("names need the image's passwd/group; numbers do not", async () => {
    await expect(resolveChown("app", none)).rejects.toThrow(/no such user: app/);
    await expect(resolveChown("1:grp", read)).rejects.toThrow(/no such group: grp/);
    expect(await resolveChown("5:6", none)).toEqual({ uid: 5, gid: 6 });
    await expect(resolveChown("a:", read)).rejects.toThrow(/want user\[:group\]/);
  });
});

describe("layeredFileReader", () => {
  it("reads /etc/passwd through the top layer's whiteouts and symlinks", async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { layeredFileReader } = await import("../../../src/builder/copy/owner.js");
    const root = mkdtempSync("/tmp/berth-reader-");
    try {
      const bottom = join(root, "l0");
      const top = join(root, "l1");
      mkdirSync(join(bottom, "etc"), { recursive: true });
      mkdirSync(join(top, "etc"), { recursive: true });
      writeFileSync(join(bottom, "etc/passwd.real"), "app:x:77:77::/:/bin/sh\n");
      symlinkSync("passwd.real", join(top, "etc/passwd"));
      const read = layeredFileReader([top, bottom], () => false);
      expect(await resolveChown("app", read)).toEqual({ uid: 77, gid: 77 });
      expect(await read("/etc/group")).toBeUndefined();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
