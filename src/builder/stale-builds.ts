import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { removeTree } from "../sys/remove-tree.js";
import { cleanupTransient } from "../runtime/transient.js";
import { pidAlive } from "../store/check.js";
import { tryAcquireFlock, type HeldLock } from "../sys/flock.js";

/**
 * Each build that runs containers has a state dir, build/<pid>-<random> in the run root (/run/berth as root) (bundles,
 * runc state, resolv.conf and hosts copies), removed at its end. A build killed with SIGKILL
 * (or a crash) leaves it, with runc state and maybe a container still running. The build holds
 * `lock` in its dir (the store's flock, released by the kernel when the process dies, seen
 * across pid namespaces); another build that starts containers sweeps the dirs whose lock it
 * can take: their containers are killed and deleted, the dir removed. A dir without a lock file
 * (an older berth) goes when its pid is gone.
 */
const STATE_LOCK = "lock";

/** Takes this build's lock in its state dir, to release at the build's end. */
export function lockStateDir(stateDir: string): Promise<HeldLock | undefined> {
  return tryAcquireFlock(join(stateDir, STATE_LOCK)).catch(() => undefined);
}

/**
 * Kills this build's containers as soon as the build dies, however it dies (SIGKILL included):
 * a sweep by a later build would come too late, and nothing else would. runc's containers are
 * not children of berth: `runc run` forks the container's init and stays its parent, so
 * neither berth's death nor runc's (PR_SET_PDEATHSIG on runc: SIGKILL leaves the init running,
 * reparented; a catchable signal is forwarded to the init, which as pid 1 of its namespace
 * ignores one it has no handler for) ends the step's process. So a watchdog, in a session of
 * its own (Ctrl-C to the terminal does not reach it), waits for this build's lock:
 * `flock` blocks on `lock` in the state dir and gets it when the build's process is gone (the
 * kernel drops a dead process's locks); then `runc delete --force` kills each container left
 * (SIGKILL to its init: its pid namespace goes with it) and removes its cgroup and runc state,
 * and the dir is removed unless something is mounted under it. A build that ends normally
 * kills its watchdog first (`stop`). One process per build that runs containers (flock, then
 * sh and runc only after a death); none where util-linux's flock is missing.
 */
export function watchStateDir(stateDir: string, runtime: string = process.env.BERTH_RUNTIME ?? "runc"): { stop(): void } {
  const script = 'for id in $(ls "$1/runc" 2>/dev/null); do "$2" --root "$1/runc" delete --force "$id" >/dev/null 2>&1; done; grep -qF "$1" /proc/self/mountinfo || rm -rf "$1"';
  let child: ReturnType<typeof spawn> | undefined;
  try {
    child = spawn("flock", ["-x", join(stateDir, STATE_LOCK), "sh", "-c", script, "sh", stateDir, runtime], { detached: true, stdio: "ignore" });
    child.on("error", () => undefined);
    child.unref();
  } catch {
    child = undefined;
  }
  return {
    stop: () => {
      if (child?.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

/** Sweeps the state dirs beside `ownStateDir` whose build is gone (see above). */
export async function sweepDeadBuilds(ownStateDir: string, runtime?: string): Promise<string[]> {
  const root = dirname(ownStateDir);
  const swept: string[] = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const m = /^(\d+)-[0-9a-f]+$/.exec(name);
    const dir = join(root, name);
    if (m === null || dir === ownStateDir) continue;
    const lockFile = join(dir, STATE_LOCK);
    let held: HeldLock | undefined;
    if (existsSync(lockFile)) {
      held = await tryAcquireFlock(lockFile).catch(() => undefined);
      if (held === undefined) continue; // its build runs
    } else if (pidAlive(Number(m[1]))) continue;
    try {
      await cleanupTransient(dir, runtime).catch(() => undefined);
      // never rm through a mount that is still there
      if (readFileSync("/proc/self/mountinfo", "utf8").includes(dir)) continue;
      await removeTree(dir).catch(() => undefined);
      swept.push(dir);
    } finally {
      await held?.release();
    }
  }
  return swept;
}
