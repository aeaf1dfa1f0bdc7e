import { Socket } from "node:net";
import type { Readable } from "node:stream";
import { berthNative } from "./addon.js";

/** A process the addon spawned: its output, and its exit code once it exited and its output ended. */
export interface PipedChild {
  pid: number;
  stdout: Readable;
  stderr: Readable;
  exitCode: Promise<number>;
}

/**
 * Starts `file` (a path) with `argv` as posix_spawn(3) does (no copy of this process's page
 * tables: see spawnPiped in native/berth_native.c), stdin from /dev/null, stdout and stderr to
 * pipes read here. Undefined where the addon lacks it; throws as spawn(2) fails (ENOENT …).
 */
export function spawnPiped(file: string, argv: string[]): PipedChild | undefined {
  const native = berthNative();
  if (native === null) return undefined;
  const [pid, out, err, exit] = native.spawnPiped(file, argv);
  const stdout = new Socket({ fd: out, readable: true, writable: false });
  const stderr = new Socket({ fd: err, readable: true, writable: false });
  const closed = (s: Socket) => new Promise<void>((resolve) => s.once("close", () => resolve()));
  return { pid, stdout, stderr, exitCode: Promise.all([exit, closed(stdout), closed(stderr)]).then(([code]) => code) };
}
