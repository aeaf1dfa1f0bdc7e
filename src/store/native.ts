import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/**
 * berth's own N-API addon (native/berth_native.c, built by `npm install`: scripts/build-native.mjs):
 * the two system calls Node lacks that the store makes on every build. Without it each was a
 * process — `sync -f` for syncfs(2), `flock FILE cat` for flock(2) — and a process is a fork of
 * this one (2-10 ms of the main thread with berth's heap), so the store falls back to those
 * only where the addon could not be built, or with BERTH_NO_NATIVE=1.
 */
export interface BerthNative {
  /** syncfs(2) of the file system holding `path`, on libuv's thread pool. */
  syncfs(path: string): Promise<void>;
  /** flock(fd, LOCK_EX or LOCK_SH | LOCK_NB): true when taken, false when held elsewhere. */
  tryFlock(fd: number, exclusive: boolean): boolean;
}

let loaded: BerthNative | null | undefined;

/** The addon, loaded at first use; null when it is not built (or BERTH_NO_NATIVE=1). */
export function berthNative(): BerthNative | null {
  if (loaded === undefined) {
    loaded = null;
    if (process.env.BERTH_NO_NATIVE !== "1") {
      try {
        // the same two levels up from src/store, dist/store and dist/bundle
        const path = fileURLToPath(new URL("../../native/build/Release/berth_native.node", import.meta.url));
        loaded = createRequire(import.meta.url)(path) as BerthNative;
      } catch {
        loaded = null;
      }
    }
  }
  return loaded;
}
