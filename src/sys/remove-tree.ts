import { rm } from "node:fs/promises";
import { berthNative } from "./addon.js";

/**
 * Removes `path` and everything under it, as `rm -rf`, off the main thread: one thread-pool
 * job of the addon instead of fs.rm's lstat/readdir/unlink round trips, each with a callback
 * on the main thread (for a container's bundle and snapshot, while the next container
 * starts). fs.rm where the addon lacks it or fails (it reports the first error).
 */
export function removeTree(path: string): Promise<void> {
  const native = berthNative();
  const viaFs = () => rm(path, { recursive: true, force: true });
  return native !== null ? native.removeTree(path).catch(viaFs) : viaFs();
}
