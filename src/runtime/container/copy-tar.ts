import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from "node:fs";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import * as tar from "tar-stream";
import { RuntimeError } from "../errors.js";
import { at, lstatAt, openDirInRoot, openInRoot, openParentInRoot } from "../in-root.js";

/**
 * The tar streams of `berth cp` (Docker's cp is tar in both directions): a tree read from a
 * root and an archive written into one, every path resolved with runtime/in-root.ts. Reading
 * never follows a symlink below the source (entries are opened with O_NOFOLLOW relative to
 * their directory's fd); writing resolves each entry's parent inside the root (symlinks as the
 * container sees them) and makes the entry itself without following what is there.
 */

// O_PATH (Linux): an fd that names an inode without opening it, for chmod/chown through
// /proc/self/fd of entries that must not be opened (devices, fifos); absent from fs.constants
const O_PATH = 0o10000000;
const CHUNK = 256 * 1024;

/** What `packTree` starts from: an open fd (followed source), or a symlink named in its directory. */
export type PackRoot = { fd: number; stat: Stats } | { dirFd: number; name: string; stat: Stats };

function major(rdev: number): number {
  return Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
}
function minor(rdev: number): number {
  return Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);
}

type HeaderArgument = Partial<tar.Header> & { name: string };

function headerOf(name: string, st: Stats): HeaderArgument {
  return { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
}

/**
 * A tar of the tree at `root`, its top entry named `name` ("." for a directory's content).
 * Returned at once; errors end the stream with an error.
 */
export function packTree(root: PackRoot, name: string, options: { omitTop?: boolean } = {}): Readable {
  const pack = tar.pack();
  const hardlinks = new Map<string, string>();

  const packFile = async (entryName: string, fd: number, st: Stats): Promise<void> => {
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = hardlinks.get(key);
      if (first !== undefined) {
        pack.entry({ ...headerOf(entryName, st), type: "link", linkname: first });
        return;
      }
      hardlinks.set(key, entryName);
    }
    // tar-stream's entries are streamx writables: write() returns false to ask for 'drain', and
    // the entry's callback says when its bytes are in the pack
    let entryDone: (err?: Error | null) => void = () => undefined;
    const done = new Promise<void>((resolve, reject) => (entryDone = (err) => (err ? reject(err) : resolve())));
    const entry = pack.entry({ ...headerOf(entryName, st), type: "file", size: st.size }, (err) => entryDone(err));
    const put = async (chunk: Buffer) => {
      if (!entry.write(chunk)) await new Promise<void>((resolve) => entry.once("drain", () => resolve()));
    };
    // a file that shrinks while it is read (a running container) is padded: the header is out
    let offset = 0;
    while (offset < st.size) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, st.size - offset));
      // synchronous: a read into the page cache's copy costs less than a thread-pool round trip
      const bytesRead = readSync(fd, buf, 0, buf.length, offset);
      if (bytesRead === 0) break;
      await put(buf.subarray(0, bytesRead));
      offset += bytesRead;
    }
    if (offset < st.size) await put(Buffer.alloc(st.size - offset));
    (entry as unknown as { end(): void }).end();
    await done;
  };

  const packAt = async (dirFd: number, child: string, entryName: string): Promise<void> => {
    const st = lstatAt(dirFd, child);
    if (st === undefined) return; // gone meanwhile
    if (st.isSymbolicLink()) {
      pack.entry({ ...headerOf(entryName, st), type: "symlink", linkname: readlinkSync(at(dirFd, child)) });
    } else if (st.isDirectory() || st.isFile()) {
      let fd: number;
      try {
        fd = openSync(at(dirFd, child), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | (st.isDirectory() ? constants.O_DIRECTORY : 0));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ELOOP" || code === "ENOTDIR") return; // replaced meanwhile: skipped, never followed
        throw err;
      }
      try {
        await packOpen(fd, fstatSync(fd), entryName);
      } finally {
        closeSync(fd);
      }
    } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
      const type = st.isFIFO() ? "fifo" : st.isCharacterDevice() ? "character-device" : "block-device";
      pack.entry({ ...headerOf(entryName, st), type, devmajor: major(st.rdev), devminor: minor(st.rdev) });
    }
    // sockets are not archived (as Docker's tar)
  };

  const packOpen = async (fd: number, st: Stats, entryName: string): Promise<void> => {
    if (st.isDirectory()) {
      // a directory's own entry, but for the top one of an export (Docker's archives of a root have none)
      if (options.omitTop !== true || entryName !== ".") pack.entry({ ...headerOf(entryName, st), type: "directory" });
      const names = readdirSync(at(fd, ".")).sort();
      for (const child of names) await packAt(fd, child, entryName === "." ? child : `${entryName}/${child}`);
    } else if (st.isFile()) await packFile(entryName, fd, st);
  };

  void (async () => {
    if ("fd" in root) await packOpen(root.fd, root.stat, name);
    else await packAt(root.dirFd, root.name, name);
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}

export interface ExtractOptions {
  /** Docker's cp into a container: a directory never replaces a file, nor a file a directory. */
  noOverwriteDirNonDir: boolean;
}

/** An entry's name as a clean relative path, or undefined when it climbs out of the destination. */
function entryPath(name: string): string | undefined {
  const clean = posix.normalize(`./${name}`).replace(/\/+$/, "");
  if (clean === ".." || clean.startsWith("../")) return undefined;
  return clean === "" ? "." : clean;
}

/** chmod and chown of an entry that is no symlink, through an O_PATH fd (never a path that could be swapped). */
function ownAndMode(dirFd: number, name: string, header: HeaderArgument): void {
  const fd = openSync(at(dirFd, name), O_PATH | constants.O_NOFOLLOW);
  try {
    // chown first: it clears set-id bits that the chmod then sets
    chownSync(at(fd, "."), header.uid ?? 0, header.gid ?? 0);
    chmodSync(at(fd, "."), header.mode ?? 0o644);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes the archive into `destPath` (a directory inside the root): entries are made in it,
 * their names relative to it; entries that climb out of it are refused, as Docker refuses them.
 */
export async function extractInto(rootFd: number, destPath: string, archive: Readable, opts: ExtractOptions): Promise<void> {
  const dirTimes: { path: string; header: HeaderArgument }[] = [];
  const extract = tar.extract();
  archive.once("error", (err) => extract.destroy(err));
  archive.pipe(extract);
  for await (const entry of extract) {
    const header = entry.header;
    const rel = entryPath(header.name);
    if (rel === undefined) throw new RuntimeError(`invalid archive: entry ${JSON.stringify(header.name)} is outside the destination ${destPath}`);
    if (rel === ".") {
      entry.resume(); // the destination itself is left as it is
      continue;
    }
    const full = posix.join(destPath, rel);
    const { dirFd, name } = openParentInRoot(rootFd, full);
    try {
      const existing = lstatAt(dirFd, name);
      if (header.type === "directory") {
        if (existing !== undefined && !existing.isDirectory()) {
          if (opts.noOverwriteDirNonDir) throw new RuntimeError(`cannot overwrite non-directory "${full}" with directory "${full}"`);
          unlinkSync(at(dirFd, name));
        }
        if (existing === undefined || !existing.isDirectory()) mkdirSync(at(dirFd, name), 0o700);
        ownAndMode(dirFd, name, header);
        dirTimes.push({ path: full, header });
        entry.resume();
        continue;
      }
      if (existing?.isDirectory() === true) {
        if (opts.noOverwriteDirNonDir) throw new RuntimeError(`cannot overwrite directory "${full}" with non-directory "${full}"`);
        rmSync(at(dirFd, name), { recursive: true, force: true });
      } else if (existing !== undefined) unlinkSync(at(dirFd, name));
      const mtime = header.mtime ?? new Date();
      switch (header.type) {
        case "file":
        case "contiguous-file": {
          const fd = openSync(at(dirFd, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          try {
            for await (const chunk of entry as AsyncIterable<Buffer>) {
              let off = 0;
              while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
            }
            futimesSync(fd, mtime, mtime);
          } finally {
            closeSync(fd);
          }
          ownAndMode(dirFd, name, header);
          continue;
        }
        case "symlink":
          symlinkSync(header.linkname ?? "", at(dirFd, name));
          lchownSync(at(dirFd, name), header.uid ?? 0, header.gid ?? 0);
          lutimesSync(at(dirFd, name), mtime, mtime);
          break;
        case "link": {
          const target = entryPath(header.linkname ?? "");
          if (target === undefined) throw new RuntimeError(`invalid archive: hard link ${JSON.stringify(header.name)} points outside the destination`);
          const source = openParentInRoot(rootFd, posix.join(destPath, target));
          try {
            linkSync(at(source.dirFd, source.name), at(dirFd, name));
          } finally {
            closeSync(source.dirFd);
          }
          break;
        }
        case "character-device":
        case "block-device":
        case "fifo": {
          // Node has no mknod: mknod(1) on this process's fd of the directory
          const kind = header.type === "fifo" ? ["p"] : [header.type === "character-device" ? "c" : "b", String(header.devmajor ?? 0), String(header.devminor ?? 0)];
          const r = spawnSync("mknod", [`/proc/${process.pid}/fd/${dirFd}/${name}`, ...kind], { encoding: "utf8" });
          if (r.status !== 0) throw new RuntimeError(`creating ${full}: ${(r.stderr ?? "").trim() || "mknod failed"}`);
          ownAndMode(dirFd, name, header);
          break;
        }
        default:
          break; // other types (pax headers are read by tar-stream) are skipped, as Docker does
      }
      entry.resume();
    } finally {
      closeSync(dirFd);
    }
  }
  // directories' times last: their entries changed them
  for (const { path, header } of dirTimes.reverse()) {
    let fd: number;
    try {
      fd = openInRoot(rootFd, path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch {
      continue;
    }
    const mtime = header.mtime ?? new Date();
    futimesSync(fd, mtime, mtime);
    closeSync(fd);
  }
}

/** A directory inside the root exists and is one (the destination of `cp -`). */
export function isDirInRoot(rootFd: number, path: string): boolean {
  try {
    closeSync(openDirInRoot(rootFd, path));
    return true;
  } catch {
    return false;
  }
}
