import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { constants, userInfo } from "node:os";
import { join } from "node:path";
import { BerthError } from "../errors.js";
import { acquireFlock } from "./flock.js";
import { ROOTLESS_UID_ENV } from "./host-uid.js";
import { runRoot } from "./run-root.js";

/**
 * Rootless berth: an ordinary user's berth commands all run inside ONE user namespace and
 * mount namespace of that user, as podman's "pause process" does. The first command starts a
 * holder (`unshare … sleep infinity`) whose namespaces are mapped with newuidmap/newgidmap
 * (Debian's uidmap, setuid root — berth has no setuid helper of its own): root in the
 * namespace is the user, uids 1…65536 are the user's subordinate ids from /etc/subuid (and
 * /etc/subgid). Its pid is recorded in the run root (`<pid> <start time>`, userns.pid), where
 * berth-launch (native/launch.c, run by bin/berth's first line) finds it and joins it with
 * setns(2) before Node starts: joining a user namespace needs a single-threaded caller, and
 * Node has threads from its start. Where that did not happen (the first command starts the
 * holder; no launcher; `node bin/berth`), the command re-runs itself inside with nsenter.
 * Inside, berth is uid 0 with every capability of the namespace: it mounts overlays and
 * tmpfs, chowns within the mapped range and runs runc (which sees the user namespace and runs
 * rootless); the mount namespace keeps a running container's mounts between commands.
 */

/** A subordinate id range: `count` ids from `start`. */
export interface SubordinateRange {
  start: number;
  count: number;
}

/** The user's first range in /etc/subuid or /etc/subgid (lines `name-or-uid:start:count`), as newuidmap reads them. */
export function subordinateRange(text: string, name: string, id: number): SubordinateRange | undefined {
  for (const line of text.split("\n")) {
    const [owner, start, count] = line.trim().split(":");
    if ((owner === name || owner === String(id)) && /^[0-9]+$/.test(start ?? "") && /^[0-9]+$/.test(count ?? "") && Number(count) > 0) {
      return { start: Number(start), count: Number(count) };
    }
  }
  return undefined;
}

function readRange(file: string, name: string, id: number): SubordinateRange {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    // no file: no ranges
  }
  const range = subordinateRange(text, name, id);
  if (range === undefined) {
    throw new BerthError(
      `rootless berth needs subordinate ids: ${file} has no range for user ${name} (as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name})`,
    );
  }
  return range;
}

/**
 * A running process's start time (field 22 of /proc/PID/stat, in clock ticks since boot),
 * which tells a live holder from a reused pid; undefined when it is gone or a zombie.
 */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" || fields[0] === "X" ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/** The recorded holder's pid when it still runs (same pid, same start time), else undefined. */
function liveHolder(pidFile: string): number | undefined {
  let recorded: string;
  try {
    recorded = readFileSync(pidFile, "utf8");
  } catch {
    return undefined;
  }
  const [pid, started] = recorded.trim().split(" ");
  if (pid === undefined || !/^[0-9]+$/.test(pid)) return undefined;
  return startTime(Number(pid)) === started ? Number(pid) : undefined;
}

/** Starts the holder, detached from this process's session; resolves with its pid once its ids are mapped. */
function startHolder(uid: number, gid: number, name: string): Promise<number> {
  const users = readRange("/etc/subuid", name, uid);
  const groups = readRange("/etc/subgid", name, gid);
  return new Promise((resolve, reject) => {
    const child = spawn(
      "unshare",
      [
        "--user",
        "--mount",
        // a slave of the host's mounts: what root unmounts (its network namespaces' nsfs
        // mounts, say) goes here too instead of being pinned by this copy
        "--propagation=slave",
        "--map-root-user",
        `--map-users=${users.start},1,${users.count}`,
        `--map-groups=${groups.start},1,${groups.count}`,
        "--",
        "sh",
        "-c",
        "echo ready; exec sleep infinity >/dev/null 2>&1",
      ],
      { cwd: "/", detached: true, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (err) => reject(new BerthError(`rootless berth cannot start its user namespace: unshare: ${err.message} (util-linux's unshare is needed)`)));
    child.on("exit", (code, signal) => {
      const why = stderr.trim() || `exit ${code ?? signal}`;
      const hint = /newuidmap|newgidmap/.test(why) ? " (Debian: apt-get install uidmap; the ranges in /etc/subuid and /etc/subgid must be the user's)" : "";
      reject(new BerthError(`rootless berth cannot start its user namespace: ${why}${hint}`));
    });
    child.stdout.once("data", () => {
      child.removeAllListeners("exit");
      child.stdout.destroy();
      child.stderr.destroy();
      child.unref();
      resolve(child.pid as number);
    });
  });
}

/**
 * Before the holder: whether this process may make a user namespace at all. A container
 * started with Docker's default seccomp profile (no CAP_SYS_ADMIN) refuses unshare(2), and
 * some hosts switch user namespaces off; berth then has neither root nor a namespace, and
 * says what does work.
 */
function checkUserNamespacesAllowed(): void {
  const probe = spawnSync("unshare", ["--user", "true"], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (probe.status === 0 || probe.error !== undefined) return; // no unshare: startHolder says so
  throw new BerthError(
    `berth cannot run here: it runs as an ordinary user (uid ${process.getuid?.() ?? "?"}) and may not make a user namespace (${probe.stderr.trim().replace(/^unshare: /, "") || "refused"}: a container's seccomp profile, or user namespaces switched off on the host). Run it as root in the job's container and build with --isolation chroot (or BERTH_ISOLATION=chroot), or allow user namespaces`,
    { exitCode: 125 },
  );
}

/**
 * The pid of this user's namespace holder for this run root, started (or replaced, when the
 * recorded one is gone or its pid reused) under a lock, so that commands started together
 * share one.
 */
export async function ensureUserNamespace(root: string = runRoot()): Promise<number> {
  const pidFile = join(root, "userns.pid");
  const live = liveHolder(pidFile);
  if (live !== undefined) return live;
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const lock = await acquireFlock(join(root, "userns.lock"));
  try {
    const other = liveHolder(pidFile);
    if (other !== undefined) return other;
    const { uid, gid, username } = userInfo();
    checkUserNamespacesAllowed();
    const pid = await startHolder(uid, gid, username);
    const tmp = `${pidFile}.${process.pid}.tmp`;
    writeFileSync(tmp, `${pid} ${startTime(pid)}\n`);
    renameSync(tmp, pidFile);
    return pid;
  } finally {
    await lock.release();
  }
}

/**
 * Ends this user's namespace holder (podman's `system migrate` stops its pause process): the
 * namespace goes once the commands still inside it end, and every mount made in it with it
 * (running containers' root file systems included: the caller checks there are none). The next
 * command starts a new one, with /etc/subuid's ranges as they are then. Returns the pid ended,
 * undefined when none ran.
 */
export async function stopUserNamespace(root: string = runRoot()): Promise<number | undefined> {
  const pidFile = join(root, "userns.pid");
  const lock = await acquireFlock(join(root, "userns.lock"));
  try {
    const pid = liveHolder(pidFile);
    rmSync(pidFile, { force: true });
    if (pid !== undefined) process.kill(pid, "SIGKILL");
    return pid;
  } finally {
    await lock.release();
  }
}

const FORWARDED = ["SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;

/**
 * Runs this command again inside the user's namespace (`command` is the argv to run: node,
 * its flags, the script and its arguments), with this process's stdio, directory and
 * environment, and resolves with its exit code. Signals sent to this process are passed on
 * (a terminal's ^C reaches both: the inner command decides what it means); a command killed
 * by a signal ends this one with the same signal.
 */
export async function runInUserNamespace(command: readonly string[]): Promise<number> {
  const pid = await ensureUserNamespace();
  return new Promise((resolve, reject) => {
    const child = spawn("nsenter", ["--user", "--mount", "-t", String(pid), `--wd=${process.cwd()}`, "--", ...command], {
      stdio: "inherit",
      env: { ...process.env, [ROOTLESS_UID_ENV]: String(process.getuid?.() ?? 0) },
    });
    const forward = (signal: NodeJS.Signals) => {
      if (signal !== "SIGINT" && signal !== "SIGQUIT") child.kill(signal);
    };
    for (const s of FORWARDED) process.on(s, forward);
    child.on("error", (err) => reject(new BerthError(`rootless berth cannot enter its user namespace: nsenter: ${err.message}`)));
    child.on("exit", (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      if (signal !== null) {
        process.kill(process.pid, signal);
        resolve(128 + constants.signals[signal]);
        return;
      }
      resolve(code ?? 1);
    });
  });
}
