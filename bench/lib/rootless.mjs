// berth as an ordinary user beside berth as root in the benchmarks (issue 16): the user made by
// scripts/rootless-user.sh (BENCH_ROOTLESS_USER, default berthtest), when it exists and
// BENCH_ROOTLESS is not 0. Commands run as that user with setpriv (no PAM session, as runuser
// would open: only an exec more than root's commands), through bin/berth, so berth-launch joins
// the user's namespace as it does for a user's shell.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const repo = new URL("../..", import.meta.url).pathname;

/**
 * The user to run as, with its uid and gid, a run root of this bench's own and the
 * environment its commands get; undefined when the rootless rows are off or impossible.
 */
export function rootlessUser() {
  if (process.env.BENCH_ROOTLESS === "0" || process.getuid?.() !== 0) return undefined;
  const name = process.env.BENCH_ROOTLESS_USER ?? "berthtest";
  const id = spawnSync("id", ["-u", name], { encoding: "utf8" });
  if (id.status !== 0 || !existsSync("/usr/bin/newuidmap")) return undefined;
  // idempotent: the runtime dir, /dev/net/tun, read access to this checkout
  execFileSync(join(repo, "scripts/rootless-user.sh"), [name], { stdio: "ignore" });
  const uid = Number(id.stdout.trim());
  const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8" }).trim());
  const home = execFileSync("getent", ["passwd", name], { encoding: "utf8" }).split(":")[5];
  const runRoot = `/run/user/${uid}/berth-bench-${process.pid}`;
  const env = { PATH: process.env.PATH, HOME: home, XDG_RUNTIME_DIR: `/run/user/${uid}`, BERTH_RUN_ROOT: runRoot };
  return { name, uid, gid, runRoot, env };
}

/** A shell command line (for hyperfine) that runs `args` as the user with `env`. */
export function asUserCommand(user, env, args) {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "env", "-i", ...vars, ...args].join(" ");
}

/**
 * Ends what the user's commands left for this run root (pruned through one of the user's stores,
 * `store`): the builds' network sandboxes and the default network (pasta daemons), then the
 * namespace holder, with every mount made in it.
 */
export function stopRootless(user, store) {
  const berth = join(repo, "bin/berth");
  for (const args of [["builder", "prune", "-af"], ["network", "prune", "-f"]]) {
    if (store !== undefined) spawnSync(berth, ["--root", store, ...args], { uid: user.uid, gid: user.gid, env: user.env, stdio: "ignore" });
  }
  try {
    process.kill(Number(readFileSync(join(user.runRoot, "userns.pid"), "utf8").split(" ")[0]), "SIGKILL");
  } catch {
    // never started
  }
  spawnSync("rm", ["-rf", user.runRoot]);
}
