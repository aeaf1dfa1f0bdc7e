import { execFileSync, spawn, spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { syncFileSystem } from "../../../src/sys/syncfs.js";
import { acquireFlock, tryAcquireFlock } from "../../../src/sys/flock.js";
import { berthNative, STAT_DIR_FIELDS } from "../../../src/sys/addon.js";
import { removeTree } from "../../../src/sys/remove-tree.js";
import { spawnPiped } from "../../../src/sys/spawn.js";

// berth's addon (native/, as `npm install` builds it): the store's cross-process locks through
// flock(2), which must exclude — and be excluded by — the flock(1) processes berth falls back to
// without it; syncfs(2); and l*xattr(2) as getfattr/setfattr see them.

const dir = mkdtempSync("/tmp/berth-lock-test-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** flock(1) holding `file` in other processes until killed; resolves once it holds it. */
function holdWithFlock(file: string, mode: "-x" | "-s"): Promise<{ kill(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    // its own process group: flock and the command it runs (which inherits the lock) die together
    const child = spawn("flock", [mode, file, "sh", "-c", "echo held; exec sleep 60 >/dev/null"], { stdio: ["ignore", "pipe", "inherit"], detached: true });
    child.on("error", reject);
    child.stdout.once("data", () =>
      resolve({
        kill: () =>
          new Promise((done) => {
            child.on("exit", () => done());
            process.kill(-child.pid!, "SIGKILL");
          }),
      }),
    );
  });
}

/** Whether another process could take `file` in `mode` right now (flock -n). */
function othersCanTake(file: string, mode: "-x" | "-s"): boolean {
  return spawnSync("flock", ["-n", mode, file, "true"]).status === 0;
}

/** The addon's own functions are tested where it is used: not in the fallback run (BERTH_NO_NATIVE=1). */
const ADDON = process.env.BERTH_NO_NATIVE !== "1";

describe("store locks", () => {
  it.runIf(ADDON)("the addon is built by npm install", () => {
    expect(berthNative()).not.toBeNull();
  });

  it("exclusive and shared locks exclude other processes' flock(1), and go with release", async () => {
    const file = join(dir, "a.lock");
    const held = await acquireFlock(file, "exclusive");
    expect(othersCanTake(file, "-s")).toBe(false);
    expect(await tryAcquireFlock(file, "shared")).toBeUndefined(); // another open file description
    await held.release();
    expect(othersCanTake(file, "-x")).toBe(true);

    const shared = await acquireFlock(file, "shared");
    expect(othersCanTake(file, "-s")).toBe(true);
    expect(othersCanTake(file, "-x")).toBe(false);
    await shared.release();
  });

  it("waits for a flock(1) holder and takes the lock when it dies", async () => {
    const file = join(dir, "b.lock");
    const other = await holdWithFlock(file, "-x");
    let got = false;
    const waiting = acquireFlock(file, "exclusive").then((l) => {
      got = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toBe(false);
    await other.kill();
    const lock = await waiting;
    expect(othersCanTake(file, "-x")).toBe(false);
    await lock.release();
  });

  it("a wait is cancelled by its signal", async () => {
    const file = join(dir, "c.lock");
    const other = await holdWithFlock(file, "-x");
    const ac = new AbortController();
    const waiting = acquireFlock(file, "exclusive", { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(waiting).rejects.toThrow(/cancelled/);
    await other.kill();
  });

  it("the lock of a process that dies is dropped by the kernel", async () => {
    const file = join(dir, "d.lock");
    // a child takes the lock the way the store does (the addon on its own descriptor), then is killed
    const addon = new URL("../../../native/build/Release/berth_native.node", import.meta.url).pathname;
    const code = `const fs = require("fs"); const n = require(${JSON.stringify(addon)}); const fd = fs.openSync(${JSON.stringify(file)}, fs.constants.O_RDONLY | fs.constants.O_CREAT); if (!n.tryFlock(fd, true)) process.exit(3); console.log("held"); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once("data", () => resolve());
      child.on("close", (c) => reject(new Error(`holder exited with ${c}`)));
    });
    expect(othersCanTake(file, "-x")).toBe(false);
    expect(await tryAcquireFlock(file)).toBeUndefined();
    await new Promise<void>((resolve) => {
      child.removeAllListeners("close");
      child.on("close", () => resolve());
      child.kill("SIGKILL");
    });
    expect(othersCanTake(file, "-x")).toBe(true);
    const mine = await tryAcquireFlock(file);
    expect(mine).toBeDefined();
    await mine!.release();
  });

  it("syncfs flushes the file system of a path, and names a missing one", async () => {
    await syncFileSystem(dir);
    await expect(syncFileSystem(join(dir, "missing"))).rejects.toThrow(/missing/);
  });

  it.runIf(ADDON)("reads and writes extended attributes as setfattr and getfattr do, a symlink's own", () => {
    const native = berthNative()!;
    const file = join(dir, "x");
    writeFileSync(file, "x");
    execFileSync("setfattr", ["-n", "user.from-tool", "-v", "0x00ff41", file]);
    native.setAttributeSync(file, "trusted.overlay.opaque", "y");
    native.setAttributeSync(file, "user.empty", Buffer.alloc(0));
    expect(native.listAttributesSync(file).sort()).toEqual(["trusted.overlay.opaque", "user.empty", "user.from-tool"]);
    expect([...native.getAttributeSync(file, "user.from-tool")!]).toEqual([0x00, 0xff, 0x41]);
    expect(native.getAttributeSync(file, "user.empty")!.length).toBe(0);
    expect(native.getAttributeSync(file, "user.missing")).toBeNull();
    expect(execFileSync("getfattr", ["--absolute-names", "--only-values", "-n", "trusted.overlay.opaque", file], { encoding: "utf8" })).toBe("y");
    const link = join(dir, "x-link");
    symlinkSync(file, link);
    expect(native.listAttributesSync(link)).toEqual([]);
    expect(() => native.listAttributesSync(join(dir, "missing"))).toThrow(/missing/);
  });

  it.runIf(ADDON)("statDir lists a directory with each entry's lstat, as lstatSync sees it", () => {
    const native = berthNative()!;
    const d = join(dir, "listing");
    mkdirSync(join(d, "sub"), { recursive: true });
    writeFileSync(join(d, "file"), "12345");
    symlinkSync("file", join(d, "link"));
    const [names, stats] = native.statDir!(d);
    expect([...names].sort()).toEqual(["file", "link", "sub"]);
    for (const [i, name] of names.entries()) {
      const st = lstatSync(join(d, name));
      const f = stats.subarray(i * STAT_DIR_FIELDS, (i + 1) * STAT_DIR_FIELDS);
      expect([...f]).toEqual([st.dev, st.mode, st.nlink, st.uid, st.gid, st.rdev, st.ino, st.size, st.mtimeMs, st.ctimeMs]);
    }
    expect(() => native.statDir!(join(dir, "missing"))).toThrow(/missing/);
  });

  it.runIf(ADDON)("statDirAsync gives statDir's listing from the thread pool, and rejects naming a missing dir", async () => {
    const native = berthNative()!;
    const d = join(dir, "listing-async");
    mkdirSync(join(d, "sub"), { recursive: true });
    for (let i = 0; i < 100; i++) writeFileSync(join(d, `f${i}`), "x".repeat(i));
    const [names, stats] = await native.statDirAsync!(d);
    const [syncNames, syncStats] = native.statDir!(d);
    expect(names).toEqual(syncNames);
    expect([...stats]).toEqual([...syncStats]);
    expect(names.length).toBe(101);
    await expect(native.statDirAsync!(join(dir, "missing"))).rejects.toThrow(/missing/);
    const [empty, none] = await native.statDirAsync!(join(d, "sub"));
    expect(empty).toEqual([]);
    expect(none.length).toBe(0);
  });

  it.runIf(ADDON)("removeTree removes a tree as rm -rf does, without following symlinks out of it", async () => {
    const native = berthNative()!;
    const outside = join(dir, "outside");
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, "keep"), "kept");
    const t = join(dir, "tree");
    mkdirSync(join(t, "a/b/c"), { recursive: true });
    for (let i = 0; i < 50; i++) writeFileSync(join(t, "a", `f${i}`), "x");
    writeFileSync(join(t, "a/b/c/deep"), "x");
    symlinkSync(outside, join(t, "a/link-to-dir"));
    symlinkSync(join(outside, "keep"), join(t, "link-to-file"));
    // overlayfs leaves its work dir like this
    mkdirSync(join(t, "w/work"), { recursive: true });
    chmodSync(join(t, "w/work"), 0o000);
    await native.removeTree!(t);
    expect(existsSync(t)).toBe(false);
    expect(readFileSync(join(outside, "keep"), "utf8")).toBe("kept");
    // a missing path is no error; a plain file is removed
    await native.removeTree!(t);
    writeFileSync(join(dir, "single"), "x");
    await removeTree(join(dir, "single"));
    expect(existsSync(join(dir, "single"))).toBe(false);
    // a path it cannot remove is an error naming it (a file as a directory's parent)
    writeFileSync(join(dir, "notdir"), "x");
    await expect(native.removeTree!(join(dir, "notdir/sub"))).rejects.toThrow(/notdir\/sub/);
  });

  it.runIf(ADDON)("sealedCopy makes a sealed in-memory copy of a file that runs, and that nothing can write", async () => {
    const native = berthNative()!;
    const runc = execFileSync("sh", ["-c", "command -v runc"], { encoding: "utf8" }).trim();
    const fd = await native.sealedCopy!(runc);
    const path = `/proc/${process.pid}/fd/${fd}`;
    expect(readFileSync(path).equals(readFileSync(runc))).toBe(true);
    expect(() => appendFileSync(path, "x")).toThrow(/EPERM/);
    expect(execFileSync(path, ["--version"], { encoding: "utf8" })).toMatch(/^runc version/);
    await expect(native.sealedCopy!(join(dir, "missing-binary"))).rejects.toThrow(/missing-binary/);
  });

  it.runIf(ADDON)("spawnPiped runs a program with stdin from /dev/null, signals at their defaults, its output and exit code", async () => {
    const run = async (script: string) => {
      const child = spawnPiped("/bin/sh", ["sh", "-c", script])!;
      let out = "";
      let err = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
      return { code: await child.exitCode, out, err };
    };
    // Node ignores SIGPIPE: a child must not inherit that (`yes | head` would then fail)
    const r = await run("readlink /proc/self/fd/0; grep -E '^Sig(Blk|Ign)' /proc/self/status; yes | head -n 1; echo oops >&2; exit 3");
    expect(r).toEqual({ code: 3, out: "/dev/null\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\ny\n", err: "oops\n" });
    expect((await run("kill -9 $$")).code).toBe(137);
    expect(() => spawnPiped(join(dir, "no-such-program"), ["x"])).toThrow(/ENOENT|no such file/i);
  });
});
