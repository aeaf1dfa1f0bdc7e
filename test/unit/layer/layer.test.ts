import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, symlinkSync, linkSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import * as tar from "tar-stream";
import { applyLayer, digestDirectory, diffDirectory, LayerError } from "../../../src/layer/index.js";
import { busyboxRootfs } from "../../helpers/busybox.js";

const work = mkdtempSync("/tmp/berth-layer-test-");
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => {
  const d = join(work, `d${n++}`);
  mkdirSync(d);
  return d;
};

type E = { name: string; type?: tar.Header["type"]; linkname?: string; body?: string; mode?: number; devmajor?: number; devminor?: number };
async function tarOf(entries: E[]): Promise<Readable> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? "file", linkname: e.linkname, mode: e.mode ?? 0o644, devmajor: e.devmajor, devminor: e.devminor, mtime: new Date(1000) }, e.body ?? "");
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Readable.from([Buffer.concat(chunks)]);
}

async function tarEntries(dir: string): Promise<tar.Header[]> {
  const ex = tar.extract();
  const out: tar.Header[] = [];
  const src = diffDirectory(dir);
  src.pipe(ex as unknown as NodeJS.WritableStream);
  for await (const e of ex) {
    out.push(e.header);
    e.resume();
  }
  return out;
}

describe("diff", () => {
  it("is deterministic and survives apply → diff unchanged", async () => {
    const a = await digestDirectory(busyboxRootfs());
    const b = await digestDirectory(busyboxRootfs());
    expect(a).toEqual(b);
    const target = fresh();
    await applyLayer(diffDirectory(busyboxRootfs()), target);
    expect(await digestDirectory(target)).toEqual(a);
    expect(readlinkSync(join(target, "bin/sh"))).toBe("busybox");
    expect(statSync(join(target, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(statSync(join(target, "home/app")).uid).toBe(1000);
  });

  it("clamps mtimes to sourceDateEpoch and changes the digest only through metadata", async () => {
    const d = fresh();
    writeFileSync(join(d, "f"), "x");
    const plain = await digestDirectory(d);
    const clamped = await digestDirectory(d, { sourceDateEpoch: 0 });
    expect(clamped.diffId).not.toBe(plain.diffId);
    const headers = await tarEntries(d);
    expect(headers[0]!.mtime!.getTime()).toBeGreaterThan(0);
  });

  it("keeps hardlinks, setuid bits, xattrs and long names", async () => {
    const d = fresh();
    writeFileSync(join(d, "a"), "hello");
    linkSync(join(d, "a"), join(d, "b"));
    writeFileSync(join(d, "suid"), "s");
    execFileSync("chmod", ["4755", join(d, "suid")]);
    execFileSync("setfattr", ["-n", "user.note", "-v", "hi", join(d, "a")]);
    execFileSync("setfattr", ["-n", "security.capability", "-v", "0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=", join(d, "suid")]);
    const long = "x".repeat(150);
    mkdirSync(join(d, long));
    writeFileSync(join(d, long, "ü-file"), "u");
    symlinkSync(`/${"t".repeat(120)}`, join(d, "longlink"));
    const headers = await tarEntries(d);
    expect(headers.find((h) => h.name === "b")).toMatchObject({ type: "link", linkname: "a" });
    expect(headers.map((h) => h.name)).toContain(`${long}/ü-file`);
    const target = fresh();
    await applyLayer(diffDirectory(d), target);
    expect(statSync(join(target, "suid")).mode & 0o7777).toBe(0o4755);
    expect(statSync(join(target, "a")).ino).toBe(statSync(join(target, "b")).ino);
    expect(execFileSync("getfattr", ["--absolute-names", "--only-values", "-n", "user.note", join(target, "a")], { encoding: "utf8" })).toBe("hi");
    expect(execFileSync("getfattr", ["--absolute-names", "-e", "base64", "-n", "security.capability", join(target, "suid")], { encoding: "utf8" })).toContain("0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=");
    expect(readFileSync(join(target, long, "ü-file"), "utf8")).toBe("u");
    expect(readlinkSync(join(target, "longlink"))).toBe(`/${"t".repeat(120)}`);
    expect((await digestDirectory(target)).diffId).toBe((await digestDirectory(d)).diffId);
  });
});

describe("owners and modes tar-stream could not write", () => {
  it("keeps mode 0 and owners above 262143 (PAX uid/gid) through diff → apply, readable by GNU tar", async () => {
    const d = fresh();
    writeFileSync(join(d, "locked"), "secret");
    execFileSync("chmod", ["000", join(d, "locked")]);
    writeFileSync(join(d, "high"), "h");
    execFileSync("chown", ["70000000:300000", join(d, "high")]);
    const tarFile = join(work, `t${n++}.tar`);
    const chunks: Buffer[] = [];
    for await (const c of diffDirectory(d)) chunks.push(c as Buffer);
    writeFileSync(tarFile, Buffer.concat(chunks));
    const listing = execFileSync("tar", ["--numeric-owner", "-tvf", tarFile], { encoding: "utf8" });
    expect(listing).toMatch(/^-rw-r--r-- 70000000\/300000 .* high$/m);
    expect(listing).toMatch(/^---------- 0\/0 .* locked$/m);
    const target = fresh();
    await applyLayer(Readable.from([Buffer.concat(chunks)]), target);
    expect(lstatSync(join(target, "locked")).mode & 0o7777).toBe(0);
    expect(lstatSync(join(target, "high"))).toMatchObject({ uid: 70000000, gid: 300000 });
    expect((await digestDirectory(target)).diffId).toBe((await digestDirectory(d)).diffId);
  });
});

describe("whiteouts from a real overlay upper dir", () => {
  it("turns 0:0 devices and opaque dirs into .wh. entries and back", async () => {
    const root = fresh();
    for (const x of ["lower", "upper", "work", "merged"]) mkdirSync(join(root, x));
    mkdirSync(join(root, "lower/keep"));
    mkdirSync(join(root, "lower/opq"));
    writeFileSync(join(root, "lower/gone"), "g");
    writeFileSync(join(root, "lower/opq/old"), "o");
    writeFileSync(join(root, "lower/keep/k"), "k");
    execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${root}/lower,upperdir=${root}/upper,workdir=${root}/work`, join(root, "merged")]);
    try {
      rmSync(join(root, "merged/gone"));
      rmSync(join(root, "merged/opq"), { recursive: true });
      mkdirSync(join(root, "merged/opq"));
      writeFileSync(join(root, "merged/opq/new"), "n");
      writeFileSync(join(root, "merged/keep/added"), "a");
    } finally {
      execFileSync("umount", [join(root, "merged")]);
    }
    const names = (await tarEntries(join(root, "upper"))).map((h) => h.name);
    expect(names).toEqual([".wh.gone", "keep/", "keep/added", "opq/", "opq/.wh..wh..opq", "opq/new"]);
    // both sides name the opaque dirs, so a layer's record can answer without getfattr
    expect((await digestDirectory(join(root, "upper"))).opaque).toEqual(["opq"]);
    // applied as a lower dir, overlay hides what the whiteouts remove
    const layer = fresh();
    expect((await applyLayer(diffDirectory(join(root, "upper")), layer)).opaque).toEqual(["opq"]);
    expect(lstatSync(join(layer, "gone")).isCharacterDevice()).toBe(true);
    expect(execFileSync("getfattr", ["--absolute-names", "--only-values", "-n", "trusted.overlay.opaque", join(layer, "opq")], { encoding: "utf8" })).toBe("y");
    const m2 = fresh();
    execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${layer}:${root}/lower`, m2]);
    try {
      expect(existsSync(join(m2, "gone"))).toBe(false);
      expect(existsSync(join(m2, "opq/old"))).toBe(false);
      expect(readFileSync(join(m2, "opq/new"), "utf8")).toBe("n");
      expect(readFileSync(join(m2, "keep/k"), "utf8")).toBe("k");
    } finally {
      execFileSync("umount", [m2]);
    }
  });
});

describe("hostile archives", () => {
  const cases: [string, E[], RegExp][] = [
    ["traversal", [{ name: "../evil", body: "x" }], /escapes the layer root/],
    ["deep traversal", [{ name: "a/../../evil", body: "x" }], /escapes the layer root/],
    ["symlink escape", [{ name: "l", type: "symlink", linkname: "/tmp" }, { name: "l/evil", body: "x" }], /symbolic link/],
    ["relative symlink escape", [{ name: "d/", type: "directory" }, { name: "d/l", type: "symlink", linkname: "../../.." }, { name: "d/l/evil", body: "x" }], /symbolic link/],
    ["hardlink escape", [{ name: "h", type: "link", linkname: "../../etc/passwd" }], /escapes the layer root/],
    ["hardlink to absent", [{ name: "h", type: "link", linkname: "/etc/passwd" }], /not in the layer/],
  ];
  it.each(cases)("refuses %s", async (_name, entries, why) => {
    const target = fresh();
    await expect(applyLayer(await tarOf(entries), target, { source: "evil.tar" })).rejects.toThrow(why);
    expect(existsSync(join(work, "evil"))).toBe(false);
    expect(existsSync("/tmp/evil")).toBe(false);
  });

  it("strips leading slashes like tar", async () => {
    const target = fresh();
    await applyLayer(await tarOf([{ name: "/abs", body: "a" }]), target);
    expect(readFileSync(join(target, "abs"), "utf8")).toBe("a");
  });

  it("a symlink pointing out is kept as a symlink, and a hardlink to it links the symlink", async () => {
    const target = fresh();
    await applyLayer(await tarOf([{ name: "s", type: "symlink", linkname: "/etc/passwd" }, { name: "h", type: "link", linkname: "s" }]), target);
    expect(lstatSync(join(target, "h")).isSymbolicLink()).toBe(true);
  });

  it("skips device nodes when not root, creates them as root", async () => {
    const entries: E[] = [{ name: "null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 }];
    const t1 = fresh();
    const r = await applyLayer(await tarOf(entries), t1, { asRoot: false });
    expect(r.skippedDevices).toBe(1);
    expect(existsSync(join(t1, "null"))).toBe(false);
    const t2 = fresh();
    await applyLayer(await tarOf(entries), t2, { asRoot: true });
    expect(lstatSync(join(t2, "null")).isCharacterDevice()).toBe(true);
  });

  it("reports a truncated archive", async () => {
    const chunks: Buffer[] = [];
    for await (const c of diffDirectory(busyboxRootfs())) chunks.push(c as Buffer);
    const all = Buffer.concat(chunks);
    await expect(applyLayer(Readable.from([all.subarray(0, 700_000)]), fresh(), { source: "cut.tar" })).rejects.toThrow(LayerError);
  });
});

describe("parallel gzip", () => {
  it("gives a multi-member gzip that gunzip reads back, the same bytes every time", async () => {
    const { parallelGzip } = await import("../../../src/layer/pgzip.js");
    const { gunzipSync } = await import("node:zlib");
    const input = Buffer.concat([Buffer.alloc(300_000, 7), Buffer.from(Array.from({ length: 500_000 }, (_, i) => (i * 7919) % 251))]);
    const run = async (): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      const z = parallelGzip({ pieceSize: 100_000, parallel: 3 });
      const done = (async () => { for await (const c of z) chunks.push(c as Buffer); })();
      for (let i = 0; i < input.length; i += 65536) z.write(input.subarray(i, i + 65536));
      z.end();
      await done;
      return Buffer.concat(chunks);
    };
    const a = await run();
    expect(gunzipSync(a).equals(input)).toBe(true);
    expect((await run()).equals(a)).toBe(true);
    const empty = parallelGzip();
    const out: Buffer[] = [];
    const d = (async () => { for await (const c of empty) out.push(c as Buffer); })();
    empty.end();
    await d;
    expect(gunzipSync(Buffer.concat(out)).length).toBe(0);
  });
});
