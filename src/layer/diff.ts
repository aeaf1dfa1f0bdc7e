import { closeSync, constants, openSync, readdirSync, readlinkSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { Digest } from "../image/digest.js";
import { LayerError } from "./errors.js";
import { xattrReader, type XattrMap } from "../sys/xattr.js";
import { isOverlayXattr, overlayOpaqueXattrs } from "../sys/overlay-xattr.js";
import { isBlockDevice, isCharDevice, isDir, isFifo, isFile, isSymlink, lstatLite, type LiteStat } from "../sys/lstat.js";
import { END_OF_TAR, encodeTarHeader, tarPadding, type TarEntry } from "./tar-header.js";
import { XATTR_PREFIX } from "./tarpax.js";

/**
 * Diff: a directory of changes (an overlay upper dir) → an OCI layer tar.
 * - a 0:0 character device (overlay whiteout) becomes an empty `.wh.<name>` file;
 * - a directory with `trusted.overlay.opaque=y` (user.overlay.opaque rootless) is followed by a
 *   `.wh..wh..opq` entry; fuse-overlayfs marks one with user.fuseoverlayfs.opaque or a
 *   `.wh..wh..opq` file in it (beside a whiteout `.wh..opq`), which are marks, not content;
 * - modes, numeric owners, mtimes (clamped to sourceDateEpoch), symlinks, hardlinks, devices,
 *   fifos and xattrs (except overlay's own) are kept;
 * - deterministic: entries sorted by name, uname/gname empty, no atime/ctime: the same tree gives
 *   the same bytes, so the tar never needs storing — it can be made again from the directory.
 * One walk serves both uses: `digestDirectory` hashes the bytes as they are made (a build step's
 * commit), `diffDirectory` streams them (save, push). Headers are encoded directly
 * (tar-header.ts) and metadata and small files read with synchronous calls: a walk is a batch
 * job, and a stream entry plus thread-pool round trips per file made it 2-3x slower; big files
 * are read in chunks, asynchronously.
 */
export interface DiffOptions {
  /** Clamp every mtime to at most this (seconds since the epoch), as SOURCE_DATE_EPOCH does. */
  sourceDateEpoch?: number;
  /**
   * Every xattr of the tree, when the caller knows them (berth wrote the tree itself): no call
   * per path (or getfattr process) to read them. Keys are absolute paths.
   */
  xattrs?: XattrMap;
  /**
   * Give the event loop a turn at least this often (ms): a walk of many small files is one long
   * run of synchronous calls otherwise, and a build that commits a layer while its next step
   * starts (Store.commitDetached) wants that step to go on meanwhile.
   */
  yieldMs?: number;
}

export interface DigestResult {
  diffId: Digest;
  /** Bytes of the tar. */
  size: number;
  /**
   * What Docker shows as the layer's size (history, images, inspect): its overlay2 driver sums
   * the sizes of the layer dir's non-directory entries, each inode once (moby
   * pkg/directory.Size) — file contents and symlink target lengths, not tar headers.
   */
  contentSize: number;
  /** Directories marked opaque (paths relative to the tree, no leading '/'). */
  opaque: string[];
}

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
/** The whiteout fuse-overlayfs makes beside its opaque marker file. */
const FUSE_OPAQUE_WHITEOUT = ".wh..opq";
const SMALL_FILE = 256 * 1024;
const CHUNK = 1024 * 1024;
/** Whiteout files and the opaque marker: 0644, as berth's layers always had them. */
const MARKER_MODE = 0o644;

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isWhiteoutDevice(st: LiteStat): boolean {
  return isCharDevice(st) && st.rdev === 0;
}

function major(rdev: number): number {
  return Number((BigInt(rdev) >> 8n) & 0xfffn);
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
}

/**
 * Reading a file does not need its access time updated: on a journaled file system that is an
 * inode write per fresh file (relatime). Allowed for root and owners; others get EPERM and read without.
 */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOATIME;

/**
 * A small file's bytes: open, one read, close (readFileSync also fstats and may read twice).
 * Into `scratch` when given (the bytes are valid until the next read), else a new buffer.
 */
function readSmallFile(abs: string, size: number, scratch?: Buffer): Buffer {
  let fd: number;
  try {
    fd = openSync(abs, READ_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") throw err;
    fd = openSync(abs, "r");
  }
  try {
    // one byte more than expected: a file that grew shows it
    const buf = scratch !== undefined && scratch.length > size ? scratch : Buffer.allocUnsafe(size + 1);
    const n = readSync(fd, buf, 0, size + 1, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Where the walk puts the tar's bytes; a returned promise is waited for (backpressure). */
type Sink = (chunk: Buffer) => void | Promise<void>;

/**
 * Walks `root` in tar order and hands every byte of its layer tar to `out`; returns the opaque
 * dirs and the content size (DigestResult) it found on the way.
 * `out` sees each chunk once, before the next is made; with `consumesAtOnce` (a hash) file
 * bytes are read into one reused buffer instead of a new one per file: a walk of 20,000 files
 * otherwise left 200 MB of garbage buffers behind it, and the process's peak memory grew by 60 MB.
 */
async function walkTar(root: string, opts: DiffOptions, out: Sink, consumesAtOnce = false): Promise<{ opaque: string[]; contentSize: number }> {
  const found = { opaque: [] as string[], contentSize: 0 };
  const scratch = consumesAtOnce ? Buffer.allocUnsafe(CHUNK + 1) : undefined;
  const known = opts.xattrs;
  const xattrsOf = known !== undefined ? (abs: string) => known.get(abs) : await xattrReader(root);
  const epoch = opts.sourceDateEpoch;
  const mtimeOf = (st: LiteStat): number => {
    const s = Math.floor(st.mtimeMs / 1000);
    return epoch !== undefined && s > epoch ? epoch : s;
  };
  const links = new Map<string, string>(); // "dev:ino" -> first path in the tar
  const emit = async (chunk: Buffer): Promise<void> => {
    const r = out(chunk);
    if (r !== undefined) await r;
  };
  const paxOf = (own: Map<string, Buffer> | undefined): [string, Buffer][] | undefined => {
    if (own === undefined) return undefined;
    const pax: [string, Buffer][] = [];
    for (const [k, v] of [...own].sort(([a], [b]) => byName(a, b))) if (!isOverlayXattr(k)) pax.push([XATTR_PREFIX + k, v]);
    return pax.length > 0 ? pax : undefined;
  };
  const header = (e: Omit<TarEntry, "pax">, own?: Map<string, Buffer>): Promise<void> => {
    const pax = paxOf(own);
    return emit(encodeTarHeader(pax === undefined ? e : { ...e, pax }));
  };

  const fileBody = async (abs: string, size: number, rel: string): Promise<void> => {
    if (size <= SMALL_FILE) {
      const data = readSmallFile(abs, size, scratch);
      if (data.length !== size) throw new LayerError(`${rel}: the file changed size while its layer was made`);
      await emit(data);
    } else {
      const fh = await open(abs, READ_FLAGS).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "EPERM") throw err;
        return open(abs, "r");
      });
      try {
        let done = 0;
        while (done < size) {
          const { bytesRead, buffer } = await fh.read(scratch ?? Buffer.allocUnsafe(Math.min(CHUNK, size - done)), 0, Math.min(CHUNK, size - done), done);
          if (bytesRead === 0) throw new LayerError(`${rel}: the file changed size while its layer was made`);
          done += bytesRead;
          await emit(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
        }
      } finally {
        await fh.close();
      }
    }
    await emit(tarPadding(size));
  };

  const yieldMs = opts.yieldMs;
  let nextYield = yieldMs !== undefined ? performance.now() + yieldMs : Infinity;
  const opaqueXattrs = overlayOpaqueXattrs();
  /** `dir`: the directory's own header fields and whether its attributes mark it opaque (not for the root). */
  const walk = async (absDir: string, rel: string, dir?: { base: Omit<TarEntry, "name" | "type" | "pax">; opaque: boolean }): Promise<void> => {
    const names = readdirSync(absDir).sort(byName);
    if (dir !== undefined && (dir.opaque || names.includes(OPAQUE_MARKER))) {
      found.opaque.push(rel);
      await header({ ...dir.base, name: `${rel}/${OPAQUE_MARKER}`, type: "file", mode: MARKER_MODE });
    }
    for (const name of names) {
      if (name === OPAQUE_MARKER) continue;
      if (performance.now() >= nextYield) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        nextYield = performance.now() + yieldMs!;
      }
      const abs = join(absDir, name);
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const st = lstatLite(abs);
      if (st === undefined) throw new LayerError(`${relPath}: removed while its layer was made`);
      if (!isDir(st) && st.size > 0 && (st.nlink < 2 || !links.has(`${st.dev}:${st.ino}`))) found.contentSize += st.size;
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: mtimeOf(st), size: 0 };
      const own = xattrsOf(abs);
      if (isWhiteoutDevice(st)) {
        if (name === FUSE_OPAQUE_WHITEOUT) continue;
        const wh = rel === "" ? WHITEOUT_PREFIX + name : `${rel}/${WHITEOUT_PREFIX}${name}`;
        await header({ ...base, name: wh, type: "file", mode: MARKER_MODE });
      } else if (isDir(st)) {
        await header({ ...base, name: `${relPath}/`, type: "directory" }, own);
        await walk(abs, relPath, { base, opaque: opaqueXattrs.some((x) => own?.get(x)?.toString() === "y") });
      } else if (isSymlink(st)) {
        await header({ ...base, name: relPath, type: "symlink", linkname: readlinkSync(abs) }, own);
      } else if (isFile(st)) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          await header({ ...base, name: relPath, type: "link", linkname: first }, own);
        } else {
          if (st.nlink > 1) links.set(key, relPath);
          await header({ ...base, name: relPath, type: "file", size: st.size }, own);
          if (st.size > 0) await fileBody(abs, st.size, relPath);
        }
      } else if (isCharDevice(st) || isBlockDevice(st)) {
        await header({ ...base, name: relPath, type: isCharDevice(st) ? "character-device" : "block-device", devmajor: major(st.rdev), devminor: minor(st.rdev) }, own);
      } else if (isFifo(st)) {
        await header({ ...base, name: relPath, type: "fifo" }, own);
      }
      // sockets are not representable in tar; Docker skips them too
    }
  };
  await walk(root, "");
  await emit(END_OF_TAR);
  return found;
}

/** The layer tar of a directory, streamed. */
export function diffDirectory(dir: string, opts: DiffOptions = {}): Readable {
  let wake: (() => void) | undefined;
  const stream = new Readable({
    highWaterMark: CHUNK,
    read() {
      const w = wake;
      wake = undefined;
      w?.();
    },
  });
  // small headers and files are gathered into bigger chunks: fewer, cheaper stream writes
  let batch: Buffer[] = [];
  let batched = 0;
  const flush = (): void | Promise<void> => {
    if (batched === 0) return;
    const full = stream.push(batch.length === 1 ? batch[0] : Buffer.concat(batch, batched));
    batch = [];
    batched = 0;
    if (!full && !stream.destroyed) return new Promise<void>((resolve) => { wake = resolve; });
  };
  const sink: Sink = (chunk) => {
    if (stream.destroyed) throw new LayerError(`${dir}: the layer stream was closed`);
    batch.push(chunk);
    batched += chunk.length;
    if (batched >= 64 * 1024) return flush();
  };
  walkTar(dir, opts, sink).then(
    async () => {
      await flush();
      stream.push(null);
    },
    (err: unknown) => stream.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return stream;
}

/** Digest and size of the tar a directory diffs to, without keeping the bytes; its opaque dirs. */
export async function digestDirectory(dir: string, opts: DiffOptions = {}): Promise<DigestResult> {
  const hash = createHash("sha256");
  let size = 0;
  const { opaque, contentSize } = await walkTar(dir, opts, (chunk) => {
    hash.update(chunk);
    size += chunk.length;
  }, true);
  return { diffId: `sha256:${hash.digest("hex")}` as Digest, size, opaque, contentSize };
}
