import { execFile, type ChildProcess } from "node:child_process";
import { mkdirSync, readlinkSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { createServer, type Server, type Socket } from "node:net";
import type { Readable, Writable } from "node:stream";
import { runtimeChild } from "../overlay.js";
import type { LogWriter } from "./logs.js";
import { encodeFrame, Frame, FrameReader, type ExitMessage } from "./attach-stream.js";

/** The supervisor's attach socket: in the run dir, beside the port proxies' sockets. */
export function attachSocketPath(runDir: string, id: string): string {
  return `${runDir}/${id.slice(0, 12)}.attach.sock`;
}

/** The terminal size a -t container starts with: the first client's. */
export interface ConsoleSize {
  rows: number;
  columns: number;
}

/**
 * The supervisor's side of attach: every client gets the container's output from the moment
 * it connects; its input goes to the container's stdin (a -t container's: `script`'s, whose
 * terminal runc relays), its resizes to that terminal. Clients come and go (detach, attach)
 * while the container runs; when it ends each gets its exit code.
 */
export class AttachServer {
  private readonly clients = new Set<Socket>();
  private server: Server | undefined;
  private input: Writable | undefined;
  /** input typed before the container's process was there (`run -it`'s client connects first) */
  private early: Buffer[] = [];
  private earlyEnd = false;
  /** the container's process chain (inMountNamespace): a -t container's `script` is its child */
  private chainPid: number | undefined;
  private held: { child: ChildProcess; log: LogWriter | undefined } | undefined;
  private terminal: string | undefined;
  private resizing = Promise.resolve();
  private markSettled: () => void = () => undefined;
  /** resolves once the container's process chain runs (relay), or it ended (finish) */
  readonly settled = new Promise<void>((resolve) => (this.markSettled = resolve));

  /**
   * `session`: a client was connected before the start (`run -it`, `start -a`), who learns of
   * a failed start from its exit message, so the supervisor needs not wait for the process to
   * run before it reports; that client's stdin ending ends the container's (Docker's StdinOnce).
   */
  constructor(
    private readonly socketPath: string,
    readonly session: boolean,
    readonly consoleSize?: ConsoleSize,
  ) {}

  /** Listen on the socket (a stale one from a dead supervisor is replaced). */
  listen(): Promise<void> {
    mkdirSync(dirname(this.socketPath), { recursive: true });
    try {
      unlinkSync(this.socketPath);
    } catch {
      // none
    }
    const server = createServer((socket) => this.adopt(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.socketPath, () => resolve());
    });
  }

  /** A client: one connected to the socket, or the session `run -it` handed over at start-up. */
  adopt(socket: Socket): void {
    this.clients.add(socket);
    const reader = new FrameReader((type, payload) => {
      if (type === Frame.Stdin) {
        if (this.input !== undefined) this.input.write(payload);
        else this.early.push(Buffer.from(payload));
      } else if (type === Frame.StdinEnd && this.session) {
        if (this.input !== undefined) this.input.end();
        else this.earlyEnd = true;
      }
      else if (type === Frame.Resize) this.resize(payload.readUInt16BE(0), payload.readUInt16BE(2));
    });
    socket.on("data", (chunk: Buffer) => reader.push(chunk));
    socket.on("error", () => socket.destroy());
    socket.once("close", () => this.clients.delete(socket));
  }

  /** The container's process chain runs (its stdin takes the input) and writes this log. */
  connect(child: ChildProcess, log: LogWriter | undefined): void {
    this.held = { child, log };
    this.relay(child.stdin, child.pid);
  }

  /** Where input goes; for resizes, the chain whose `script` holds a -t container's terminal. */
  relay(input: Writable | null, chainPid: number | undefined): void {
    if (input !== null) {
      this.input = input;
      input.on("error", () => undefined); // the container closed its stdin
      for (const chunk of this.early) input.write(chunk);
      if (this.earlyEnd) input.end();
    }
    this.early = [];
    this.chainPid = chainPid;
    this.markSettled();
  }

  /**
   * Hand the container's stdio over to another process (a detach from `run -it`, see
   * holdInSession): stop reading its output here, flush the log, stop listening. Returns the
   * chain's pid and its stdin, stdout and stderr pipes, to be passed on as inherited fds.
   */
  async release(): Promise<{ chainPid: number; stdio: [Writable, Readable, Readable] }> {
    const held = this.held;
    if (held?.child.pid === undefined || held.child.stdin === null || held.child.stdout === null || held.child.stderr === null) throw new Error("no container stdio to hand over");
    held.child.stdout.removeAllListeners("data").pause();
    held.child.stderr.removeAllListeners("data").pause();
    await held.log?.close();
    for (const client of this.clients) client.destroy();
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
    try {
      unlinkSync(this.socketPath);
    } catch {
      // gone
    }
    return { chainPid: held.child.pid, stdio: [held.child.stdin, held.child.stdout, held.child.stderr] };
  }

  output(stream: "stdout" | "stderr", chunk: Buffer): void {
    if (this.clients.size === 0) return;
    const frame = encodeFrame(stream === "stdout" ? Frame.Stdout : Frame.Stderr, chunk);
    for (const client of this.clients) client.write(frame);
  }

  /** The container ended: tell every client, then stop listening. */
  async finish(message: ExitMessage): Promise<void> {
    this.markSettled();
    const frame = encodeFrame(Frame.Exit, Buffer.from(JSON.stringify(message)));
    await Promise.all(
      [...this.clients].map((client) => new Promise<void>((resolve) => {
        client.once("close", () => resolve());
        client.end(frame);
      })),
    );
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
    try {
      unlinkSync(this.socketPath);
    } catch {
      // never listened
    }
  }

  /**
   * Size the terminal `script` made: the kernel then signals SIGWINCH to its foreground
   * process group, runc among it, which sizes the container's terminal alike.
   */
  private resize(rows: number, columns: number): void {
    const terminal = this.terminalPath();
    if (terminal === undefined) return;
    // one at a time, in order (`berth attach` sends two at once)
    this.resizing = this.resizing.then(() => new Promise<void>((resolve) => execFile("stty", ["-F", terminal, "rows", String(rows), "cols", String(columns)], () => resolve())));
  }

  private terminalPath(): string | undefined {
    if (this.terminal !== undefined || this.chainPid === undefined) return this.terminal;
    // chain → script → the shell script runs in the terminal it made
    const script = runtimeChild(this.chainPid);
    const session = script === undefined ? undefined : runtimeChild(script);
    if (session === undefined) return undefined;
    try {
      const path = readlinkSync(`/proc/${session}/fd/0`);
      if (path.startsWith("/dev/pts/")) this.terminal = path;
    } catch {
      // gone
    }
    return this.terminal;
  }
}
