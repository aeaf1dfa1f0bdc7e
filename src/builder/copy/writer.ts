import { execFileSync } from "node:child_process";
import * as fsModule from "node:fs";
import { availableParallelism } from "node:os";
import {
  chmodSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
} from "node:fs";
import { cleanPath, WORKER_LIMITS, type ResolvedSource, type SourceFs, type SourceStat } from "../../context/index.js";
import type { ModeFunction } from "./chmod.js";
import { CopyError } from "./errors.js";
import type { Owner } from "./owner.js";
import { TargetView, type Planned } from "./target-view.js";

const SMALL_FILE = 1 << 20;

/** [src host path, dst host path, mode, source mode, uid, gid, mtime seconds, size] */
type CopyRow = [string, string, number, number, number, number, number, number];

// One function body for the main thread and the workers (a worker gets it as source text).
function copyRowsImpl(fs: typeof import("node:fs"), rows: CopyRow[], euid: number, egid: number, small: number): void {
  const buf = Buffer.allocUnsafe(small);
  for (const [src, dst, mode, srcMode, uid, gid, mtime, size] of rows) {
    let n = -1;
    if (size < small) {
      // O_NOATIME: no access-time update (an inode write on a journaled file system) per file
      let fd: number;
      try {
        fd = fs.openSync(src, fs.constants.O_RDONLY | fs.constants.O_NOATIME);
      } catch {
        fd = fs.openSync(src, "r");
      }
      try {
        n = fs.readSync(fd, buf, 0, small, 0);
      } finally {
        fs.closeSync(fd);
      }
    }
    if (n >= 0 && n < small) {
      const out = fs.openSync(dst, "w", mode);
      try {
        fs.writeSync(out, buf, 0, n);
        fs.fchmodSync(out, mode); // open() applied the umask
        if (uid !== euid || gid !== egid) fs.fchownSync(out, uid, gid);
        fs.futimesSync(out, mtime, mtime);
      } finally {
        fs.closeSync(out);
      }
    } else {
      // big, or grown since it was indexed: the kernel copies (copy_file_range)
      fs.copyFileSync(src, dst);
      if (mode !== srcMode) fs.chmodSync(dst, mode);
      if (uid !== euid || gid !== egid) fs.lchownSync(dst, uid, gid);
      fs.utimesSync(dst, mtime, mtime);
    }
  }
}

function copyRows(rows: CopyRow[], euid: number, egid: number): void {
  copyRowsImpl(fsModule, rows, euid, egid, SMALL_FILE);
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
const copyRowsImpl = ${copyRowsImpl.toString()};
try {
  copyRowsImpl(fs, workerData.rows, workerData.euid, workerData.egid, workerData.small);
  parentPort.postMessage({ ok: true });
} catch (err) {
  parentPort.postMessage({ ok: false, message: String(err && err.message || err), path: err && err.path });
}
`;

async function copyInWorker(rows: CopyRow[], euid: number, egid: number): Promise<void> {
  // loaded here: worker_threads costs ~3 ms to load, and threads are opt-in
  const { Worker } = await import("node:worker_threads");
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { rows, euid, egid, small: SMALL_FILE }, resourceLimits: WORKER_LIMITS });
    w.once("message", (m: { ok: boolean; message?: string; path?: string }) => {
      void w.terminate();
      if (m.ok) resolve();
      else reject(new CopyError(`COPY failed: ${m.message}`, { path: m.path }));
    });
    w.once("error", (err) => reject(new CopyError(`COPY failed: ${err.message}`, { cause: err })));
  });
}

function samePlacement(a: PlacedFile | undefined, b: PlacedFile): boolean {
  return a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Hard-links an earlier layer's file; false when it is gone (a pruned layer): copy instead. */
function linkFrom(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch {
    return false;
  }
}

/**
 * Device nodes and fifos, as fsutil's copyDevice does (Node has no mknod: mknod(1), one process
 * per node; such entries are rare in contexts and images). Sockets cannot be made by mknod(1).
 */
function makeSpecial(host: string, st: SourceStat, label: string, srcRel: string): void {
  const type = st.mode & 0o170000;
  const rdev = st.rdev;
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff & 0xfffff);
  let args: string[];
  if (type === 0o020000) args = [host, "c", String(major), String(minor)];
  else if (type === 0o060000) args = [host, "b", String(major), String(minor)];
  else if (type === 0o010000) args = [host, "p"];
  else throw new CopyError(`cannot copy ${srcRel} from the ${label}: sockets are not supported`, { path: srcRel });
  execFileSync("mknod", args, { stdio: ["ignore", "ignore", "pipe"] });
}


export interface WriteCopyOptions {
  /** Where the sources live (the build context, a stage's rootfs, an image's layers). */
  source: SourceFs;
  sources: readonly ResolvedSource[];
  /** Absolute in-image destination (the caller resolved WORKDIR); a trailing "/" means a directory. */
  dest: string;
  /** The new layer's directory (an overlay upper dir or an empty snapshot dir). */
  upperDir: string;
  /** The parent rootfs as layer dirs, top first, to see what already exists (and symlinks). */
  lowerDirs?: readonly string[];
  /** `--chown` resolved to numbers (see resolveChown). Default: 0:0 from the context, source owners from stages/images. */
  owner?: Owner;
  /** `--chmod` (see parseChmod). */
  chmod?: ModeFunction;
  /** Seconds since the epoch: every entry written and every directory created gets this mtime
   * (BuildKit's WithCreatedTime when SOURCE_DATE_EPOCH is set); otherwise source mtimes are kept. */
  mtime?: number;
  /** Seconds since the epoch: mtimes later than this are lowered to it (SOURCE_DATE_EPOCH as
   * BuildKit's exporter applies it with rewrite-timestamp); earlier source mtimes are kept.
   * Ignored when `mtime` is given. */
  clampMtime?: number;
  /** How many sources the instruction named (before wildcards): more than one needs a dest ending in "/". */
  declaredSources?: number;
  command?: "COPY" | "ADD";
  /** Worker threads for the file contents (default 1: the main thread). */
  parallelism?: number;
  /** Overlay opaque-dir test for the lower layers (default: getfattr). */
  isOpaque?: (absDir: string) => boolean;
  /**
   * The content hash (hex) of a source file by its host path, when known (the step's
   * checksums): the files written are then listed in `WriteCopyResult.placed`.
   */
  contentOf?: (srcHostPath: string) => string | undefined;
  /** An earlier layer of the same step and what it placed: its unchanged files are linked. */
  reuse?: ReuseSource;
}

/**
 * What a COPY put at one in-image path of its layer: the source content's hash and the
 * metadata written (the job's own numbers, so a later comparison is exact).
 * [content hex, mtime seconds, mode, uid, gid, size]
 */
export type PlacedFile = [string, number, number, number, number, number];

/**
 * The layer an earlier build of the same COPY made, and the files it placed. A file this COPY
 * would write with the same content and metadata at the same path is hard-linked from there
 * instead of copied: one link(2) instead of reading and writing it, and no data for the
 * store's sync to flush. Layer dirs never change once committed (an overlay copies a lower
 * file up before any change), and a linked file is never written, chmod'ed or chown'ed here,
 * so both layers keep exactly their own bytes. BuildKit's differ links unchanged files across
 * snapshots for the same reason (fsutil's hardlink-aware copy).
 */
export interface ReuseSource {
  /** The earlier layer's directory. */
  dir: string;
  placed: ReadonlyMap<string, PlacedFile>;
}

export interface WriteCopyResult {
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  bytes: number;
  /** Files linked from `reuse` instead of copied (counted in `files` too). */
  reused: number;
  /** With `contentOf`: every regular file written (not hard links inside the copy), by in-image path. */
  placed?: Map<string, PlacedFile>;
}

interface FileJob {
  src: string;
  dst: string;
  mode: number;
  srcMode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkOf?: string;
  /** Part of a hard-link group in the source: never linked from an earlier layer (the
   *  layer's link structure would then differ from a plain copy's). */
  grouped?: boolean;
}

function joinAbs(dir: string, name: string): string {
  return dir === "/" ? "/" + name : dir + "/" + name;
}

function parentOf(abs: string): string {
  const i = abs.lastIndexOf("/");
  return i <= 0 ? "/" : abs.slice(0, i);
}

/**
 * Writes a COPY/ADD layer as BuildKit's file op does (fsutil copy with CopyDirContentsOnly,
 * FollowSymlinks on the sources, CreateDestPath):
 * - a file lands at dest, or at dest/<name> when dest is (or resolves to) a directory;
 * - a directory's contents land in dest; dest's own metadata is left as it is;
 * - missing parents are created 0755, owned by the `--chown` user (else 0:0), mtime now (or `mtime`);
 * - entries keep their source mode and mtime; owners per `owner` / the source; `--chmod`
 *   applies to files and directories (BuildKit) but not to symlinks;
 * - existing directories below the copy take the source directory's metadata;
 * - symlinks are copied as links; hardlinks inside one COPY stay hardlinks;
 * - a directory already in the parent rootfs that the copy writes into is copied up into the
 *   upper dir with its metadata, so the layer records it unchanged;
 * - `--link`: the caller passes no lower dirs, so the layer is the copy onto an empty directory
 *   (BuildKit's copy onto scratch): every parent of dest is made fresh as above.
 */
export async function writeCopy(options: WriteCopyOptions): Promise<WriteCopyResult> {
  const command = options.command ?? "COPY";
  if ((options.declaredSources ?? 1) > 1 && !options.dest.endsWith("/")) {
    throw new CopyError(`When using ${command} with more than one source file, the destination must be a directory and end with a /`, { path: options.dest });
  }
  if (!options.dest.startsWith("/")) throw new CopyError(`${command} destination ${JSON.stringify(options.dest)} must be absolute (resolve WORKDIR first)`);
  const view = new TargetView(options.upperDir, options.lowerDirs ?? [], options.isOpaque);
  const upper = options.upperDir;
  const nowSec = Date.now() / 1000;
  const clamp = (t: number): number => (options.clampMtime !== undefined && t > options.clampMtime ? options.clampMtime : t);
  const createdTime = options.mtime ?? clamp(nowSec);
  const createdOwner = options.owner ?? { uid: 0, gid: 0 };
  const inUpper = new Set<string>(["/"]);
  const dirTimes = new Map<string, number>(); // host path → mtime to set last
  const jobs = new Map<string, FileJob>();
  const result: WriteCopyResult = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytes: 0, reused: 0 };
  const euid = process.geteuid?.() ?? 0;
  const egid = process.getegid?.() ?? 0;

  const plan = (abs: string, p: Planned): void => {
    view.planned.set(abs, p);
  };

  /** Makes sure an existing directory of the rootfs exists in the upper dir, metadata copied up. */
  const copyUp = (abs: string, st: SourceStat | Planned): void => {
    if (inUpper.has(abs)) return;
    copyUp(parentOf(abs), view.lstat(parentOf(abs))!);
    const host = upper + abs;
    try {
      mkdirSync(host);
      if ("uid" in st) {
        chmodSync(host, st.mode & 0o7777);
        lchownSync(host, st.uid, st.gid);
        dirTimes.set(host, st.mtimeMs / 1000);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    inUpper.add(abs);
  };

  /** BuildKit's MkdirAll: creates missing directories 0755 with the chown user and created time. */
  const mkdirAll = (abs: string): void => {
    const parts = abs.split("/").filter(Boolean);
    let cur = "/";
    for (const part of parts) {
      const next = joinAbs(cur, part);
      const resolved = view.resolve(next);
      const st = view.lstat(resolved);
      if (st === undefined) {
        copyUp(parentOf(resolved), view.lstat(parentOf(resolved))!);
        const host = upper + resolved;
        mkdirSync(host, { mode: 0o755 });
        chmodSync(host, 0o755);
        lchownSync(host, createdOwner.uid, createdOwner.gid);
        dirTimes.set(host, createdTime);
        dirTimes.set(upper + parentOf(resolved), createdTime); // a new entry dates its parent
        inUpper.add(resolved);
        plan(resolved, { type: "dir", mode: 0o040755 });
        result.dirs++;
      } else if (st.type !== "dir") {
        throw new CopyError(`${command} failed: cannot create directory ${next}: ${resolved} exists and is not a directory`, { path: next });
      } else copyUp(resolved, st);
      cur = resolved;
    }
  };

  /** Removes what the upper dir holds at a path a file or link will take. */
  const clearUpper = (abs: string): void => {
    jobs.delete(abs);
    try {
      unlinkSync(upper + abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EISDIR" || code === "EPERM") rmSync(upper + abs, { recursive: true, force: true });
      else if (code !== "ENOENT") throw err;
    }
  };

  const ownerOf = (st: SourceStat): Owner =>
    options.owner ?? (options.source.preservesOwnership ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 });
  const modeOf = (st: SourceStat): number => (options.chmod ? options.chmod(st.mode, st.type === "dir") : st.mode & 0o7777);
  const timeOf = (st: SourceStat): number => options.mtime ?? clamp(st.mtimeMs / 1000);
  const hardlinks = new Map<string, string>(); // dev:ino → first in-image path, per COPY

  const destClean = cleanPath(options.dest);
  const destIsDir = options.dest.endsWith("/") || options.dest.endsWith("/.") || destClean === "/";
  // BuildKit runs one copy per source; an empty wildcard copies (and creates) nothing.
  if (options.sources.length > 0) mkdirAll(destIsDir ? destClean : parentOf(destClean));

  for (const s of options.sources) {
    const destResolved = view.resolve(destClean);
    const fiDest = view.lstat(destResolved);
    let target = destResolved;
    if (!s.isDir && fiDest?.type === "dir") target = joinAbs(destResolved, s.name);
    if (s.isDir && fiDest === undefined) mkdirAll(target);
    else mkdirAll(parentOf(target));
    // Creating a file in a directory changes its mtime: BuildKit's layer records that (the kernel
    // does it under its copy), so a file or link copied into an existing directory dates it now
    // (or `mtime`). A directory source's own root keeps its time (fsutil restores it).
    if (!s.isDir) dirTimes.set(upper + parentOf(target), createdTime);

    for (const e of s.entries) {
      const st = e.stat;
      const abs = e.rel === "" ? target : target + "/" + e.rel;
      const existing = view.lstat(abs);
      const host = upper + abs;
      if (st.type === "dir") {
        if (existing !== undefined && existing.type !== "dir") throw new CopyError(`${command} failed: cannot copy to non-directory: ${abs}`, { path: abs });
        if (e.rel === "") {
          copyUp(abs, existing!);
          continue; // the copy root's own metadata is not copied (CopyDirContentsOnly)
        }
        const mode = modeOf(st);
        if (existing === undefined) {
          mkdirSync(host, { mode: 0o700 });
          inUpper.add(abs);
          result.dirs++;
        } else copyUp(abs, existing);
        chmodSync(host, mode);
        const o = ownerOf(st);
        lchownSync(host, o.uid, o.gid);
        dirTimes.set(host, timeOf(st));
        plan(abs, { type: "dir", mode: 0o040000 | mode });
        continue;
      }
      if (existing?.type === "dir") throw new CopyError(`${command} failed: cannot replace to directory ${abs} with file`, { path: abs });
      if (existing !== undefined) clearUpper(abs);
      const o = ownerOf(st);
      if (st.type === "symlink") {
        symlinkSync(e.linkTarget!, host);
        lchownSync(host, o.uid, o.gid);
        const t = timeOf(st);
        lutimesSync(host, t, t);
        plan(abs, { type: "symlink", mode: st.mode, linkTarget: e.linkTarget });
        result.symlinks++;
        continue;
      }
      if (st.type !== "file") {
        makeSpecial(host, st, options.source.label, e.srcRel);
        lchownSync(host, o.uid, o.gid);
        if (st.mode !== 0) chmodSync(host, modeOf(st));
        const t = timeOf(st);
        utimesSync(host, t, t);
        plan(abs, { type: "file", mode: st.mode });
        continue;
      }
      const job: FileJob = {
        src: options.source.hostPath(e.srcRel),
        dst: abs,
        mode: modeOf(st),
        srcMode: st.mode & 0o7777,
        uid: o.uid,
        gid: o.gid,
        mtime: timeOf(st),
        size: st.size,
      };
      if (st.nlink > 1) {
        job.grouped = true;
        const key = `${st.dev}:${st.ino}`;
        const first = hardlinks.get(key);
        if (first !== undefined && first !== abs) job.linkOf = first;
        else hardlinks.set(key, abs);
      }
      jobs.set(abs, job);
      plan(abs, { type: "file", mode: 0o100000 | job.mode });
    }
  }

  // File contents. Per-file promise round trips cost more than the copy of a small file, so
  // small files are read and written with synchronous calls through one buffer (about half the
  // time of fs.copyFile here); big files go through copyFileSync (copy_file_range in the kernel).
  // Big selections are split over worker threads in contiguous shares (a directory's files stay
  // in one thread, so threads rarely contend for one directory's lock).
  const all = [...jobs.values()];
  const links: FileJob[] = [];
  const copies: FileJob[] = [];
  for (const j of all) {
    if (j.linkOf !== undefined && jobs.has(j.linkOf)) links.push(j);
    else copies.push(j);
  }
  const placed = options.contentOf !== undefined ? new Map<string, PlacedFile>() : undefined;
  const rows: CopyRow[] = [];
  let bytes = 0;
  for (const j of copies) {
    const hex = j.grouped === true ? undefined : options.contentOf?.(j.src);
    if (hex !== undefined) {
      const p: PlacedFile = [hex, j.mtime, j.mode, j.uid, j.gid, j.size];
      placed!.set(j.dst, p);
      if (options.reuse !== undefined && samePlacement(options.reuse.placed.get(j.dst), p) && linkFrom(options.reuse.dir + j.dst, upper + j.dst)) {
        result.reused++;
        continue;
      }
    }
    rows.push([j.src, upper + j.dst, j.mode, j.srcMode, j.uid, j.gid, j.mtime, j.size]);
    bytes += j.size;
  }
  if (placed !== undefined) result.placed = placed;
  // Measured on this 2-CPU VM while other builds ran, two threads were slower than one (the
  // journal and directory locks serialize creates), so threads are opt-in.
  const parallelism = Math.max(1, Math.min(options.parallelism ?? 1, availableParallelism() * 2));
  if (parallelism > 1 && rows.length >= 2) {
    const shares: CopyRow[][] = [];
    const per = Math.ceil(rows.length / parallelism);
    for (let i = 0; i < rows.length; i += per) shares.push(rows.slice(i, i + per));
    await Promise.all(shares.map((share) => copyInWorker(share, euid, egid)));
  } else copyRows(rows, euid, egid);
  result.files += copies.length;
  result.bytes += bytes;
  for (const j of links) {
    linkSync(upper + j.linkOf!, upper + j.dst);
    result.hardlinks++;
  }

  // Directory mtimes last (writing into a directory changes its mtime), deepest first.
  const depth = (p: string): number => p.split("/").length;
  for (const [path, mtime] of [...dirTimes].sort((a, b) => depth(b[0]) - depth(a[0]))) utimesSync(path, mtime, mtime);
  return result;
}
