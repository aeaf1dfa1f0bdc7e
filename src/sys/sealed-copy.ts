import { berthNative } from "./addon.js";

/**
 * A copy of the file at `path` in a memfd with runc's seals (close-on-exec), made on the thread
 * pool: /proc/<this pid>/fd/<n>, to exec. Undefined without the addon (the caller execs the
 * file itself); rejects as the copy fails.
 */
export async function sealedCopy(path: string): Promise<string | undefined> {
  const native = berthNative();
  if (native === null) return undefined;
  return `/proc/${process.pid}/fd/${await native.sealedCopy(path)}`;
}
