import { join } from "node:path";
import { acquireFlock, type HeldLock } from "../sys/flock.js";
import { StoreError } from "./errors.js";

/** `locks/<name>.lock`: flock files, one per thing several processes change (refs, layers, gc, build). */
export class Locks {
  private readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, "locks");
  }

  async with<T>(name: string, fn: () => Promise<T>, mode: "exclusive" | "shared" = "exclusive"): Promise<T> {
    const lock = await this.hold(name, mode);
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /** The lock, held until released: for a holder whose extent is not one function call. */
  hold(name: string, mode: "exclusive" | "shared" = "exclusive", opts: { signal?: AbortSignal } = {}): Promise<HeldLock> {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) return Promise.reject(new StoreError(`invalid lock name ${JSON.stringify(name)}`));
    return acquireFlock(join(this.dir, `${name}.lock`), mode, opts);
  }
}
