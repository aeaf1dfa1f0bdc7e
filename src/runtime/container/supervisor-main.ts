import { closeSync, writeSync } from "node:fs";
import { RuntimeError } from "../errors.js";
import { runtimeContext } from "./context.js";
import { processRef, readRecord, writeRecord } from "./record.js";
import { RestartBackoff } from "./restart.js";
import { finishOrphaned, superviseContainer } from "./supervise.js";

/**
 * The detached supervisor: `node supervisor-main.js <store root> <id> <run dir> <runtime>`,
 * started by `berth run -d`/`berth start` in its own session. It reports on fd 3 whether
 * the container started (one JSON line, then closes it, so the CLI can exit) and holds the
 * container until it exits. With `--finish … <exit code>` it ends a container whose holder died
 * (see finishOrphaned).
 */
const finishing = process.argv[2] === "--finish";
// `<store root> <id> <run dir> <runtime> <delay>`: a foreground `run` hands over its container's restarts
const [storeRoot, id, runDir, runtime, code] = process.argv.slice(finishing ? 3 : 2);
if (storeRoot === undefined || id === undefined) {
  process.stderr.write("usage: supervisor-main <store root> <container id> [run dir] [runtime]\n");
  process.exit(2);
}

let reported = false;
function report(message: { ok: boolean; message?: string; exitCode?: number }): void {
  if (reported) return;
  reported = true;
  try {
    writeSync(3, `${JSON.stringify(message)}\n`);
    closeSync(3);
  } catch {
    // the CLI is gone: nobody to tell
  }
}

// signals reach the supervisor only when someone sends them on purpose: stop/kill go to runc
process.on("SIGHUP", () => undefined);
process.on("SIGPIPE", () => undefined);

const { openStore } = await import("../../store/store.js");
const store = await openStore(storeRoot);
const ctx = runtimeContext(store, { ...(runDir !== undefined ? { runDir } : {}), ...(runtime !== undefined ? { runtime } : {}) });
if (finishing) {
  // `--finish <store root> <id> <run dir> <runtime> <exit code>`: the container's holder died before it (finishOrphaned)
  await finishOrphaned(ctx, id, Number(code)).catch((err: unknown) => {
    process.stderr.write(`berth: finishing container ${id}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
} else try {
  // the container's restart policy is carried out here, by the process that holds it (restart.ts)
  const dir = await store.containerDir(id);
  const record = await readRecord(dir);
  let delay = code !== undefined ? Number(code) : undefined;
  const backoff = new RestartBackoff(delay ?? 0);
  if (delay !== undefined) {
    // the foreground CLI exits with the container's code: this process holds it from now on
    const self = processRef(process.pid);
    if (self !== undefined) await writeRecord(dir, { ...record, supervisor: self });
    report({ ok: true });
  }
  for (let first = delay === undefined; ; first = false) {
    if (delay !== undefined && !(await backoff.wait(dir, delay))) {
      // stopped or removed while it waited: it stays down
      const record = await readRecord(dir).catch(() => undefined);
      if (record !== undefined) {
        delete record.restarting;
        delete record.supervisor;
        await writeRecord(dir, record).catch(() => undefined);
      }
      break;
    }
    delay = undefined;
    await superviseContainer(ctx, id, {
      mode: "detach",
      ...(first ? { onReady: (error?: RuntimeError) => report(error === undefined ? { ok: true } : { ok: false, message: error.message, exitCode: error.exitCode }) } : {}),
      restartsAfter: (exitCode, record) => (delay = backoff.next(exitCode, record, dir)) !== undefined,
    });
    if (delay === undefined) break;
  }
} catch (err) {
  report({ ok: false, message: err instanceof Error ? err.message : String(err), exitCode: err instanceof RuntimeError ? err.exitCode : 125 });
  process.exitCode = 1;
}
