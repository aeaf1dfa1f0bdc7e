import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berthNative } from "../../../src/sys/addon.js";
import { openInRoot, walkInRoot } from "../../../src/runtime/in-root.js";

/**
 * A fake container root with links that point at a host directory this test owns: resolution
 * must stay inside the root, by openat2 (the addon) and by the component walk (its fallback).
 */
describe("paths resolved inside a root", () => {
  let base: string;
  let root: string;
  let host: string;
  let rootFd: number;
  beforeAll(() => {
    base = mkdtempSync("/tmp/berth-inroot-");
    root = join(base, "root");
    host = join(base, "host");
    mkdirSync(host);
    writeFileSync(join(host, "target"), "HOST\n");
    mkdirSync(join(root, "etc"), { recursive: true });
    mkdirSync(join(root, host), { recursive: true });
    writeFileSync(join(root, host, "target"), "INSIDE\n");
    writeFileSync(join(root, "etc", "passwd"), "root:x:0:0\n");
    symlinkSync(join(host, "target"), join(root, "abs")); // absolute: the root's copy
    symlinkSync(`../../../../../../..${host}/target`, join(root, "climb")); // .. clamps at the root
    symlinkSync(host, join(root, "dir"));
    symlinkSync("/proc/self/root/etc/passwd", join(root, "magic"));
    symlinkSync("loop2", join(root, "loop1"));
    symlinkSync("loop1", join(root, "loop2"));
    rootFd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  });
  afterAll(() => {
    closeSync(rootFd);
    rmSync(base, { recursive: true, force: true });
  });

  const read = (open: (fd: number, path: string, flags: number) => number, path: string) => {
    const fd = open(rootFd, path, constants.O_RDONLY);
    try {
      return readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  };
  const methods = [
    ["openat2", (fd: number, path: string, flags: number) => openInRoot(fd, path, flags)],
    ["walk", (fd: number, path: string, flags: number) => walkInRoot(fd, path, flags)],
  ] as const;

  for (const [method, open] of methods) {
    it(`${method}: symlinks resolve as the container sees them`, (ctx) => {
      if (method === "openat2" && berthNative()?.openInRoot === undefined) ctx.skip(); // addon not built: the walk is what runs
      expect(read(open, "/abs")).toBe("INSIDE\n");
      expect(read(open, "climb")).toBe("INSIDE\n");
      expect(read(open, "/dir/target")).toBe("INSIDE\n");
      expect(read(open, "/../../etc/passwd")).toBe("root:x:0:0\n");
      expect(codeOf(() => open(rootFd, "/abs", constants.O_RDONLY | constants.O_NOFOLLOW))).toBe("ELOOP");
      expect(codeOf(() => open(rootFd, "/loop1", constants.O_RDONLY))).toBe("ELOOP");
      expect(codeOf(() => open(rootFd, "/nope/x", constants.O_RDONLY))).toBe("ENOENT");
      // a magic link is never followed to the host (openat2 refuses it, the walk resolves the text inside the root)
      expect(() => read(open, "/magic")).toThrow();
      expect(readFileSync(join(host, "target"), "utf8")).toBe("HOST\n");
    });

    it(`${method}: a file created through a link lands inside`, (ctx) => {
      if (method === "openat2" && berthNative()?.openInRoot === undefined) ctx.skip();
      const fd = open(rootFd, `/dir/new-${method}`, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL);
      closeSync(fd);
      expect(() => readFileSync(join(host, `new-${method}`))).toThrow(/ENOENT/);
      expect(readFileSync(join(root, host, `new-${method}`), "utf8")).toBe("");
    });
  }
});


function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  return undefined;
}
