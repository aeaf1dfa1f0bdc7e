import { constants, openSync, readFileSync, write } from "node:fs";
import { join } from "node:path";
import { unescapeMountField } from "./overlay.js";

/*
 * Every write to a cgroup.procs file (runc moves its init into the container's cgroups that
 * way) takes the kernel's global cgroup_threadgroup_rwsem for writing. That lock is a percpu
 * rwsem whose writers go through rcu_sync: the first writer after an idle period waits for a
 * whole RCU grace period, while a writer that comes within about a grace period of another's
 * passes at once. So `runc run` spends a large part of its time waiting for a grace period, in
 * its critical path, every time (figures: docs/architecture-notes.md).
 *
 * berth starts that wait itself, when it begins preparing a container: it writes its own pid
 * into the cgroup it is already in (a move to where it is: no effect) from the thread pool. The
 * grace period then runs while berth writes the bundle and runc starts, and runc's own writes
 * come within its window.
 *
 * Best effort: no cgroup file system, a read-only one or a refused write costs nothing but the
 * attempt, and is not retried. The cgroup is looked up once per process: a berth process moved
 * to another cgroup while it runs would be moved back by its next poke (nothing does that to a
 * CLI process; a service manager places it before it starts).
 */

/** An open cgroup.procs of this process's own cgroup (writes through it cost one thread-pool call), or null. */
let procsFd: number | null | undefined;

/**
 * The cgroup.procs file of this process's own cgroup: on the cgroup2 mount when there is one
 * (pure v2, or v1/v2 hybrid), otherwise on the first v1 hierarchy found. Null when none is
 * visible (e.g. inside a container without /sys/fs/cgroup).
 */
export function ownCgroupProcsFile(cgroupText: string, mountinfoText: string): string | null {
  const memberships = new Map<string, string>(); // "" for cgroup2, else a v1 hierarchy's controllers
  for (const line of cgroupText.split("\n")) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line);
    if (m !== null) memberships.set(m[1] as string, m[2] as string);
  }
  const candidates: { controllers: string; root: string; mountPoint: string }[] = [];
  for (const line of mountinfoText.split("\n")) {
    // id parent major:minor root mount-point options [optional fields] - fstype source super-options
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep < 0) continue;
    const fstype = fields[sep + 1];
    if (fstype !== "cgroup2" && fstype !== "cgroup") continue;
    const root = unescapeMountField(fields[3] as string);
    const mountPoint = unescapeMountField(fields[4] as string);
    if (fstype === "cgroup2") candidates.unshift({ controllers: "", root, mountPoint });
    else {
      const opts = (fields[sep + 3] ?? "").split(",");
      const key = [...memberships.keys()].find((k) => k !== "" && k.split(",").every((c) => opts.includes(c)));
      if (key !== undefined) candidates.push({ controllers: key, root, mountPoint });
    }
  }
  for (const c of candidates) {
    const path = memberships.get(c.controllers);
    if (path === undefined) continue;
    // the mount shows the hierarchy from `root` down; a cgroup outside it is not reachable here
    if (c.root !== "/" && path !== c.root && !path.startsWith(c.root + "/")) continue;
    const rel = c.root === "/" ? path : path.slice(c.root.length);
    return join(c.mountPoint, rel, "cgroup.procs");
  }
  return null;
}

/** How often the lock is taken again while a container starts: well within the time a writer leaves it warm (about a grace period). */
const REPRIME_MS = 8;
/** How long after berth starts preparing a container runc's writes may come, a slow start included. */
const PRIME_FOR_MS = 60;

/**
 * Start an RCU grace period for the next runc's cgroup attach (see above), and keep the lock
 * warm while runc starts, until the returned function is called (when runc's container has
 * started or runc has exited) or PRIME_FOR_MS have passed. Returns at once.
 */
export function primeCgroupAttach(): () => void {
  if (procsFd === undefined) {
    try {
      const file = ownCgroupProcsFile(readFileSync("/proc/self/cgroup", "utf8"), readFileSync("/proc/self/mountinfo", "utf8"));
      procsFd = file === null ? null : openSync(file, constants.O_WRONLY);
    } catch {
      procsFd = null;
    }
  }
  if (procsFd === null) return () => undefined;
  const fd = procsFd;
  const pid = Buffer.from(String(process.pid));
  const started = Date.now();
  let writing = false;
  const poke = () => {
    if (writing || procsFd === null) return;
    writing = true;
    write(fd, pid, (err) => {
      writing = false;
      if (err !== null) procsFd = null;
    });
  };
  poke();
  const timer = setInterval(() => {
    if (Date.now() - started > PRIME_FOR_MS) clearInterval(timer);
    else poke();
  }, REPRIME_MS);
  timer.unref();
  return () => clearInterval(timer);
}
