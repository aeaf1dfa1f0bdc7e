import { lstatSync } from "node:fs";
import { berthNative, STAT_DIR_FIELDS } from "./addon.js";

/**
 * lstat(2) without a Stats object. Node 20's lstatSync builds one per call, with four Date
 * objects; on a walk of a 20,000-file context that garbage cost more than the system calls
 * (figures: docs/architecture-notes.md). The addon's lstat returns the fields as numbers;
 * lstatSync is the fallback.
 */
export interface LiteStat {
  dev: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** The addon's (and statDir's) fields: dev mode nlink uid gid rdev ino size mtimeMs ctimeMs. */
export function liteStatAt(f: Float64Array, i = 0): LiteStat {
  const o = i * STAT_DIR_FIELDS;
  return { dev: f[o]!, mode: f[o + 1]!, nlink: f[o + 2]!, uid: f[o + 3]!, gid: f[o + 4]!, rdev: f[o + 5]!, ino: f[o + 6]!, size: f[o + 7]!, mtimeMs: f[o + 8]!, ctimeMs: f[o + 9]! };
}

function viaFs(path: string): LiteStat | undefined {
  let s;
  try {
    s = lstatSync(path, { throwIfNoEntry: false });
  } catch (err) {
    // a file in the way is "nothing there" too, as the addon's lstat says it
    if ((err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw err;
  }
  if (s === undefined) return undefined;
  return { dev: s.dev, mode: s.mode, nlink: s.nlink, uid: s.uid, gid: s.gid, rdev: s.rdev, ino: s.ino, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs };
}

/** Where the addon's lstat writes: one buffer for every call (its numbers are read at once). */
const fields = new Float64Array(STAT_DIR_FIELDS);

/** lstat of `path`: undefined when nothing is there; other errors throw as lstatSync's do. */
export function lstatLite(path: string): LiteStat | undefined {
  const native = berthNative();
  if (native === null) return viaFs(path);
  return native.lstat(path, fields) ? liteStatAt(fields) : undefined;
}

type Build<T> = (dev: number, mode: number, nlink: number, uid: number, gid: number, rdev: number, ino: number, size: number, mtimeMs: number, ctimeMs: number) => T;

/**
 * lstatLite for callers with an object of their own to make from the fields: one object per
 * entry, no intermediate (a context walk keeps 20,000 of them; garbage is its main cost).
 */
export function lstatBuild<T>(path: string, build: Build<T>): T | undefined {
  const native = berthNative();
  if (native === null) {
    const s = viaFs(path);
    return s === undefined ? undefined : build(s.dev, s.mode, s.nlink, s.uid, s.gid, s.rdev, s.ino, s.size, s.mtimeMs, s.ctimeMs);
  }
  if (!native.lstat(path, fields)) return undefined;
  const f = fields;
  return build(f[0]!, f[1]!, f[2]!, f[3]!, f[4]!, f[5]!, f[6]!, f[7]!, f[8]!, f[9]!);
}

const S_IFMT = 0o170000;
export const isDir = (s: LiteStat): boolean => (s.mode & S_IFMT) === 0o040000;
export const isFile = (s: LiteStat): boolean => (s.mode & S_IFMT) === 0o100000;
export const isSymlink = (s: LiteStat): boolean => (s.mode & S_IFMT) === 0o120000;
export const isCharDevice = (s: LiteStat): boolean => (s.mode & S_IFMT) === 0o020000;
export const isBlockDevice = (s: LiteStat): boolean => (s.mode & S_IFMT) === 0o060000;
export const isFifo = (s: LiteStat): boolean => (s.mode & S_IFMT) === 0o010000;
