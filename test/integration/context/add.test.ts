import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildContext, DirSourceFs, resolveCopySources } from "../../../src/context/index.js";
import { classifyAddSource, detectArchive, downloadUrl, heredocSource, writeAdd, writeCopy } from "../../../src/builder/copy/index.js";
import { makeTree, readTree } from "./tree.js";

const scratch = mkdtempSync("/tmp/berth-add-");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function freshUpper(name: string): string {
  const d = join(scratch, name);
  mkdirSync(d, { recursive: true });
  return d;
}

describe("ADD of local archives", () => {
  const ctxDir = join(scratch, "ctx");
  beforeAll(() => {
    const src = join(scratch, "payload");
    makeTree(src, {
      "top/": { dir: true, mode: "0750", mtime: 1500000000 },
      "top/a.txt": { content: "a", mode: "0640", uid: 1234, gid: 99, mtime: 1500000000 },
      "top/link": { symlink: "a.txt" },
    });
    mkdirSync(ctxDir, { recursive: true });
    const tarArgs = ["-C", src, "--numeric-owner", "top"];
    execFileSync("tar", ["-cf", join(ctxDir, "plain.tar"), ...tarArgs]);
    execFileSync("tar", ["-czf", join(ctxDir, "gz.tgz"), ...tarArgs]);
    execFileSync("tar", ["-cjf", join(ctxDir, "bz.tar.bz2"), ...tarArgs]);
    execFileSync("tar", ["-cJf", join(ctxDir, "x.txz"), ...tarArgs]);
    // Named like an archive but not one: copied as is. And a gzip that is not a tar.
    writeFileSync(join(ctxDir, "fake.tar.gz"), "just text");
    execFileSync("sh", ["-c", `echo hello | gzip > ${join(ctxDir, "hello.gz")}`]);
  });

  it.each(["plain.tar", "gz.tgz", "bz.tar.bz2", "x.txz"])("unpacks %s into dest, keeping owners, modes and mtimes", async (name) => {
    const ctx = await BuildContext.load(ctxDir, { ignorePatterns: [] });
    const upper = freshUpper("up-" + name);
    await writeAdd({ source: ctx, sources: resolveCopySources(ctx, [name], { command: "ADD" }), dest: "/opt", upperDir: upper, isOpaque: () => false });
    const t = readTree(upper);
    expect(Object.keys(t)).toEqual(["/opt", "/opt/top", "/opt/top/a.txt", "/opt/top/link"]);
    expect(t["/opt"].mode).toBe("0755");
    expect(t["/opt/top"]).toMatchObject({ type: "dir", mode: "0750", mtime: 1500000000 });
    expect(t["/opt/top/a.txt"]).toMatchObject({ content: "a", mode: "0640", uid: 1234, gid: 99, mtime: 1500000000 });
    expect(t["/opt/top/link"]).toMatchObject({ type: "symlink", target: "a.txt" });
  });

  it("applies --chown to unpacked entries", async () => {
    const ctx = await BuildContext.load(ctxDir, { ignorePatterns: [] });
    const upper = freshUpper("up-chown");
    await writeAdd({ source: ctx, sources: resolveCopySources(ctx, ["gz.tgz"]), dest: "/o/", upperDir: upper, owner: { uid: 7, gid: 8 }, isOpaque: () => false });
    const t = readTree(upper);
    expect(t["/o/top/a.txt"]).toMatchObject({ uid: 7, gid: 8 });
    expect(t["/o"]).toMatchObject({ uid: 7, gid: 8 });
  });

  it("copies files that only look like archives, and compressed non-tar files, as they are", async () => {
    expect(await detectArchive(join(ctxDir, "fake.tar.gz"))).toBeUndefined();
    expect(await detectArchive(join(ctxDir, "hello.gz"))).toBeUndefined();
    expect(await detectArchive(join(ctxDir, "bz.tar.bz2"))).toBe("bzip2");
    const ctx = await BuildContext.load(ctxDir, { ignorePatterns: [] });
    const upper = freshUpper("up-fake");
    await writeAdd({ source: ctx, sources: resolveCopySources(ctx, ["fake.tar.gz", "hello.gz"]), dest: "/d/", declaredSources: 2, upperDir: upper, isOpaque: () => false });
    expect(Object.keys(readTree(upper))).toEqual(["/d", "/d/fake.tar.gz", "/d/hello.gz"]);
  });

  it("never writes outside the layer for hostile archives", async () => {
    const outside = join(scratch, "outside");
    mkdirSync(outside);
    const evil = join(scratch, "evilctx");
    mkdirSync(evil);
    execFileSync("python3", [
      "-c",
      `
import tarfile, io
t = tarfile.open("${evil}/evil.tar", "w")
def add(name, data=b"x", kind=tarfile.REGTYPE, link=""):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
add("../../escape-dotdot")
add("/abs-escape")
add("ln", kind=tarfile.SYMTYPE, link="${outside}")
add("ln/through-link")
t.close()
`,
    ]);
    const ctx = await BuildContext.load(evil, { ignorePatterns: [] });
    const upper = freshUpper("up-evil");
    await writeAdd({ source: ctx, sources: resolveCopySources(ctx, ["evil.tar"]), dest: "/x/", upperDir: upper, isOpaque: () => false }).catch(() => undefined);
    expect(existsSync(join(outside, "through-link"))).toBe(false);
    expect(existsSync(join(scratch, "escape-dotdot"))).toBe(false);
    expect(existsSync("/abs-escape")).toBe(false);
  });
});

describe("ADD of URLs", () => {
  let server: Server;
  let base = "";
  const body = "remote content\n";
  const digest = "sha256:" + createHash("sha256").update(body).digest("hex");
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/files/hello.txt") {
        res.writeHead(200, { "Last-Modified": "Tue, 14 Nov 2023 22:13:20 GMT", "Content-Type": "text/plain" });
        res.end(body);
      } else if (req.url === "/redirect") {
        res.writeHead(302, { Location: "/files/hello.txt" });
        res.end();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("downloads with the URL's file name, mode 0600, mtime from Last-Modified, and verifies --checksum", async () => {
    const f = await downloadUrl(`${base}/files/hello.txt`, { checksum: digest });
    try {
      expect(f.name).toBe("hello.txt");
      expect(f.digest).toBe(digest);
      expect(f.mtime).toBe(1700000000);
      const source = new DirSourceFs(f.dir, "download");
      const upper = freshUpper("up-url");
      await writeCopy({ source, sources: resolveCopySources(source, [f.name]), dest: "/srv/", upperDir: upper, owner: { uid: 0, gid: 0 }, command: "ADD" });
      expect(readTree(upper)["/srv/hello.txt"]).toMatchObject({ content: body, mode: "0600", mtime: 1700000000 });
    } finally {
      await f.cleanup();
    }
    expect(existsSync(f.dir)).toBe(false);
  });

  it("refuses a download whose checksum differs, and reports HTTP errors", async () => {
    await expect(downloadUrl(`${base}/redirect`, { checksum: "sha256:" + "0".repeat(64) })).rejects.toThrow(/digest mismatch/);
    await expect(downloadUrl(`${base}/missing`)).rejects.toThrow(/HTTP 404/);
  });

  it("tells git sources apart and names the root of a bare URL __unnamed__", async () => {
    expect(classifyAddSource("https://github.com/moby/buildkit.git#v0.10.1")).toBe("git");
    expect(classifyAddSource("git@github.com:moby/buildkit.git")).toBe("git");
    expect(classifyAddSource(`${base}/files/hello.txt`)).toBe("http");
    expect(classifyAddSource("local/file")).toBe("local");
  });
});

describe("heredoc COPY sources", () => {
  it("writes the heredoc as a 0644 file, named after the heredoc when dest is a dir", async () => {
    const h = await heredocSource([{ name: "EOF", content: "hi\n" }]);
    try {
      const upper = freshUpper("up-heredoc");
      await writeCopy({ source: h.source, sources: h.sources, dest: "/etc/motd", upperDir: upper });
      await writeCopy({ source: h.source, sources: h.sources, dest: "/d/", upperDir: upper, chmod: () => 0o755 });
      const t = readTree(upper);
      expect(t["/etc/motd"]).toMatchObject({ content: "hi\n", mode: "0644", uid: 0, gid: 0 });
      expect(t["/d/EOF"]).toMatchObject({ content: "hi\n", mode: "0755" });
      expect(statSync(h.source.root).isDirectory()).toBe(true);
    } finally {
      await h.cleanup();
    }
  });
});
