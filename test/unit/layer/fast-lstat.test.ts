import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isBlockDevice, isCharDevice, isDir, isFifo, isFile, isSymlink, lstatLite } from "../../../src/sys/lstat.js";

const work = mkdtempSync("/tmp/berth-lstat-test-");
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("lstatLite", () => {
  it("answers as lstatSync does for every kind of entry, and undefined when nothing is there", () => {
    writeFileSync(join(work, "file"), "12345");
    mkdirSync(join(work, "dir"));
    symlinkSync("file", join(work, "link"));
    execFileSync("mkfifo", [join(work, "fifo")]);
    execFileSync("mknod", [join(work, "null"), "c", "1", "3"]);
    execFileSync("mknod", [join(work, "blk"), "b", "7", "0"]);
    execFileSync("touch", ["-h", "-d", "2001-02-03 04:05:06.789012345", join(work, "link")]);
    for (const name of ["file", "dir", "link", "fifo", "null", "blk"]) {
      const p = join(work, name);
      const want = lstatSync(p);
      const got = lstatLite(p)!;
      expect(got).toEqual({ dev: want.dev, mode: want.mode, nlink: want.nlink, uid: want.uid, gid: want.gid, rdev: want.rdev, ino: want.ino, size: want.size, mtimeMs: want.mtimeMs, ctimeMs: want.ctimeMs });
      expect([isFile(got), isDir(got), isSymlink(got), isFifo(got), isCharDevice(got), isBlockDevice(got)]).toEqual([want.isFile(), want.isDirectory(), want.isSymbolicLink(), want.isFIFO(), want.isCharacterDevice(), want.isBlockDevice()]);
    }
    expect(Math.floor(lstatLite(join(work, "link"))!.mtimeMs / 1000)).toBe(Date.UTC(2001, 1, 3, 4, 5, 6) / 1000 + new Date().getTimezoneOffset() * 60);
    expect(lstatLite(join(work, "absent"))).toBeUndefined();
    expect(lstatLite(join(work, "file", "below-a-file"))).toBeUndefined();
  });
});
