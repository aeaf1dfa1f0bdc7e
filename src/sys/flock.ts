import { spawn } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { BerthError } from "../errors.js";
import { berthNative, type BerthNative } from "./addon.js";

/**
 * Cross-process locks with flock(2).
 *
 * Why flock and not a lock file created with O_EXCL: an O_EXCL file outlives a `kill -9`ed
 * owner, so every waiter must guess staleness from a pid (which the kernel reuses) and two
 * waiters can both "break" a stale lock. A flock belongs to an open file description: the
 * kernel drops it when its holder dies, whatever the cause.
 * Node has no flock(2): berth's addon makes the call on a descriptor this process opens (close
 * on exec, so no container or tool started meanwhile keeps it), and a waiter polls (1 ms, then
 * doubling up to 32 ms: locks guard short record updates). Without the addon a
 * `flock FILE sh -c 'echo; cat'` child holds it: it prints a line once the lock is held and
 * keeps it until its stdin closes — which happens when we release, or when we die; one process
 * spawn per lock. Both kinds are the same kernel lock, so they exclude each other.
 */
export interface HeldLock {
  release(): Promise<void>;
}

export function acquireFlock(file: string, mode: "exclusive" | "shared" = "exclusive", opts: { signal?: AbortSignal } = {}): Promise<HeldLock> {
  return flock(file, mode, true, opts.signal) as Promise<HeldLock>;
}

/** Takes the lock only if nobody holds it in a conflicting mode now (flock -n); else undefined. */
export function tryAcquireFlock(file: string, mode: "exclusive" | "shared" = "exclusive"): Promise<HeldLock | undefined> {
  return flock(file, mode, false, undefined);
}

/** flock(1)'s exit code for "held by someone else" with -n (its default, 1, is also its error code). */
const BUSY_EXIT = 75;

function flock(file: string, mode: "exclusive" | "shared", wait: boolean, signal: AbortSignal | undefined): Promise<HeldLock | undefined> {
  const native = berthNative();
  if (native !== null) return nativeFlock(native, file, mode, wait, signal);
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new BerthError(`cannot lock ${file}: cancelled`));
      return;
    }
    const args = [mode === "shared" ? "-s" : "-x", ...(wait ? [] : ["-n", "-E", String(BUSY_EXIT)]), file, "sh", "-c", "echo locked; exec cat >/dev/null"];
    const child = spawn("flock", args, {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    let held = false;
    const onAbort = () => child.kill("SIGKILL");
    signal?.addEventListener("abort", onAbort, { once: true });
    const exited = new Promise<void>((res) => child.on("close", () => res()));
    child.stderr.on("data", (b: Buffer) => { stderr += b.toString(); });
    child.stdin.on("error", () => undefined);
    child.on("error", (err) => reject(new BerthError(`cannot lock ${file}: ${err.message} (is util-linux's flock installed?)`)));
    child.stdout.once("data", () => {
      held = true;
      signal?.removeEventListener("abort", onAbort);
      resolve({
        release: async () => {
          child.stdin.end();
          await exited;
        },
      });
    });
    child.on("close", (code) => {
      signal?.removeEventListener("abort", onAbort);
      if (held) return;
      if (!wait && code === BUSY_EXIT) resolve(undefined);
      else if (signal?.aborted === true) reject(new BerthError(`cannot lock ${file}: cancelled`));
      else reject(new BerthError(`cannot lock ${file}: flock exited with ${code}: ${stderr.trim()}`));
    });
  });
}

async function nativeFlock(native: BerthNative, file: string, mode: "exclusive" | "shared", wait: boolean, signal: AbortSignal | undefined): Promise<HeldLock | undefined> {
  const cancelled = () => new BerthError(`cannot lock ${file}: cancelled`);
  if (signal?.aborted === true) throw cancelled();
  let fd: number;
  try {
    // as flock(1) opens it: created when missing, read-only
    fd = openSync(file, constants.O_RDONLY | constants.O_CREAT, 0o666);
  } catch (err) {
    throw new BerthError(`cannot lock ${file}: ${(err as Error).message}`);
  }
  try {
    for (let delay = 1; ; delay = Math.min(delay * 2, 32)) {
      if (native.tryFlock(fd, mode === "exclusive")) {
        const held = fd;
        fd = -1;
        return { release: async () => closeSync(held) };
      }
      if (!wait) return undefined;
      // aborting cuts the sleep short (rejecting it); the check after tells
      const aborted = await sleep(delay, false, signal !== undefined ? { signal } : {}).catch(() => true);
      if (aborted) throw cancelled();
    }
  } finally {
    if (fd !== -1) closeSync(fd);
  }
}

/**
 * flock(fd, LOCK_EX or LOCK_SH | LOCK_NB) on a descriptor the caller holds for its own life (a
 * lease): true when taken, false when held elsewhere; undefined without the addon, whose
 * fallback (a flock(1) child per lock) cannot lock a descriptor of this process.
 */
export function tryFlockFd(fd: number, exclusive = true): boolean | undefined {
  return berthNative()?.tryFlock(fd, exclusive);
}

/** Whether tryFlockFd can lock a descriptor here (the addon is loaded). */
export function canLockDescriptors(): boolean {
  return berthNative() !== null;
}
