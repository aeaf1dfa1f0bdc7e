import { spawn } from "node:child_process";
import { berthNative } from "./addon.js";
import { trace } from "./trace.js";

/**
 * Flushes the whole file system holding `path` (syncfs(2): berth's addon, else coreutils'
 * `sync -f`) — every file and record written to it so far, in one go.
 */
export function syncFileSystem(path: string): Promise<void> {
  const native = berthNative();
  if (native !== null) {
    trace("store: syncfs starts");
    return native.syncfs(path).then(() => trace("store: syncfs done"));
  }
  return runSync(["-f", path]).catch((err: Error) =>
    // a sync(1) without -f (coreutils before 8.24, busybox): flush every file system instead
    /invalid option|unrecognized option|usage/i.test(err.message) ? runSync([]) : Promise.reject(err));
}

function runSync(args: string[]): Promise<void> {
  trace("store: sync starts");
  return new Promise((resolve, reject) => {
    const child = spawn("sync", args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("error", reject);
    child.on("close", (code) => (trace("store: sync done"), code === 0 ? resolve() : reject(new Error(`sync ${args.join(" ")}: ${err.trim() || `exit ${code}`}`))));
  });
}
