import { execFile } from "node:child_process";
import { mkdtemp, realpath, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { CopyError } from "./errors.js";

/** `ADD <git url>#<ref>[:<subdir>]`, as BuildKit's dfgitutil.ParseGitRef reads it. */
export interface GitRef {
  /** The repository URL, without the fragment. */
  remote: string;
  /** A branch, tag or commit; the remote's HEAD when empty. */
  ref: string;
  /** A directory of the repository whose contents are copied ("" for the root). */
  subdir: string;
}

export function parseGitRef(src: string): GitRef {
  const hash = src.indexOf("#");
  const remote = hash < 0 ? src : src.slice(0, hash);
  const fragment = hash < 0 ? "" : src.slice(hash + 1);
  const colon = fragment.indexOf(":");
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = colon < 0 ? "" : posix.normalize(fragment.slice(colon + 1)).replace(/^\/+|\/+$/g, "").replace(/^\.$/, "");
  if (subdir === ".." || subdir.startsWith("../")) throw new CopyError(`${src}: subdir ${JSON.stringify(fragment.slice(colon + 1))} is outside the repository`);
  return { remote, ref, subdir };
}

export interface GitCheckout {
  /** The directory whose contents ADD copies (the repository's root or its subdir). */
  dir: string;
  /** The commit checked out (40 hex). */
  commit: string;
  cleanup(): Promise<void>;
}

export interface GitCheckoutOptions {
  /** Keep `.git` (ADD --keep-git-dir); BuildKit drops it by default. */
  keepGitDir?: boolean;
  /** An SSH agent socket for ssh remotes (git@host:…, ssh://…): the build's `--ssh default`. */
  sshAuthSock?: string | undefined;
  /** Abort after this many milliseconds (default 10 minutes). */
  timeoutMs?: number;
}

/**
 * Fetches `src` (a git URL with an optional #ref[:subdir]) into a private temp dir with the host's
 * git: a shallow fetch of the ref (a commit that cannot be fetched by itself: the whole history),
 * its submodules, `.git` removed unless kept. Never prompts for credentials.
 */
export async function checkoutGit(src: string, o: GitCheckoutOptions = {}): Promise<GitCheckout> {
  const { remote, ref, subdir } = parseGitRef(src);
  const tmp = await mkdtemp(join(tmpdir(), "berth-git-"));
  const cleanup = () => rm(tmp, { recursive: true, force: true });
  const repo = join(tmp, "repo");
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "true", LC_ALL: "C" };
  if (o.sshAuthSock !== undefined) env.SSH_AUTH_SOCK = o.sshAuthSock;
  const timeout = o.timeoutMs ?? 600_000;
  const git = (args: string[], cwd = repo) =>
    new Promise<string>((resolve, reject) => {
      execFile("git", args, { cwd, env, timeout, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
        if (err === null) resolve(stdout.trim());
        else if ((err as NodeJS.ErrnoException).code === "ENOENT") reject(new CopyError(`ADD ${src}: git is not installed (Debian package git)`));
        else reject(new CopyError(`ADD ${src}: git ${args[0]} failed: ${(stderr || err.message).trim().split("\n").slice(-3).join(" ")}`));
      });
    });
  try {
    await git(["init", "-q", repo], tmp);
    await git(["remote", "add", "origin", remote]);
    const want = ref === "" ? "HEAD" : ref;
    try {
      await git(["fetch", "-q", "--depth", "1", "--no-tags", "origin", want]);
    } catch (err) {
      // a commit the server will not serve by itself: fetch everything, then look it up
      if (!/^[0-9a-f]{7,40}$/.test(want)) throw err;
      await git(["fetch", "-q", "--tags", "origin"]);
      await git(["rev-parse", "-q", "--verify", `${want}^{commit}`]).catch(() => {
        throw new CopyError(`ADD ${src}: no commit ${want} in ${remote}`);
      });
      await git(["update-ref", "FETCH_HEAD", `${want}^{commit}`]);
    }
    await git(["-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"]);
    const commit = await git(["rev-parse", "HEAD"]);
    if (await stat(join(repo, ".gitmodules")).then(() => true, () => false)) {
      await git(["submodule", "update", "-q", "--init", "--recursive", "--depth", "1"]);
    }
    if (o.keepGitDir !== true) await rm(join(repo, ".git"), { recursive: true, force: true });
    const dir = subdir === "" ? repo : join(repo, subdir);
    // a subdir that is (or goes through) a symlink must stay inside the repository
    const root = await realpath(repo);
    const real = await realpath(dir).catch(() => undefined);
    const st = real === undefined ? undefined : await stat(real);
    if (real === undefined || st === undefined || !st.isDirectory() || (real !== root && !real.startsWith(`${root}/`))) {
      throw new CopyError(`ADD ${src}: no directory ${subdir} in the repository at ${ref === "" ? "HEAD" : ref}`);
    }
    return { dir: real, commit, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
