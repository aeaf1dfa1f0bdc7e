import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";

/** One line of a container's log: Docker's json-file log driver format. */
export interface LogEntry {
  log: string;
  stream: "stdout" | "stderr";
  time: string;
}

export const LOG_FILE = "container.log";

/**
 * Writes a container's output as JSON lines, one per output line, stamped when the line is
 * complete (a partial line waits for its newline or the end of the stream, as Docker's does).
 */
export class LogWriter {
  private readonly out: WriteStream;
  private readonly pending: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };
  private readonly decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };

  constructor(path: string) {
    this.out = createWriteStream(path, { flags: "a" });
  }

  write(stream: "stdout" | "stderr", chunk: Buffer): void {
    let text = this.pending[stream] + this.decoders[stream].write(chunk);
    let nl: number;
    const time = new Date().toISOString();
    let batch = "";
    while ((nl = text.indexOf("\n")) >= 0) {
      batch += JSON.stringify({ log: text.slice(0, nl + 1), stream, time } satisfies LogEntry) + "\n";
      text = text.slice(nl + 1);
    }
    this.pending[stream] = text;
    if (batch !== "") this.out.write(batch);
  }

  async close(): Promise<void> {
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = this.pending[stream] + this.decoders[stream].end();
      if (rest !== "") this.out.write(JSON.stringify({ log: rest, stream, time: new Date().toISOString() } satisfies LogEntry) + "\n");
      this.pending[stream] = "";
    }
    await new Promise<void>((resolve) => this.out.end(resolve));
  }
}

function parseLines(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      out.push(JSON.parse(line) as LogEntry);
    } catch {
      // a torn last line of a killed writer
    }
  }
  return out;
}

/** Read the whole log (or its last `tail` entries). */
export async function readLog(path: string, tail?: number): Promise<{ entries: LogEntry[]; offset: number }> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return { entries: [], offset: 0 };
  }
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    createReadStream(path, { start: 0, end: Math.max(0, size - 1) })
      .on("data", (c) => chunks.push(c as Buffer))
      .on("end", resolve)
      .on("error", reject);
  });
  const text = size === 0 ? "" : Buffer.concat(chunks).toString("utf8");
  // only complete lines count: a line being written now is read by the follower
  const complete = text.lastIndexOf("\n") + 1;
  let entries = parseLines(text.slice(0, complete));
  if (tail !== undefined && tail >= 0) entries = tail === 0 ? [] : entries.slice(-tail);
  return { entries, offset: Buffer.byteLength(text.slice(0, complete)) };
}

/**
 * Follow the log from `offset` until `isDone()` says the writer has finished and the file is
 * drained; polls every 50 ms (files on any file system, no inotify limits).
 */
export async function followLog(path: string, offset: number, isDone: () => Promise<boolean>, emit: (e: LogEntry) => void, signal?: AbortSignal): Promise<void> {
  let pos = offset;
  let rest = "";
  for (;;) {
    const done = await isDone();
    const fh = await open(path, "r").catch(() => undefined);
    if (fh !== undefined) {
      try {
        const { size } = await fh.stat();
        if (size > pos) {
          const buf = Buffer.alloc(size - pos);
          await fh.read(buf, 0, buf.length, pos);
          pos = size;
          const text = rest + buf.toString("utf8");
          const complete = text.lastIndexOf("\n") + 1;
          rest = text.slice(complete);
          for (const e of parseLines(text.slice(0, complete))) emit(e);
        }
      } finally {
        await fh.close();
      }
    }
    if (done || signal?.aborted === true) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
