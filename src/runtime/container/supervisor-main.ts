import { closeSync, openSync, writeSync } from "node:fs";
import { Socket } from "node:net";
import { join } from "node:path";
import { AttachServer, attachSocketPath } from "./attach-server.js";
import { RuntimeError } from "../errors.js";
import { runtimeContext } from "./context.js";
import { SUPERVISOR_LOG, waitForExit } from "./lifecycle.js";
import { LOG_FILE, LogWriter } from "./logs.js";
import { processRef, readRecord, writeRecord } from "./record.js";
import { RestartBackoff } from "./restart.js";
import { finishOrphaned, superviseContainer } from "./supervise.js";

/**
 * The detached supervisor: `node supervisor-main.js <store root> - <run dir> <runtime>`,
 * started by `berth run -d`/`berth start` in its own session (launchSupervisor), maybe before
 * the container exists: it reads the container's id from its stdin (none: it ends), then
 * sends its diagnostics to the container's supervisor.log. It reports on fd 3 whether
 * the container started (one JSON line, then closes it, so the CLI can exit) and holds the
 * container until it exits, serving its attach socket; it carries out the container's restart
 * policy (restart.ts). With an argument `session[=ROWSxCOLS]` fd 4 is the first attach client
 * (`run -it -p`: connected before the container starts, so it misses none of its output; its
 * terminal's size the container's first); with `restart=<ms>` a foreground `run` hands over its
 * container's restarts, the first after that delay. With
 * `--finish … <exit code>` it ends a container whose holder died (see finishOrphaned). With
 * `--adopt … <chain pid>` it takes over a running -t container from a `run -it` that
 * detached (holdInSession): the container's stdin, stdout and stderr pipes are its fds 3, 4 and 5.
 */
const mode = process.argv[2] === "--finish" || process.argv[2] === "--adopt" ? process.argv[2] : undefined;
const [storeRoot, idArgument, runDir, runtime, ...rest] = process.argv.slice(mode !== undefined ? 3 : 2);
const last = rest[0];
if (storeRoot === undefined || idArgument === undefined) {
  process.stderr.write("usage: supervisor-main <store root> <container id, or - to read it from stdin> [run dir] [runtime]\n");
  process.exit(2);
}

/** `<id>\n<container dir>\n` from the CLI; nothing when it did not create the container after all. */
async function readContainer(): Promise<{ id: string; dir: string } | undefined> {
  let text = "";
  for await (const chunk of process.stdin) text += String(chunk);
  const [id, dir] = text.split("\n");
  return id !== undefined && id !== "" && dir !== undefined && dir !== "" ? { id, dir } : undefined;
}

/**
 * fd 2 becomes the container's supervisor.log (it was /dev/null until the id came). Nothing
 * else runs yet that could open a file meanwhile, so open(2) takes the fd just closed.
 */
function diagnosticsTo(path: string): void {
  closeSync(2);
  const fd = openSync(path, "a");
  if (fd !== 2) closeSync(fd);
}

const handed = idArgument === "-" ? await readContainer() : undefined;
if (idArgument === "-" && handed === undefined) process.exit(0);
if (handed !== undefined) diagnosticsTo(join(handed.dir, SUPERVISOR_LOG));
const id = handed?.id ?? idArgument;

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
if (mode === "--adopt") {
  // serve attach and keep the log until the container's output ends; the chain's shell records its exit (finishOrphaned)
  const server = new AttachServer(attachSocketPath(ctx.runDir, id), false);
  await server.listen();
  server.relay(new Socket({ fd: 3, readable: false, writable: true }), Number(last));
  const log = new LogWriter(join(await ctx.store.containerDir(id), LOG_FILE));
  await Promise.all(
    (["stdout", "stderr"] as const).map(
      (stream, i) =>
        new Promise<void>((resolve) => {
          const output = new Socket({ fd: 4 + i, readable: true, writable: false });
          output.on("data", (chunk: Buffer) => {
            log.write(stream, chunk);
            server.output(stream, chunk);
          });
          output.on("error", () => undefined);
          output.once("close", () => resolve());
        }),
    ),
  );
  await log.close();
  await server.finish({ exitCode: (await waitForExit(ctx, id, 10_000)) ?? 0 });
} else if (mode === "--finish") {
  // `--finish <store root> <id> <run dir> <runtime> <exit code>`: the container's holder died before it (finishOrphaned)
  await finishOrphaned(ctx, id, Number(last)).catch((err: unknown) => {
    process.stderr.write(`berth: finishing container ${id}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
} else {
  const session = rest.find((a) => /^session(=[0-9]+x[0-9]+)?$/.test(a));
  const [rows, columns] = session?.slice("session=".length).split("x").map(Number) ?? [];
  const restartIn = rest.find((a) => a.startsWith("restart="))?.slice("restart=".length);
  const server = new AttachServer(attachSocketPath(ctx.runDir, id), session !== undefined, rows !== undefined && columns !== undefined ? { rows, columns } : undefined);
  if (session !== undefined) server.adopt(new Socket({ fd: 4, readable: true, writable: true }));
  let end: { exitCode: number; error?: string } = { exitCode: 0 };
  try {
    await server.listen();
    // the container's restart policy is carried out here, by the process that holds it (restart.ts)
    const dir = await store.containerDir(id);
    const record = await readRecord(dir);
    let delay = restartIn !== undefined ? Number(restartIn) : undefined;
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
      end = {
        exitCode: await superviseContainer(ctx, id, {
          mode: "detach",
          attachServer: server,
          ...(first ? { onReady: (error?: RuntimeError) => report(error === undefined ? { ok: true } : { ok: false, message: error.message, exitCode: error.exitCode }) } : {}),
          restartsAfter: (exitCode, record) => (delay = backoff.next(exitCode, record, dir)) !== undefined,
        }),
      };
      if (delay === undefined) break;
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    end = { exitCode: err instanceof RuntimeError ? err.exitCode : 125, error: message };
    report({ ok: false, message, exitCode: end.exitCode });
    process.exitCode = 1;
  }
  await server.finish(end);
}
