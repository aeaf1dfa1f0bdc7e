import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { Digest } from "../image/digest.js";
import { WORKER_LIMITS } from "./worker-limits.js";
import type { ResolvedSource, SelectedEntry } from "./resolve.js";
import type { SourceFs, SourceStat } from "./source-fs.js";
import type { StatCache } from "./stat-cache.js";

export interface ChecksumOptions {
  /** `--chown` as numbers; otherwise 0:0 for the context, source owners for stages/images. */
  owner?: { uid: number; gid: number };
  /** `--chmod` as the writer applies it (full st_mode in, permission bits out). */
  chmod?: (mode: number, isDir: boolean) => number;
  statCache?: StatCache;
  /** Worker threads for hashing big selections (default: the number of CPUs, at most 4). */
  parallelism?: number;
}

export interface EntryChecksum {
  /** Source index and path below the copy root, as it will be written. */
  source: number;
  rel: string;
  /** The entry's record (type, mode, uid, gid, content sha256, link target, hardlink), mtime-free:
   * compare two builds' records to say which file changed. */
  sum: string;
}

export interface SelectionChecksum {
  /** One digest over the whole selection: the COPY step's content input to its cache key. */
  digest: Digest;
  entries: EntryChecksum[];
  /** Files whose content was read (the rest came from the stat cache). */
  hashedFiles: number;
  hashedBytes: number;
  /** Content hash (hex) of each selected file, by host path. */
  contentHash: ReadonlyMap<string, string>;
}

const BUF_SIZE = 1 << 20;

// Hashing is CPU-bound (sha256 ≈ 0.5 GB/s per core here) and each file is small, so files are
// read with synchronous calls (no per-file promise round trips) and, for big selections, split
// over worker threads. The worker source is inline so it runs from dist/ and under vitest alike.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { openSync, readSync, closeSync } = require("node:fs");
const { createHash } = require("node:crypto");
const buf = Buffer.allocUnsafe(${BUF_SIZE});
const out = [];
for (const p of workerData.paths) {
  const h = createHash("sha256");
  const fd = openSync(p, "r");
  try {
    for (;;) { const n = readSync(fd, buf, 0, buf.length, null); if (n === 0) break; h.update(buf.subarray(0, n)); }
  } finally { closeSync(fd); }
  out.push(h.digest("hex"));
}
parentPort.postMessage(out);
`;

function hashFilesSync(paths: readonly string[]): string[] {
  const buf = Buffer.allocUnsafe(BUF_SIZE);
  return paths.map((p) => {
    const h = createHash("sha256");
    const fd = openSync(p, "r");
    try {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
    return h.digest("hex");
  });
}

async function hashFilesInWorker(paths: readonly string[]): Promise<string[]> {
  // loaded here: worker_threads costs every build start-up time, threads only big selections
  const { Worker } = await import("node:worker_threads");
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { paths }, resourceLimits: WORKER_LIMITS });
    w.once("message", (m: string[]) => {
      resolve(m);
      void w.terminate();
    });
    w.once("error", reject);
  });
}

/** Hashes files, in `parallelism` contiguous shares when the selection is big enough to pay for threads. */
async function hashFiles(jobs: readonly { path: string; st: SourceStat }[], parallelism: number): Promise<string[]> {
  const bytes = jobs.reduce((n, j) => n + j.st.size, 0);
  if (parallelism <= 1 || bytes < 64 << 20) return hashFilesSync(jobs.map((j) => j.path));
  // Contiguous shares of equal bytes: files of one directory stay together.
  const shares: string[][] = [];
  let acc = 0;
  let cur: string[] = [];
  for (const j of jobs) {
    cur.push(j.path);
    acc += j.st.size;
    if (acc >= (bytes * (shares.length + 1)) / parallelism && shares.length < parallelism - 1) {
      shares.push(cur);
      cur = [];
    }
  }
  shares.push(cur);
  const results = await Promise.all(shares.map((s) => hashFilesInWorker(s)));
  return results.flat();
}

function typeLetter(st: SourceStat): string {
  return st.type === "file" ? "f" : st.type === "dir" ? "d" : st.type === "symlink" ? "l" : "o";
}

/**
 * Content checksums of a COPY selection, mtimes excluded: for each entry (relative path, type,
 * mode and owner as they will be written, content hash, link target) and one digest over all.
 * Each file is read once (worker threads for big selections); unchanged files come from the stat
 * cache.
 */
export async function checksumSelection(
  fs: SourceFs,
  sources: readonly ResolvedSource[],
  options: ChecksumOptions = {},
): Promise<SelectionChecksum> {
  const cache = options.statCache;
  const contentHash = new Map<string, string>(); // host path → hex
  const toHash: { path: string; st: SourceStat }[] = [];
  const seen = new Set<string>();
  for (const s of sources) {
    for (const e of s.entries) {
      if (e.stat.type !== "file") continue;
      const p = fs.hostPath(e.srcRel);
      if (seen.has(p)) continue;
      seen.add(p);
      const hit = cache?.get(p, e.stat);
      if (hit !== undefined) contentHash.set(p, hit);
      else toHash.push({ path: p, st: e.stat });
    }
  }
  let hashedBytes = 0;
  const parallelism = Math.max(1, options.parallelism ?? Math.min(4, availableParallelism()));
  const hexes = await hashFiles(toHash, parallelism);
  toHash.forEach((job, i) => {
    contentHash.set(job.path, hexes[i]);
    hashedBytes += job.st.size;
    cache?.set(job.path, job.st, hexes[i]);
  });

  const total = createHash("sha256");
  const entries: EntryChecksum[] = [];
  sources.forEach((s, i) => {
    total.update(`source ${i} ${s.isDir ? "dir" : "file"} ${JSON.stringify(s.name)}\n`);
    const firstLink = new Map<string, string>(); // dev:ino → rel, hardlinks inside the selection
    for (const e of s.entries) {
      const sum = entrySum(fs, e, s, options, contentHash, firstLink);
      entries.push({ source: i, rel: e.rel, sum });
      total.update(JSON.stringify(e.rel) + " " + sum + "\n");
    }
  });
  return {
    digest: `sha256:${total.digest("hex")}` as Digest,
    entries,
    hashedFiles: toHash.length,
    hashedBytes,
    contentHash,
  };
}

function entrySum(
  fs: SourceFs,
  e: SelectedEntry,
  s: ResolvedSource,
  options: ChecksumOptions,
  contentHash: Map<string, string>,
  firstLink: Map<string, string>,
): string {
  const st = e.stat;
  const isRootDir = e.rel === "" && s.isDir; // its metadata is not copied
  const uid = options.owner?.uid ?? (fs.preservesOwnership ? st.uid : 0);
  const gid = options.owner?.gid ?? (fs.preservesOwnership ? st.gid : 0);
  let mode = st.mode & 0o7777;
  if (options.chmod && st.type !== "symlink") mode = options.chmod(st.mode, st.type === "dir") & 0o7777;
  let content = "";
  let hardlink = "";
  if (st.type === "file") {
    content = contentHash.get(fs.hostPath(e.srcRel)) ?? "";
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = firstLink.get(key);
      if (first === undefined) firstLink.set(key, e.rel);
      else hardlink = first;
    }
  } else if (st.type === "other") content = `${st.mode & 0o170000}:${st.rdev}`;
  // A plain record rather than a per-entry hash: 20,000 sha256 objects cost more than the line.
  return JSON.stringify([typeLetter(st), isRootDir ? "" : mode.toString(8), isRootDir ? "" : uid, isRootDir ? "" : gid, content, e.linkTarget ?? "", hardlink]);
}

export interface SelectionChange {
  added: string[];
  removed: string[];
  changed: string[];
}

/**
 * Which paths differ between two checksums of a COPY's selection (for `--explain`): keys are
 * "source index:path below the copy root".
 */
export function explainSelectionChange(before: readonly EntryChecksum[], after: readonly EntryChecksum[]): SelectionChange {
  const key = (e: EntryChecksum): string => `${e.source}:${e.rel}`;
  const old = new Map(before.map((e) => [key(e), e.sum]));
  const out: SelectionChange = { added: [], removed: [], changed: [] };
  const seen = new Set<string>();
  for (const e of after) {
    const k = key(e);
    seen.add(k);
    const prev = old.get(k);
    if (prev === undefined) out.added.push(k);
    else if (prev !== e.sum) out.changed.push(k);
  }
  for (const k of old.keys()) if (!seen.has(k)) out.removed.push(k);
  return out;
}
