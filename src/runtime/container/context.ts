import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { runRoot } from "../../sys/run-root.js";
import { Runc } from "../runc.js";
import type { RuntimeStore } from "./store-port.js";

/**
 * What the container commands share: the store (records, snapshots, images), a run dir on
 * tmpfs for this store's runc state and proxy sockets (keyed by the store root, so two stores
 * never see each other's containers), and the runc driver.
 */
export interface RuntimeContext {
  store: RuntimeStore;
  runDir: string;
  runc: Runc;
}

export function runtimeContext(store: RuntimeStore, options: { runtime?: string; runDir?: string } = {}): RuntimeContext {
  const runDir = options.runDir ?? join(runRoot(), createHash("sha256").update(resolve(store.root)).digest("hex").slice(0, 12));
  return { store, runDir, runc: new Runc(`${runDir}/runc`, options.runtime) };
}

/** The container dir doubles as its runc bundle: config.json and the rootfs mount point live there. */
export { ROOTFS, RUNC_LOG } from "../start-sequence.js";
export const PID_FILE = "init.pid";
/**
 * Held (flock) by whoever mounts a stopped container's root writable — `start`, until the
 * record says running, and `cp` into it, for the copy — so two writable overlays of one upper
 * dir never exist at once (the second would empty the first's work dir).
 */
export const ROOTFS_LOCK = "rootfs.lock";
/**
 * Held (flock) while a container's networks change: by `network connect|disconnect` (plug,
 * record), by `start` until the record says running (its networks read, its endpoints
 * recorded), and at the container's end (endpoints released, the exit recorded), so that an
 * endpoint plugged into a running container is never lost nor left reserved.
 */
export const NETWORK_LOCK = "network.lock";
