import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cacheMountDir, leaseCacheDir, planCacheMount, type CacheMountPlan, type CacheSharing } from "../../../src/builder/cache-mount.js";
import { parseMountSpec, type CacheMount } from "../../../src/instructions/index.js";

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

describe("leaseCacheDir with a seed (from=)", () => {
  it("seeds a new directory once, concurrent first users included; later leases reuse it", async () => {
    const b = base();
    let seeded = 0;
    const seed = async (dir: string) => {
      seeded++;
      await mkdir(dir);
      await new Promise((r) => setTimeout(r, 50));
      writeFileSync(join(dir, "seeded"), "yes");
    };
    const [x, y] = await Promise.all([leaseCacheDir(b, { sharing: "shared", seed }), leaseCacheDir(b, { sharing: "shared", seed })]);
    expect(seeded).toBe(1);
    expect(readFileSync(join(x.dir, "seeded"), "utf8")).toBe("yes");
    expect(y.dir).toBe(x.dir);
    await Promise.all([x.release(), y.release()]);
    const z = await leaseCacheDir(b, { sharing: "private", seed });
    expect(seeded).toBe(1);
    await z.release();
  });

  it("a failed seed leaves no directory (and no half copy): the next lease seeds again", async () => {
    const b = base();
    const failing = async (dir: string) => {
      await mkdir(dir);
      writeFileSync(join(dir, "half"), "");
      throw new Error("seed failed");
    };
    await expect(leaseCacheDir(b, { sharing: "shared", seed: failing })).rejects.toThrow(/seed failed/);
    expect(readdirSync(dirname(b)).filter((f) => f.startsWith(basename(b)) && !f.endsWith(".lock"))).toEqual([]);
    const ok = await leaseCacheDir(b, { sharing: "shared", seed: (dir) => mkdir(dir).then(() => undefined) });
    expect(readdirSync(ok.dir)).toEqual([]);
    await ok.release();
  });
});

describe("planCacheMount (BuildKit's cache ref key: id, and the ref from= names)", () => {
  const mount = (spec: string): CacheMount => parseMountSpec(spec, { start: { line: 2, column: 5, offset: 0 }, end: { line: 2, column: 9, offset: 0 } }) as CacheMount;
  const cases: { name: string; spec: string; from?: string; key: string; seed?: CacheMountPlan["seed"]; subpath?: string }[] = [
    { name: "no from: the id alone (the directory berth always used)", spec: "type=cache,target=/c,id=x", key: "x" },
    { name: "id defaults to the target", spec: "type=cache,target=/root/.cache", key: "/root/.cache" },
    { name: "no from, uid/gid/mode: a base of its own", spec: "type=cache,target=/c,id=x,uid=1000,mode=0700", key: "x:scratch+mkdir:700:1000:0" },
    { name: "no from, source: a subdirectory of the same cache", spec: "type=cache,target=/c,id=x,source=/sub/", key: "x", subpath: "sub" },
    { name: "from: keyed by from's identity, seeded with its root", spec: "type=cache,target=/c,id=x,from=seed", from: "stage:sha256:aa", key: "x:stage:sha256:aa", seed: { from: "stage:sha256:aa", source: "" } },
    { name: "from and source: keyed and seeded by both", spec: "type=cache,target=/c,id=x,from=seed,source=data/./sub", from: "stage:sha256:aa", key: "x:stage:sha256:aa:/data/sub", seed: { from: "stage:sha256:aa", source: "data/sub" } },
    { name: "from with uid and no source: BuildKit's mkdir /cache in from's tree", spec: "type=cache,target=/c,id=x,from=seed,uid=5,gid=6", from: "image:sha256:bb", key: "x:image:sha256:bb+mkdir:755:5:6", seed: { from: "image:sha256:bb", source: "cache", mkdir: { mode: 0o755, uid: 5, gid: 6 } } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = planCacheMount(mount(c.spec), c.from);
      expect(p.key).toBe(c.key);
      expect(p.seed).toEqual(c.seed);
      expect(p.subpath).toBe(c.subpath ?? "");
    });
  }

  it("a different from, or source, is a different cache directory; the same is the same", () => {
    const m = mount("type=cache,target=/c,id=x,from=seed,source=/d");
    const dir = (from: string, mm = m) => cacheMountDir("/m", planCacheMount(mm, from).key);
    expect(dir("stage:sha256:1")).toBe(dir("stage:sha256:1"));
    expect(dir("stage:sha256:1")).not.toBe(dir("stage:sha256:2"));
    expect(dir("stage:sha256:1")).not.toBe(dir("stage:sha256:1", mount("type=cache,target=/c,id=x,from=seed,source=/e")));
    // without from, the directory is the one berth used before from= was supported
    expect(cacheMountDir("/m", planCacheMount(mount("type=cache,target=/c,id=x"), undefined).key)).toBe(
      `/m/${createHash("sha256").update("x").digest("hex").slice(0, 32)}`,
    );
  });

  it("a source above the tree's root is refused, naming it", () => {
    expect(() => planCacheMount(mount("type=cache,target=/c,from=seed,source=../etc"), "stage:x")).toThrow(/source "..\/etc" is outside the tree of from=seed/);
  });
});
