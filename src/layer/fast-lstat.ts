import { lstatSync } from "node:fs";

/**
 * lstat(2) without a Stats object. Node 20's lstatSync builds one per call, with four Date
 * objects; on a walk of a 20,000-file context that garbage cost more than the system calls
 * (figures: docs/architecture-notes.md). So this
 * calls what lstatSync calls, Node's own fs binding, which returns the fields as numbers —
 * where it is there and answers as lstatSync does (checked once); lstatSync otherwise.
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

type RawLstat = (path: string, useBigint: boolean, req: undefined, throwIfNoEntry: boolean) => Float64Array | undefined;

function fromArray(a: Float64Array): LiteStat {
  // Node 20's field order (kFsStatsFieldsNumber = 18): dev mode nlink uid gid rdev blksize ino
  // size blocks, then seconds and nanoseconds of atime, mtime, ctime, birthtime
  return {
    dev: a[0]!, mode: a[1]!, nlink: a[2]!, uid: a[3]!, gid: a[4]!, rdev: a[5]!, ino: a[7]!, size: a[8]!,
    mtimeMs: a[12]! * 1e3 + a[13]! / 1e6,
    ctimeMs: a[14]! * 1e3 + a[15]! / 1e6,
  };
}

function fromStats(path: string): LiteStat | undefined {
  const s = lstatSync(path, { throwIfNoEntry: false });
  if (s === undefined) return undefined;
  return { dev: s.dev, mode: s.mode, nlink: s.nlink, uid: s.uid, gid: s.gid, rdev: s.rdev, ino: s.ino, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs };
}

function loadRaw(): RawLstat | undefined {
  // process.binding warns under --pending-deprecation: then do without it
  if (process.execArgv.includes("--pending-deprecation") || (process.env.NODE_OPTIONS ?? "").includes("--pending-deprecation")) return undefined;
  if (process.env.BERTH_NO_FS_BINDING === "1") return undefined;
  try {
    const binding = (process as unknown as { binding(name: string): { lstat?: RawLstat } }).binding("fs");
    const raw = binding.lstat;
    if (typeof raw !== "function") return undefined;
    // it must agree with lstatSync on a path that exists, and say "absent" as undefined
    const probe = "/";
    const a = raw.call(binding, probe, false, undefined, true);
    const b = fromStats(probe);
    if (!(a instanceof Float64Array) || a.length < 16 || b === undefined) return undefined;
    const l = fromArray(a);
    if (l.mode !== b.mode || l.ino !== b.ino || l.dev !== b.dev || l.mtimeMs !== b.mtimeMs || l.size !== b.size) return undefined;
    if (raw.call(binding, "/nonexistent-berth-probe", false, undefined, false) !== undefined) return undefined;
    return (path, useBigint, req, throwIfNoEntry) => raw.call(binding, path, useBigint, req, throwIfNoEntry);
  } catch {
    return undefined;
  }
}

let raw: RawLstat | null | undefined;

/** lstat of `path`: undefined when nothing is there; other errors throw as lstatSync's do. */
export function lstatLite(path: string): LiteStat | undefined {
  return lstatBuild(path, (dev, mode, nlink, uid, gid, rdev, ino, size, mtimeMs, ctimeMs) => ({ dev, mode, nlink, uid, gid, rdev, ino, size, mtimeMs, ctimeMs }));
}

type Build<T> = (dev: number, mode: number, nlink: number, uid: number, gid: number, rdev: number, ino: number, size: number, mtimeMs: number, ctimeMs: number) => T;

/**
 * lstatLite for callers with an object of their own to make from the fields: one object per
 * entry, no intermediate (a context walk keeps 20,000 of them; garbage is its main cost).
 */
export function lstatBuild<T>(path: string, build: Build<T>): T | undefined {
  if (raw === undefined) raw = loadRaw() ?? null;
  if (raw === null) {
    const s = fromStats(path);
    return s === undefined ? undefined : build(s.dev, s.mode, s.nlink, s.uid, s.gid, s.rdev, s.ino, s.size, s.mtimeMs, s.ctimeMs);
  }
  let a: Float64Array | undefined;
  try {
    a = raw(path, false, undefined, false);
  } catch (err) {
    // lstatSync's throwIfNoEntry: false also takes a file in the way as "absent"
    if ((err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw err;
  }
  // Node 20's field order (kFsStatsFieldsNumber = 18): dev mode nlink uid gid rdev blksize ino
  // size blocks, then seconds and nanoseconds of atime, mtime, ctime, birthtime
  return a === undefined ? undefined : build(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[7]!, a[8]!, a[12]! * 1e3 + a[13]! / 1e6, a[14]! * 1e3 + a[15]! / 1e6);
}

const S_IFMT = 0o170000;
export const isDir = (s: LiteStat): boolean => (s.mode & S_IFMT) === 0o040000;
export const isFile = (s: LiteStat): boolean => (s.mode & S_IFMT) === 0o100000;
export const isSymlink = (s: LiteStat): boolean => (s.mode & S_IFMT) === 0o120000;
export const isCharDevice = (s: LiteStat): boolean => (s.mode & S_IFMT) === 0o020000;
export const isBlockDevice = (s: LiteStat): boolean => (s.mode & S_IFMT) === 0o060000;
export const isFifo = (s: LiteStat): boolean => (s.mode & S_IFMT) === 0o010000;
