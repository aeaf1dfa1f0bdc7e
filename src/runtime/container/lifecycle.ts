import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join, resolve } from "node:path";
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

/** Where the detached supervisor's own diagnostics go (not the container's output). */
export const SUPERVISOR_LOG = "supervisor.log";

/**
 * Start a created or stopped container in a detached supervisor (its own session, so the
 * CLI can exit) and wait only until the container's process runs, or failed to: start
 * errors reach the caller with Docker's exit codes.
 */
export async function startDetached(ctx: RuntimeContext, id: string, restartInMs?: number): Promise<void> {
  const dir = await ctx.store.containerDir(id);
  const script = fileURLToPath(new URL("./supervisor-main.js", import.meta.url));
  const diag = openSync(join(dir, SUPERVISOR_LOG), "a");
  const args = [script, resolve(ctx.store.root), id, ctx.runDir, ctx.runc.binary];
  // a manual start clears what a stop left for the restart policy; a hand-over restarts after the delay
  if (restartInMs === undefined) clearStopMark(dir);
  else args.push(String(restartInMs));
  // cwd /: a long-lived supervisor must not pin the directory berth was started from;
  // no NODE_EXTRA_CA_CERTS: Node would parse it at start-up for a process that
  // never opens a TLS connection (see bin/berth)
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const child = spawn(process.execPath, args, { detached: true, cwd: "/", env, stdio: ["ignore", diag, diag, "pipe"] });
  closeSync(diag);
  const pipe = child.stdio[3] as Readable | null | undefined;
  if (pipe === null || pipe === undefined) throw new RuntimeError("cannot talk to the container's supervisor");
  const message = await new Promise<string>((resolve) => {
    let text = "";
    pipe.setEncoding("utf8");
    pipe.on("data", (d: string) => (text += d));
    pipe.on("end", () => resolve(text));
    pipe.on("error", () => resolve(text));
    child.once("exit", () => setTimeout(() => resolve(text), 50));
  });
  child.unref();
  pipe.destroy();
  const parsed = message.trim() === "" ? undefined : (JSON.parse(message.trim().split("\n")[0] as string) as { ok: boolean; message?: string; exitCode?: number });
  if (parsed === undefined) {
    throw new RuntimeError(`the container's supervisor exited before it started the container (see ${join(dir, SUPERVISOR_LOG)})`, { container: id });
  }
  if (!parsed.ok) throw new RuntimeError(parsed.message ?? "start failed", { exitCode: parsed.exitCode ?? 125, container: id });
}

/**
 * Start in the foreground: this process holds the container and streams its output; resolves
 * with its exit code. A container to restart by its policy is handed to a detached supervisor
 * (Docker's client returns at the first exit while the daemon restarts the container).
 */
export async function startAttached(ctx: RuntimeContext, id: string): Promise<number> {
  const dir = await ctx.store.containerDir(id);
  clearStopMark(dir);
  let restartIn: number | undefined;
  const backoff = new RestartBackoff();
  const exitCode = await superviseContainer(ctx, id, {
    mode: "attach",
    restartsAfter: (code: number, record: ContainerRecord) => (restartIn = backoff.next(code, record, dir)) !== undefined,
  });
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
