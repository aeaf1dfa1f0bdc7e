import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { freePort } from "../../helpers/registry.js";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { parseGitRef } from "../../../src/builder/copy/git.js";
import { imageFs, readImageFile, runBuild, workspace, writeContext } from "./helpers.js";

// ADD of a git repository, served by a real `git daemon` on 127.0.0.1 from a repository made
// here: the contents at a branch, tag or commit (and a subdir) go into the destination.

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
let daemon: ChildProcess | undefined;
let url = "";
let work = "";
let v1 = "";

const git = (args: string[]) => execFileSync("git", args, { cwd: work, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } }).trim();

beforeAll(async () => {
  ws = await workspace("add-git");
  work = join(ws.dir, "work");
  mkdirSync(join(work, "sub"), { recursive: true });
  git(["init", "-q", "-b", "main"]);
  writeFileSync(join(work, "hello.txt"), "v1\n");
  writeFileSync(join(work, "sub", "inner.txt"), "inner\n");
  writeFileSync(join(work, "run.sh"), "#!/bin/sh\necho run\n");
  chmodSync(join(work, "run.sh"), 0o755);
  symlinkSync("hello.txt", join(work, "link"));
  symlinkSync("/etc", join(work, "outside"));
  git(["add", "-A"]);
  git(["commit", "-qm", "one"]);
  git(["tag", "v1"]);
  v1 = git(["rev-parse", "HEAD"]);
  writeFileSync(join(work, "hello.txt"), "v2\n");
  git(["commit", "-qam", "two"]);
  execFileSync("git", ["clone", "-q", "--bare", work, join(ws.dir, "served", "repo.git")]);
  const port = await freePort();
  daemon = spawn("git", ["daemon", "--export-all", `--base-path=${join(ws.dir, "served")}`, "--listen=127.0.0.1", `--port=${port}`, "--reuseaddr", join(ws.dir, "served")], { stdio: "ignore" });
  url = `git://127.0.0.1:${port}/repo.git`;
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync("git", ["ls-remote", url], { stdio: "ignore" });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}, 60_000);
afterAll(() => {
  daemon?.kill();
  ws?.cleanup();
});

describe("ADD <git repository>", () => {
  it("parses #ref[:subdir] as BuildKit does", () => {
    expect(parseGitRef("https://example.com/a/b.git")).toEqual({ remote: "https://example.com/a/b.git", ref: "", subdir: "" });
    expect(parseGitRef("git@example.com:a/b.git#v1.2:docs/")).toEqual({ remote: "git@example.com:a/b.git", ref: "v1.2", subdir: "docs" });
    expect(() => parseGitRef("git://h/r.git#main:../x")).toThrow(/outside the repository/);
  });

  it("copies the tree at a tag, a branch's subdir or a commit: modes and symlinks as in git, no .git, owned by root", async () => {
    const ctx = writeContext(join(ws.dir, "c1"), {
      Dockerfile: `FROM busybox\nADD ${url}#v1 /src\nADD ${url}#main:sub /sub/\nADD ${url}#${v1} /bysha\n`,
    });
    const r = await runBuild(ws, ctx);
    expect(await readImageFile(r.image, "/src/hello.txt")).toBe("v1\n");
    expect(await readImageFile(r.image, "/src/sub/inner.txt")).toBe("inner\n");
    expect(await readImageFile(r.image, "/sub/inner.txt")).toBe("inner\n");
    expect(await readImageFile(r.image, "/bysha/hello.txt")).toBe("v1\n");
    const fs = imageFs(r.image);
    const run = fs.lstat("src/run.sh")!;
    expect([run.type, run.mode & 0o7777, run.uid, run.gid]).toEqual(["file", 0o755, 0, 0]);
    expect(fs.lstat("src/hello.txt")!.mode & 0o7777).toBe(0o644);
    expect(fs.lstat("src/link")?.type).toBe("symlink");
    expect(fs.lstat("src/outside")?.type).toBe("symlink");
    expect(fs.lstat("src/.git")).toBeUndefined();
  }, 120_000);

  it("keys the step by the commit: unchanged refs hit, a moved branch misses", async () => {
    const ctx = writeContext(join(ws.dir, "c2"), { Dockerfile: `FROM busybox\nADD ${url}#v1 /tagged\nADD ${url}#main /branch\n` });
    await runBuild(ws, ctx);
    const again = await runBuild(ws, ctx);
    expect(again.cachedSteps).toBe(2);
    writeFileSync(join(work, "hello.txt"), "v3\n");
    git(["commit", "-qam", "three"]);
    git(["push", "-q", join(ws.dir, "served", "repo.git"), "main"]);
    const moved = await runBuild(ws, ctx);
    expect(moved.cachedNames.some((n) => n.includes("#v1"))).toBe(true);
    expect(moved.executedNames.some((n) => n.includes("#main"))).toBe(true);
    expect(await readImageFile(moved.image, "/branch/hello.txt")).toBe("v3\n");
  }, 120_000);

  it("--checksum is the commit: a match builds, another commit fails naming both", async () => {
    const ok = writeContext(join(ws.dir, "c5"), { Dockerfile: `FROM busybox\nADD --checksum=${v1.slice(0, 12)} ${url}#v1 /src\n` });
    await runBuild(ws, ok);
    const bad = writeContext(join(ws.dir, "c6"), { Dockerfile: `FROM busybox\nADD --checksum=${"0".repeat(40)} ${url}#v1 /src\n` });
    await expect(runBuild(ws, bad)).rejects.toThrow(new RegExp(`does not match the commit ${v1}`));
  }, 120_000);

  it("--keep-git-dir=true keeps .git at the commit", async () => {
    const ctx = writeContext(join(ws.dir, "c3"), { Dockerfile: `FROM busybox\nADD --keep-git-dir=true ${url}#v1 /src\nRUN cat /src/.git/HEAD > /head\n` });
    const r = await runBuild(ws, ctx);
    expect(await readImageFile(r.image, "/head")).toBe(`${v1}\n`);
  }, 120_000);

  it("a ref or subdir that does not exist, or a subdir through a symlink out of the repository, fails naming it", async () => {
    for (const [src, message] of [
      [`${url}#nosuchref`, /git fetch failed/],
      [`${url}#main:nosuchdir`, /no directory nosuchdir/],
      [`${url}#main:outside`, /no directory outside/],
    ] as const) {
      const ctx = writeContext(join(ws.dir, `c4-${src.length}-${String(message).length}`), { Dockerfile: `FROM busybox\nADD ${src} /x\n` });
      await expect(runBuild(ws, ctx)).rejects.toThrow(message);
    }
  }, 120_000);
});
