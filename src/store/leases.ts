import { closeSync, constants, mkdirSync, openSync, readFileSync, readdirSync, unlinkSync, writeSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { canLockDescriptors, tryFlockFd } from "../sys/flock.js";
import { removeTree } from "../sys/remove-tree.js";
import { ownerPid, pidAlive } from "./owners.js";
import type { Store } from "./store.js";

/**
 * What a killed process left in the store (a build's snapshot and the layer dir it was
 * committing, a pull's temp files) is swept by the next berth command that opens the store, as
 * containerd's garbage collector does, instead of waiting for `system check --repair`.
 *
 * A process that may leave such things holds a lease: `locks/live/<pid>-<random>`, flock'd for
 * the process's life (the kernel drops the lock when it dies, whatever the cause) and removed
 * at its exit. Before it makes a snapshot or moves a dir into l/ it notes the name in the
 * lease (`s <id>`, `l <name>`): a few bytes appended, no sync. Opening the store lists
 * `locks/live` (one readdir, empty or absent almost always); a lease whose pid is gone and
 * whose lock can be taken is a dead process's, and its leftovers are removed behind the
 * command: the noted snapshots no container holds, the noted layer dirs no layer record names,
 * and the temp files carrying its pid. Nothing else is touched, so what a live process uses
 * is never removed and no grace period is needed (system check's orphans, which have no such
 * owner, keep gc's). A pid that is alive is taken as alive (the kernel may have reused it: the
 * sweep then waits for that process to end); a dead pid is confirmed by the lock, which also
 * sees processes of other pid namespaces.
 *
 * Only where the addon's flock is loaded: the fallback's lock is a child process, which a
 * lease held for a process's life would keep around.
 */
const LIVE_DIR = "live";

export type LeaseNote = "s" | "l";

export class Lease {
  private constructor(
    private readonly path: string,
    private fd: number,
  ) {}

  /** This process's lease in the store at `root`, or undefined where leases are unavailable. */
  static take(root: string): Lease | undefined {
    if (!canLockDescriptors()) return undefined; // no addon: see above
    const dir = join(root, "locks", LIVE_DIR);
    const path = join(dir, `${process.pid}-${Math.random().toString(16).slice(2, 10)}`);
    let fd: number;
    try {
      mkdirSync(dir, { recursive: true });
      fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o644);
    } catch {
      return undefined;
    }
    if (tryFlockFd(fd) !== true) {
      closeSync(fd);
      return undefined;
    }
    const lease = new Lease(path, fd);
    if (!endAtExit) {
      endAtExit = true;
      process.once("exit", () => {
        for (const l of held) l.end();
      });
    }
    held.add(lease);
    return lease;
  }

  /** Notes a snapshot id or a layer dir name this process is about to make. */
  note(kind: LeaseNote, name: string): void {
    if (this.fd < 0) return;
    try {
      writeSync(this.fd, `${kind} ${name}\n`);
    } catch {
      // a full disk: the orphan is left for system check
    }
  }

  /** The process ends cleanly: its leftovers were its own to remove. */
  end(): void {
    if (this.fd < 0) return;
    try {
      unlinkSync(this.path);
    } catch {
      // removed already
    }
    closeSync(this.fd);
    this.fd = -1;
    held.delete(this);
  }
}

/** This process's leases (one per store it wrote to), ended at its exit by one listener. */
const held = new Set<Lease>();
let endAtExit = false;

/** The leases in the store whose process is gone (cheap: one readdir, a kill(pid, 0) per lease). */
export function deadLeases(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(root, "locks", LIVE_DIR));
  } catch {
    return [];
  }
  return names.filter((n) => {
    const pid = Number(/^(\d+)-/.exec(n)?.[1]);
    return pid > 0 && !pidAlive(pid);
  });
}

/** Removes what the processes of these dead leases left (see above); a lease another sweeper holds is skipped. */
export async function sweepDeadLeases(store: Store, names: string[]): Promise<void> {
  if (!canLockDescriptors()) return; // no addon: no leases
  for (const name of names) {
    const path = join(store.root, "locks", LIVE_DIR, name);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY);
    } catch {
      continue; // swept by another process meanwhile
    }
    try {
      if (tryFlockFd(fd) !== true) continue;
      await sweepLeftovers(store, Number(name.split("-")[0]), readFileSync(fd, "utf8"));
      unlinkSync(path);
    } catch {
      // left for the next command, or system check
    } finally {
      closeSync(fd);
    }
  }
}

async function sweepLeftovers(store: Store, pid: number, notes: string): Promise<void> {
  const snapshots = new Set<string>();
  const layerDirs = new Set<string>();
  for (const line of notes.split("\n")) {
    const m = /^([sl]) ([a-f0-9]{12})$/.exec(line);
    if (m === null) continue;
    (m[1] === "s" ? snapshots : layerDirs).add(m[2]!);
  }
  if (snapshots.size > 0) {
    for (const id of await store.containers.snapshotsInUse()) snapshots.delete(id);
    for (const id of snapshots) await store.snapshots.remove({ id });
  }
  if (layerDirs.size > 0) {
    for (const r of await store.layers.listRecords()) layerDirs.delete(r.dir);
    for (const dir of layerDirs) await removeTree(store.layers.dirOf(dir));
  }
  for (const dir of store.tempFileDirs()) {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const e of entries) {
      if (dir !== store.staging.dir && !e.includes(".tmp-")) continue;
      if (ownerPid(e) === pid) await rm(join(dir, e), { recursive: true, force: true });
    }
  }
}
