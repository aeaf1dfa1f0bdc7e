import { closeSync, constants, fstatSync, openSync, readSync, renameSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";

/**
 * The store's event log, what `berth events` reads: berth has no daemon to keep Docker's
 * event stream, so whoever acts (the CLI, a container's supervisor for `start` and `die`)
 * appends one JSON line per event, shaped as Docker's events.Message, to `events.log` under
 * the store root — one write(2) on an O_APPEND descriptor, so concurrent writers never
 * interleave a line. When the log passes EVENTS_LOG_LIMIT it is renamed to `events.log.1`
 * (replacing the previous one): at most two files are kept.
 */
export const EVENTS_LOG = "events.log";
export const EVENTS_LOG_LIMIT = 1024 * 1024;

export type EventType = "container" | "image" | "network" | "volume";

/** Docker's events.Message, with its JSON field names; `timeNano` as a decimal string (it does not fit a double). */
export interface StoreEvent {
  status?: string;
  id?: string;
  from?: string;
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: "local";
  time: number;
  timeNano: string;
}

/** Now in nanoseconds since the epoch (microsecond resolution). */
function nowNano(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

/** The event's line: JSON with `timeNano` written as an integer, as Docker's. */
export function eventJson(e: StoreEvent): string {
  const { timeNano, ...rest } = e;
  return `${JSON.stringify(rest).slice(0, -1)},"timeNano":${timeNano}}`;
}

function parseEventLine(line: string): StoreEvent | undefined {
  try {
    const e = JSON.parse(line) as StoreEvent;
    e.timeNano = /"timeNano":(\d+)/.exec(line)?.[1] ?? `${e.time}000000000`;
    return e;
  } catch {
    return undefined; // a line cut short by a crash
  }
}

/**
 * Append an event. Never throws: an event that cannot be written (a read-only or vanished
 * store) must not fail the act it reports.
 */
export function recordEvent(root: string, type: EventType, action: string, id: string, attributes: Record<string, string> = {}): void {
  const ns = nowNano();
  const event: StoreEvent = {
    ...(type === "container" || type === "image" ? { status: action, id } : {}),
    ...(type === "container" && attributes.image !== undefined ? { from: attributes.image } : {}),
    Type: type,
    Action: action,
    Actor: { ID: id, Attributes: attributes },
    scope: "local",
    time: Number(ns / 1_000_000_000n),
    timeNano: ns.toString(),
  };
  const path = join(root, EVENTS_LOG);
  try {
    const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    try {
      writeSync(fd, `${eventJson(event)}\n`);
      const st = fstatSync(fd);
      // rotate once, by whoever finds the log it wrote to still in place and over the limit
      if (st.size > EVENTS_LOG_LIMIT && statSync(path).ino === st.ino) renameSync(path, `${path}.1`);
    } finally {
      closeSync(fd);
    }
  } catch {
    // see above
  }
}

/** A position in the log: which file (its inode) and how far it was read. */
export interface EventsCursor {
  ino: number;
  offset: number;
  partial: string;
}

function readFrom(path: string, offset: number): { text: string; size: number; ino: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    const length = Math.max(0, st.size - offset);
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return { text: buf.subarray(0, got).toString("utf8"), size: offset + got, ino: st.ino };
  } finally {
    closeSync(fd);
  }
}

function lines(cursor: EventsCursor, text: string): StoreEvent[] {
  const parts = (cursor.partial + text).split("\n");
  cursor.partial = parts.pop() ?? "";
  return parts.filter((l) => l !== "").map(parseEventLine).filter((e): e is StoreEvent => e !== undefined);
}

/** Every event kept (the rotated file's, then the log's), oldest first, and a cursor at the log's end. */
export function readEvents(root: string): { events: StoreEvent[]; cursor: EventsCursor } {
  const path = join(root, EVENTS_LOG);
  const cursor: EventsCursor = { ino: 0, offset: 0, partial: "" };
  const old = readFrom(`${path}.1`, 0);
  const events = old === undefined ? [] : lines({ ino: 0, offset: 0, partial: "" }, old.text);
  const current = readFrom(path, 0);
  if (current !== undefined) {
    events.push(...lines(cursor, current.text));
    cursor.ino = current.ino;
    cursor.offset = current.size;
  }
  return { events, cursor };
}

/**
 * The events appended since `cursor` (advanced): what was left of a log rotated meanwhile
 * (now `events.log.1`), then the new log's.
 */
export function readNewEvents(root: string, cursor: EventsCursor): StoreEvent[] {
  const path = join(root, EVENTS_LOG);
  const out: StoreEvent[] = [];
  let current = readFrom(path, cursor.offset);
  if (current !== undefined && current.ino !== cursor.ino) {
    const rotated = readFrom(`${path}.1`, cursor.offset);
    if (rotated !== undefined && rotated.ino === cursor.ino) out.push(...lines(cursor, rotated.text));
    cursor.partial = "";
    cursor.ino = current.ino;
    cursor.offset = 0;
    current = readFrom(path, 0);
  }
  if (current === undefined) return out;
  out.push(...lines(cursor, current.text));
  cursor.offset = current.size;
  return out;
}
