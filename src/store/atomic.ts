import { linkSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { open, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

/** fsync a file (its data and inode) or a directory (its entries). */
export async function syncFile(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a directory so that a rename inside it survives a crash. */
export function fsyncDir(dir: string): Promise<void> {
  return syncFile(dir);
}

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/** Writes `data` to a new temp file next to `path` and fsyncs it; returns the temp file's path. */
async function writeDurableTemp(path: string, data: string | Uint8Array): Promise<string> {
  const tmp = tempName(path);
  const fh = await open(tmp, "wx", 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  return tmp;
}

/**
 * Replaces `path` atomically: a temp file next to it, fsync'd, renamed over it, the directory
 * fsync'd. A reader sees the old or the new content, never half of one, even after kill -9.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await (await prepareFileAtomic(path, data)).commit();
}

/** writeFileAtomic in two halves, so that the temp file's fsync can run beside other work. */
export interface PreparedFile {
  /** Renames the durable temp file over the path and fsyncs the directory. */
  commit(): Promise<void>;
  /** Removes the temp file instead. */
  abort(): Promise<void>;
}

/** The first half of writeFileAtomic: the temp file written and fsync'd. */
export async function prepareFileAtomic(path: string, data: string | Uint8Array): Promise<PreparedFile> {
  const tmp = await writeDurableTemp(path, data);
  return {
    commit: async () => {
      try {
        await rename(tmp, path);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      await fsyncDir(dirname(path));
    },
    abort: () => rm(tmp, { force: true }),
  };
}

/**
 * Replaces `path` as writeFileAtomic does (temp file, rename: a reader sees the old or the new
 * content), without fsyncs: for records a crash may lose or leave empty, whose reader takes an
 * unreadable one for a missing one (build cache entries). They reach the disk with the next
 * sync of the file system.
 */
export async function replaceFile(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempName(path);
  try {
    await writeFile(tmp, data, { flag: "wx", mode: 0o644 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Creates `path` with `data` unless it exists (then returns false and leaves it alone): a
 * complete temp file next to it, hard-linked to `path` — link(2) fails with EEXIST instead of
 * replacing, so of several creators exactly one wins, and a kill -9 never leaves half a file.
 * Not durable by itself: a later sync (syncFileSystem) makes it so, off the caller's critical
 * path; until then a power cut may lose it or leave it empty. Synchronous: three quick calls
 * on a build step's path, which must not queue in the thread pool behind earlier fsyncs.
 */
export function createFileLinked(path: string, data: string | Uint8Array): boolean {
  const tmp = tempName(path);
  writeFileSync(tmp, data, { flag: "wx", mode: 0o644 });
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  return true;
}


/**
 * A small record file (refs, image and layer records: JSON of a few KB), read synchronously:
 * fs.promises.readFile is four thread-pool round trips (open, fstat, read, close), which on a
 * busy machine cost more than the read itself, and every `berth run` reads several records.
 */
export function readRecordFile(path: string): Promise<string> {
  try {
    return Promise.resolve(readFileSync(path, "utf8"));
  } catch (err) {
    return Promise.reject(err);
  }
}
