import { spawn } from "node:child_process";
import { readlinkSync } from "node:fs";
import { RuntimeError } from "../errors.js";

/**
 * A network namespace held by a process of its own, tied to this process's life: no bind mount
 * under /run/netns, nothing left behind when berth is SIGKILLed. The holder is `cat` reading a
 * pipe only berth writes to (unshare --net, then setpriv drops every capability): when berth
 * exits or dies the pipe closes, cat reads EOF and exits, and the namespace goes with it once
 * nothing else (a container, pasta) is in it.
 *
 * Containers join it by `path` (/proc/<pid>/ns/net, the OCI spec's network namespace path).
 * The holder has no capabilities so that pasta, which drops its own before it opens that path,
 * passes the kernel's ptrace access check on /proc/<pid>/ns (a caller needs the target's
 * capabilities or CAP_SYS_PTRACE): a runc container's init, which keeps Docker's capabilities,
 * cannot be pasta's target that way.
 */
export interface NetnsHolder {
  /** The holder's pid. */
  readonly pid: number;
  /** `/proc/<pid>/ns/net`: what runc joins and pasta or slirp4netns attach to. */
  readonly path: string;
  /** Ends the holder (the namespace goes when nothing else is in it) and waits for it to exit. */
  close(): Promise<void>;
}

/**
 * Makes a network namespace (loopback down: a user-space stack's `--configure`/`--config-net`
 * brings it up) and resolves once the holder is in it, never before: pasta given the path of a
 * process that has not yet unshared would configure the host's own namespace.
 */
export async function createNetns(): Promise<NetnsHolder> {
  // sh prints once unshare and setpriv have run, then becomes cat: three execs, no fork
  const child = spawn("unshare", ["--net", "--", "setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", "sh", "-c", "echo ready && exec cat"], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const ready = await new Promise<boolean>((resolve) => {
    child.stdout.once("data", () => resolve(true));
    child.once("error", (err) => {
      stderr += err.message;
      resolve(false);
    });
    child.once("exit", () => resolve(false));
  });
  const pid = child.pid;
  const path = `/proc/${pid}/ns/net`;
  const close = async (): Promise<void> => {
    child.stdin.destroy();
    // cat ends at EOF; a holder that does not (stopped, traced) is killed
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
  };
  if (!ready || pid === undefined || readlinkMaybe(path) === readlinkMaybe("/proc/self/ns/net")) {
    await close();
    throw new RuntimeError(`could not create a network namespace (unshare --net): ${stderr.trim() || "the holder exited"}`);
  }
  child.stdout.resume();
  // the holder's pipes must not keep berth's event loop alive
  for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
  child.unref();
  return { pid, path, close };
}

function readlinkMaybe(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
