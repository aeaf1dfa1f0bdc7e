import { existsSync, readFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { removeTree } from "../native.js";
import { cleanupTransient } from "../runtime/transient.js";
import { pidAlive } from "../store/check.js";
import { tryAcquireFlock, type HeldLock } from "../store/lock.js";

/**
 * Each build that runs containers has a state dir, /run/berth/build/<pid>-<random> (bundles,
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
