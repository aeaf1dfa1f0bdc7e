import { spawn } from "node:child_process";
import type { Writable } from "node:stream";
import { chrootHelper } from "../sys/addon.js";
import { containerEnv } from "./env.js";
import { RuntimeError } from "./errors.js";
import { checkExecutable } from "./lookpath.js";
import { resolveUser } from "./user.js";

export interface ChrootProcess {
  /** The directory that becomes the process's root: a plain tree, nothing mounted in it. */
  root: string;
  args: string[];
  /** KEY=value; PATH and HOME get Docker's defaults when missing */
  env: string[];
  cwd: string;
  /** `user[:group]`, resolved against the root's /etc/passwd and /etc/group */
  user?: string;
  hostname?: string;
  stdout: Writable;
  stderr: Writable;
  /** aborting kills the process (SIGKILL) */
  signal?: AbortSignal;
}

/**
 * Runs one process chrooted into `root` with this process's own privileges: no namespaces, no
 * mounts, no seccomp filter, no capability drop, the job's network (Buildah's `--isolation
 * chroot`, without its bind mounts of /dev, /proc and /sys, which need CAP_SYS_ADMIN). For
 * builds in containers that allow neither mounts nor user namespaces. Resolves with the exit
 * code; 127/126 (RuntimeError) when the command is not found or not executable, as runc's.
 */
export async function runChrooted(p: ChrootProcess): Promise<number> {
  const user = await resolveUser(p.root, p.user);
  const env = containerEnv({ imageEnv: p.env, ...(p.hostname !== undefined ? { hostname: p.hostname } : {}), home: user.home });
  await checkExecutable(p.root, p.args[0] ?? "", env, p.cwd);
  const helper = chrootHelper();
  const groups = user.additionalGids.length > 0 ? user.additionalGids.join(",") : "-";
  const [file, args] =
    helper !== undefined
      ? [helper, [p.root, p.cwd, String(user.uid), String(user.gid), groups, "--", ...p.args]]
      : // coreutils' chroot(8) changes to / inside: the image's shell changes to the directory
        ["chroot", [`--userspec=${user.uid}:${user.gid}`, ...(groups !== "-" ? [`--groups=${groups}`] : []), p.root, "/bin/sh", "-c", 'cd "$0" && exec "$@"', p.cwd, ...p.args]];
  const child = spawn(file, args, { env: Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)])), stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(p.stdout, { end: false });
  child.stderr.pipe(p.stderr, { end: false });
  const kill = () => child.kill("SIGKILL");
  p.signal?.addEventListener("abort", kill, { once: true });
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on("error", (err) => reject(new RuntimeError(`cannot run the step chrooted: ${file}: ${err.message}`)));
      child.on("close", (code, signal) => resolve(code ?? 128 + (signal === "SIGKILL" ? 9 : 15)));
    });
  } finally {
    p.signal?.removeEventListener("abort", kill);
  }
}
