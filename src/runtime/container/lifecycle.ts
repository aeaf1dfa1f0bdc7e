import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { RuntimeError } from "../errors.js";
import { normalizeSignal, signalNumber } from "../runc.js";
import type { RuntimeContext } from "./context.js";
import { containerEvent } from "./events.js";
import { findContainer } from "./lookup.js";
import { readRecord, withLiveState, type ContainerRecord } from "./record.js";
import { isPaused, thawIfPaused } from "./pause.js";
import { cancelRestarts, clearStopMark, isRestarting, markStopped, RestartBackoff } from "./restart.js";
import { superviseContainer } from "./supervise.js";
import type { AttachServer, ConsoleSize } from "./attach-server.js";

/** Where the detached supervisor's own diagnostics go (not the container's output). */
export const SUPERVISOR_LOG = "supervisor.log";

/** A detached supervisor started before its container exists (launchSupervisor). */
export interface SupervisorLaunch {
  /**
   * Hand it the container to start; resolves once the container's process runs (or throws
   * the start's error, with Docker's exit code): with a session, the session's socket.
   */
  start(id: string): Promise<Socket | undefined>;
  /** The container was not made after all: the supervisor ends. */
  abort(): void;
}

/**
 * Start a detached supervisor (its own session, so the CLI can exit) that waits for the id
 * of the container to hold (supervisor-main.ts reads it from its stdin): started before the
 * container is created, its Node start-up runs beside the CLI's create. With `session`, the
 * supervisor's first attach client is connected before the container starts (for
 * attachSession).
 */
export function launchSupervisor(ctx: RuntimeContext, options: { session?: { consoleSize?: ConsoleSize }; restartInMs?: number } = {}): SupervisorLaunch {
  const script = fileURLToPath(new URL("./supervisor-main.js", import.meta.url));
  const args = [script, resolve(ctx.store.root), "-", ctx.runDir, ctx.runc.binary];
  const { session, restartInMs } = options;
  const size = session?.consoleSize;
  if (session !== undefined) args.push(size !== undefined ? `session=${size.rows}x${size.columns}` : "session");
  // a hand-over of a foreground run's restarts: after the delay
  if (restartInMs !== undefined) args.push(`restart=${restartInMs}`);
  // cwd /: a long-lived supervisor must not pin the directory berth was started from;
  // no NODE_EXTRA_CA_CERTS: Node would parse it at start-up for a process that
  // never opens a TLS connection (see bin/berth); its diagnostics go to the container's
  // supervisor.log, which it opens once it knows the container
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const child = spawn(process.execPath, args, { detached: true, cwd: "/", env, stdio: ["pipe", "ignore", "ignore", "pipe", session !== undefined ? "pipe" : "ignore"] });
  child.stdin?.on("error", () => undefined);
  const pipe = child.stdio[3] as Readable | null;
  const connection = child.stdio[4] as Socket | null;
  const message = new Promise<string>((resolve) => {
    let text = "";
    pipe?.setEncoding("utf8");
    pipe?.on("data", (d: string) => (text += d));
    pipe?.on("end", () => resolve(text));
    pipe?.on("error", () => resolve(text));
    child.once("exit", () => setTimeout(() => resolve(text), 50));
  });
  const release = () => {
    child.unref();
    pipe?.destroy();
  };
  return {
    abort() {
      child.stdin?.end();
      connection?.destroy();
      release();
    },
    async start(id) {
      const dir = await ctx.store.containerDir(id);
      // a manual start clears what a stop left for the restart policy
      if (restartInMs === undefined) clearStopMark(dir);
      child.stdin?.end(`${id}\n${dir}\n`);
      const text = await message;
      release();
      const parsed = text.trim() === "" ? undefined : (JSON.parse(text.trim().split("\n")[0] as string) as { ok: boolean; message?: string; exitCode?: number });
      if (parsed === undefined || !parsed.ok) connection?.destroy();
      if (parsed === undefined) {
        throw new RuntimeError(`the container's supervisor exited before it started the container (see ${join(dir, SUPERVISOR_LOG)})`, { container: id });
      }
      if (!parsed.ok) throw new RuntimeError(parsed.message ?? "start failed", { exitCode: parsed.exitCode ?? 125, container: id });
      return connection ?? undefined;
    },
  };
}

/**
 * Start a created or stopped container in a detached supervisor and wait only until the
 * container's process runs, or failed to: start errors reach the caller with Docker's exit codes.
 */
export async function startDetached(ctx: RuntimeContext, id: string, restartInMs?: number): Promise<void> {
  await launchSupervisor(ctx, restartInMs !== undefined ? { restartInMs } : {}).start(id);
}

/**
 * Start in the foreground: this process holds the container and streams its output (or
 * relays it through `attachServer`, whose clients get the exit, see holdInSession); resolves
 * with its exit code. A container to restart by its policy is handed to a detached supervisor
 * (Docker's client returns at the first exit while the daemon restarts the container).
 */
export async function startAttached(ctx: RuntimeContext, id: string, attachServer?: AttachServer): Promise<number> {
  const dir = await ctx.store.containerDir(id);
  clearStopMark(dir);
  let restartIn: number | undefined;
  const backoff = new RestartBackoff();
  let exitCode: number;
  try {
    exitCode = await superviseContainer(ctx, id, {
      mode: "attach",
      ...(attachServer !== undefined ? { attachServer } : {}),
      restartsAfter: (code: number, record: ContainerRecord) => (restartIn = backoff.next(code, record, dir)) !== undefined,
    });
  } catch (err) {
    await attachServer?.finish({ exitCode: err instanceof RuntimeError ? err.exitCode : 125, error: err instanceof Error ? err.message : String(err) });
    throw err;
  }
  // (the socket goes before the restarts' supervisor listens on it)
  await attachServer?.finish({ exitCode });
  if (restartIn !== undefined) await startDetached(ctx, id, restartIn);
  return exitCode;
}

export async function startContainer(ctx: RuntimeContext, ref: string, options: { attach?: boolean } = {}): Promise<{ record: ContainerRecord; exitCode?: number }> {
  const { record } = await findContainer(ctx, ref);
  if (isPaused(record)) throw new RuntimeError("cannot start a paused container, try unpause instead", { exitCode: 1, container: record.id });
  // Docker: starting a running (or restarting) container is a no-op
  if (record.state === "running" || isRestarting(record)) return { record };
  if (options.attach === true) return { record, exitCode: await startAttached(ctx, record.id) };
  await startDetached(ctx, record.id);
  return { record };
}

/**
 * Wait until the container is not running (polling its record and processes every 25 ms);
 * resolves with its exit code, or undefined on timeout.
 */
export async function waitForExit(ctx: RuntimeContext, id: string, timeoutMs = Infinity): Promise<number | undefined> {
  const dir = await ctx.store.containerDir(id);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let record: ContainerRecord;
    try {
      record = withLiveState(await readRecord(dir));
    } catch (err) {
      // a --rm container removes itself once it has exited
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw err;
    }
    if (record.state !== "running") return record.exitCode ?? 0;
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `berth kill`: send a signal to the container's init (SIGKILL by default); the container must run. */
export async function killContainer(ctx: RuntimeContext, ref: string, signal = "SIGKILL"): Promise<ContainerRecord> {
  const sig = normalizeSignal(signal);
  const found = await findContainer(ctx, ref);
  let record = found.record;
  if (record.hostConfig.restartPolicy !== undefined) {
    // Docker: a kill counts as a manual stop; SIGKILL or the stop signal also ends the restarts
    if (sig === "SIGKILL" || sig === normalizeSignal(record.config.stopSignal)) record = await cancelRestarts(found.dir, record);
    else markStopped(found.dir, "stopped");
  }
  if (record.state !== "running") throw new RuntimeError(`container ${record.id} is not running`, { exitCode: 1, container: record.id });
  containerEvent(ctx, record, "kill", { signal: String(signalNumber(sig) || Number(sig)) });
  if (!(await ctx.runc.kill(record.id, sig))) {
    if (record.pid !== undefined) process.kill(record.pid.pid, sig as NodeJS.Signals);
  }
  await thawIfPaused(ctx, record);
  return record;
}

/**
 * `berth stop`: the image's STOPSIGNAL (SIGTERM by default), then SIGKILL after the grace
 * period (10 s by default, as Docker's). Stopping a stopped container succeeds.
 */
export async function stopContainer(ctx: RuntimeContext, ref: string, graceSeconds?: number): Promise<ContainerRecord> {
  const found = await findContainer(ctx, ref);
  const record = await cancelRestarts(found.dir, found.record);
  if (record.state !== "running") return record;
  const grace = graceSeconds ?? 10;
  const stopSignal = normalizeSignal(record.config.stopSignal);
  containerEvent(ctx, record, "kill", { signal: String(signalNumber(stopSignal)) });
  await ctx.runc.kill(record.id, stopSignal);
  await thawIfPaused(ctx, record);
  if ((await waitForExit(ctx, record.id, Math.max(0, grace) * 1000)) === undefined) {
    await ctx.runc.kill(record.id, "SIGKILL", true);
    if ((await waitForExit(ctx, record.id, 10_000)) === undefined) {
      throw new RuntimeError(`container ${record.name} did not stop after SIGKILL`, { container: record.id });
    }
  }
  containerEvent(ctx, record, "stop");
  return record;
}

export async function restartContainer(ctx: RuntimeContext, ref: string, graceSeconds?: number): Promise<ContainerRecord> {
  const record = await stopContainer(ctx, ref, graceSeconds);
  await startDetached(ctx, record.id);
  return record;
}
