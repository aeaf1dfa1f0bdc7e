import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { RuntimeError } from "../errors.js";
import { hostBinaryPath } from "../runc.js";
import { spawnPiped } from "../../sys/spawn.js";
import { AttachServer, attachSocketPath, type ConsoleSize } from "./attach-server.js";
import { DetachDetector, encodeFrame, Frame, FrameReader, resizeFrame, type ExitMessage } from "./attach-stream.js";
import type { RuntimeContext } from "./context.js";
import { findContainer } from "./lookup.js";
import { isPaused } from "./pause.js";
import { withLiveState, type ContainerRecord } from "./record.js";

export interface SessionOptions {
  tty: boolean;
  /** the user's stdin goes to the container */
  stdin: boolean;
  /** the detach sequence (attach-stream.ts's parseDetachKeys); watched for only with a terminal, as Docker's */
  detachKeys: Buffer;
}

export type SessionEnd = { detached: true } | ({ detached: false } & ExitMessage);

/** The terminal's size, for a -t container's. */
export function terminalSize(): { rows: number; columns: number } | undefined {
  return process.stdout.isTTY === true ? { rows: process.stdout.rows, columns: process.stdout.columns } : undefined;
}

/** `stty -opost` on this process's terminal, through the addon's posix_spawn where it can (no copy of this process). */
function outputProcessingOff(): Promise<void> {
  const stty = hostBinaryPath("stty");
  const child = stty === null ? undefined : spawnPiped(stty, ["stty", "-F", "/dev/tty", "-opost"]);
  if (child !== undefined) return child.exitCode.then(() => undefined, () => undefined);
  return new Promise((resolve) => spawn("stty", ["-opost"], { stdio: [0, "ignore", "ignore"] }).once("close", () => resolve()).once("error", () => resolve()));
}

/**
 * Relay this process's stdio to a container through its supervisor's attach socket until the
 * container ends (its exit code) or the user types the detach keys (the container runs on).
 * A -t session puts the terminal in raw mode, as Docker's CLI does, and passes on its resizes.
 */
export function attachSession(socket: Socket, options: SessionOptions): Promise<SessionEnd> {
  const stdin = process.stdin;
  const raw = options.tty && options.stdin && stdin.isTTY === true;
  const detector = options.tty && options.stdin ? new DetachDetector(options.detachKeys) : undefined;
  // raw as Docker's CLI makes it (moby/term's MakeRaw): Node's raw mode keeps the output's
  // \n → \r\n, which the container's terminal has already done, and which moves a full-screen
  // program's cursor wrongly; stty turns it off (libuv restores all with the normal mode)
  let outputRaw = Promise.resolve();
  if (raw) {
    stdin.setRawMode(true);
    outputRaw = outputProcessingOff();
  }
  return new Promise((resolve) => {
    let exit: ExitMessage | undefined;
    let ended = false;
    const finish = (end: SessionEnd) => {
      if (ended) return;
      ended = true;
      stdin.off("data", onInput).off("end", onInputEnd);
      if (options.stdin) stdin.pause();
      process.stdout.off("resize", onResize);
      void outputRaw.then(() => {
        if (raw) stdin.setRawMode(false);
        resolve(end);
      });
    };
    const onInput = (chunk: Buffer) => {
      const { data, detach } = detector?.feed(chunk) ?? { data: chunk, detach: false };
      if (data.length > 0) socket.write(encodeFrame(Frame.Stdin, data));
      if (detach) {
        socket.destroy();
        finish({ detached: true });
      }
    };
    const onInputEnd = () => socket.write(encodeFrame(Frame.StdinEnd));
    const onResize = () => socket.write(resizeFrame(process.stdout.rows, process.stdout.columns));
    if (options.stdin) stdin.on("data", onInput).once("end", onInputEnd).resume();
    if (options.tty && process.stdout.isTTY === true) process.stdout.on("resize", onResize);
    const reader = new FrameReader((type, payload) => {
      if (type === Frame.Stdout) process.stdout.write(payload);
      else if (type === Frame.Stderr) (options.tty ? process.stdout : process.stderr).write(payload);
      else if (type === Frame.Exit) exit = JSON.parse(payload.toString("utf8")) as ExitMessage;
    });
    // (output once the terminal's own output processing is off)
    void outputRaw.then(() => socket.on("data", (chunk: Buffer) => reader.push(chunk)));
    socket.on("error", () => undefined);
    socket.once("close", () => finish({ detached: false, ...(exit ?? { exitCode: 125, error: "lost the connection to the container's supervisor" }) }));
  });
}

function connectTo(path: string): Promise<Socket> {
  const socket = createConnection(path);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/**
 * `run -it`, `start -ai` of a container without published ports: this process holds the
 * container, as a foreground `run` does (no supervisor process to start first), serving its
 * attach socket, with this terminal as its first client. A detach hands the container's
 * stdio to a supervisor started then (supervisor-main's --adopt), which serves attach from
 * there on; the chain's shell records the exit for the holder that went (finishOrphaned).
 * After a detach the caller must exit at once (process.exit): the container is not its any more.
 */
export async function holdInSession(ctx: RuntimeContext, id: string, options: SessionOptions & { consoleSize?: ConsoleSize }): Promise<SessionEnd> {
  const { SUPERVISOR_LOG, startAttached } = await import("./lifecycle.js");
  const path = attachSocketPath(ctx.runDir, id);
  const server = new AttachServer(path, true, options.consoleSize);
  await server.listen();
  const socket = await connectTo(path);
  // (the session learns the exit, or the error, from the server)
  const held = startAttached(ctx, id, server).catch(() => undefined);
  // the terminal is set up once runc was started, beside it: not before it, on the start's path
  await server.settled;
  const end = await attachSession(socket, options);
  if (!end.detached) {
    await held;
    return end;
  }
  const { chainPid, stdio } = await server.release();
  const dir = await ctx.store.containerDir(id);
  const diag = openSync(join(dir, SUPERVISOR_LOG), "a");
  const script = fileURLToPath(new URL("./supervisor-main.js", import.meta.url));
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const adopter = spawn(process.execPath, [script, "--adopt", resolve(ctx.store.root), id, ctx.runDir, ctx.runc.binary, String(chainPid)], {
    detached: true,
    cwd: "/",
    env,
    stdio: ["ignore", "ignore", diag, ...stdio],
  });
  closeSync(diag);
  adopter.unref();
  return end;
}

/**
 * `berth attach`: the container must run, held by a supervisor (`run -d`, `start`, `run -it`);
 * Docker's messages for one that does not. Connects and, for a -t container, resizes its
 * terminal to this one's (twice, as Docker does, so a shell redraws its prompt).
 */
export async function connectToContainer(ctx: RuntimeContext, ref: string): Promise<{ record: ContainerRecord; socket: Socket }> {
  const found = await findContainer(ctx, ref);
  const record = withLiveState(found.record);
  if (record.state !== "running") throw new RuntimeError("cannot attach to a stopped container, start it first", { exitCode: 1, container: record.id });
  if (isPaused(record)) throw new RuntimeError("cannot attach to a paused container, unpause it first", { exitCode: 1, container: record.id });
  const socket = await connectTo(attachSocketPath(ctx.runDir, record.id)).catch(() => {
    throw new RuntimeError(`cannot attach to container ${record.name}: its output goes to the terminal of the \`berth run\` that holds it`, { exitCode: 1, container: record.id });
  });
  const size = record.config.tty ? terminalSize() : undefined;
  if (size !== undefined) {
    socket.write(resizeFrame(size.rows + 1, size.columns + 1));
    socket.write(resizeFrame(size.rows, size.columns));
  }
  return { record, socket };
}
