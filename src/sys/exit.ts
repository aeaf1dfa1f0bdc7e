import { berthNative } from "./addon.js";

/**
 * The addon's _exit(2) (see exitNow in native/berth_native.c), for bin/berth to end the process
 * with once the event loop has drained; undefined without the addon (process.exit then).
 */
export function exitNow(): ((code: number) => never) | undefined {
  return berthNative()?.exitNow;
}
