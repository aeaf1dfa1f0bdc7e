/**
 * The attach protocol between a container's supervisor and `berth attach`/`run -it`/`start -a`,
 * on a unix socket: frames of one type byte, a 32-bit big-endian length and the payload (the
 * role of Docker's hijacked connection and its stdcopy multiplexing).
 */
export const enum Frame {
  /** client → supervisor: bytes for the container's stdin */
  Stdin = 0,
  /** supervisor → client: the container's output (a -t container's is all stdout) */
  Stdout = 1,
  Stderr = 2,
  /** supervisor → client: the container ended; JSON { exitCode, error? } */
  Exit = 3,
  /** client → supervisor: the terminal's size, rows then columns, 16 bits each */
  Resize = 4,
  /** client → supervisor: the client's stdin ended (the container's closes with it for `run -i`, Docker's StdinOnce) */
  StdinEnd = 5,
}

export interface ExitMessage {
  exitCode: number;
  error?: string;
}

export function encodeFrame(type: Frame, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

export function resizeFrame(rows: number, columns: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt16BE(Math.min(rows, 0xffff), 0);
  payload.writeUInt16BE(Math.min(columns, 0xffff), 2);
  return encodeFrame(Frame.Resize, payload);
}

/** Splits a byte stream into frames, however its chunks fall. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (type: Frame, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 5) {
      const length = this.buffered.readUInt32BE(1);
      if (this.buffered.length < 5 + length) break;
      const type = this.buffered.readUInt8(0) as Frame;
      const payload = this.buffered.subarray(5, 5 + length);
      this.buffered = this.buffered.subarray(5 + length);
      this.onFrame(type, payload);
    }
  }
}

/** Docker's default detach keys: ctrl-p, ctrl-q. */
export const DEFAULT_DETACH_KEYS = Buffer.from([16, 17]);

/**
 * Docker's detach key syntax (moby/term's ToBytes): comma-separated keys, each a single
 * character or `ctrl-<value>` with value one of a-z @ [ \ ] ^ _ (or `DEL`). Throws Docker's
 * message for anything else; "" means the default.
 */
export function parseDetachKeys(keys: string): Buffer {
  if (keys === "") return DEFAULT_DETACH_KEYS;
  const codes: number[] = [];
  for (const key of keys.split(",")) {
    if (key.length === 1) codes.push(key.charCodeAt(0));
    else if (key === "DEL") codes.push(127);
    else {
      const m = /^ctrl-([a-z@[\\\]^_])$/.exec(key);
      if (m === null) throw new Error(`invalid detach keys (${keys}): Unknown character: '${key}'`);
      codes.push((m[1] as string).charCodeAt(0) & 0x1f);
    }
  }
  return Buffer.from(codes);
}

/**
 * Watches input for the detach sequence as Docker's escape proxy does: bytes that may start
 * it are held back, and let through when the sequence breaks off.
 */
export class DetachDetector {
  private matched = 0;

  constructor(private readonly keys: Buffer) {}

  /** The bytes to pass on, and whether the sequence is now complete (nothing after it is passed). */
  feed(chunk: Buffer): { data: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        if (++this.matched === this.keys.length) return { data: Buffer.from(out), detach: true };
        continue;
      }
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i] as number);
      this.matched = 0;
      out.push(byte);
    }
    return { data: Buffer.from(out), detach: false };
  }
}
