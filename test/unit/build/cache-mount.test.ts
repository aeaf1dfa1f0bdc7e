import { mkdtempSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { leaseCacheDir, type CacheSharing } from "../../../src/build/cache-mount.js";

const root = mkdtempSync("/tmp/berth-cache-mount-");
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const base = () => join(root, "mounts", `id${n++}`);
const lease = (b: string, sharing: CacheSharing) => leaseCacheDir(b, { sharing });

describe("leaseCacheDir (sharing=shared|private|locked, flock(1) across processes)", () => {
  it("shared: concurrent users get the same directory", async () => {
    const b = base();
    const [x, y] = await Promise.all([lease(b, "shared"), lease(b, "shared")]);
    expect(x.dir).toBe(b);
    expect(y.dir).toBe(b);
    await Promise.all([x.release(), y.release()]);
  });

  it("private: a busy directory makes a new instance; instances are kept and reused when free", async () => {
    const b = base();
    const first = await lease(b, "private");
    const second = await lease(b, "private");
    expect(first.dir).toBe(b);
    expect(second.dir).toBe(`${b}-1`);
    await first.release();
    // the first instance is free again: taken before the second (still busy) or a new one
    const third = await lease(b, "private");
    expect(third.dir).toBe(b);
    await second.release();
    const fourth = await lease(b, "private");
    expect(fourth.dir).toBe(`${b}-1`);
    await Promise.all([third.release(), fourth.release()]);
    expect(statSync(`${b}-1`).isDirectory()).toBe(true);
  });

  it("private and shared exclude each other; shared users join an instance that only shared users hold", async () => {
    const b = base();
    const s1 = await lease(b, "shared");
    const p = await lease(b, "private");
    expect(p.dir).toBe(`${b}-1`);
    const s2 = await lease(b, "shared");
    expect(s2.dir).toBe(b);
    await s1.release();
    await s2.release();
    const s3 = await lease(b, "shared"); // the private one still holds -1
    expect(s3.dir).toBe(b);
    await Promise.all([p.release(), s3.release()]);
  });

  it("locked: waits until the holder releases, then gets the same directory", async () => {
    const b = base();
    const held = await lease(b, "locked");
    let got: string | undefined;
    const waiting = lease(b, "locked").then((l) => {
      got = l.dir;
      return l;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toBeUndefined();
    await held.release();
    const second = await waiting;
    expect(second.dir).toBe(b);
    await second.release();
  });

  it("locked: a wait can be cancelled", async () => {
    const b = base();
    const held = await lease(b, "locked");
    const ac = new AbortController();
    const waiting = leaseCacheDir(b, { sharing: "locked", signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(waiting).rejects.toThrow(/cancelled/);
    await held.release();
  });

  it("a new directory gets the mount's mode and owner", async () => {
    const b = base();
    const l = await leaseCacheDir(b, { sharing: "private", mode: 0o1777, uid: 12, gid: 34 });
    const st = statSync(l.dir);
    expect(st.mode & 0o7777).toBe(0o1777);
    expect([st.uid, st.gid]).toEqual([12, 34]);
    await l.release();
  });
});
