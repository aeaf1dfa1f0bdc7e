import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createHash } from "node:crypto";
import { Writable, type Readable } from "node:stream";
import * as tar from "tar-stream";
import type { Digest } from "../image/digest.js";
import { readXattrsRecursive } from "./native.js";
import { patchTarStreamPax, XATTR_PREFIX } from "./tarpax.js";

/**
 * Diff: a directory of changes (an overlay upper dir) → an OCI layer tar, streamed.
 * - a 0:0 character device (overlay whiteout) becomes an empty `.wh.<name>` file;
 * - a directory with `trusted.overlay.opaque=y` is followed by a `.wh..wh..opq` entry;
 * - modes, numeric owners, mtimes (clamped to sourceDateEpoch), symlinks, hardlinks, devices,
 *   fifos and xattrs (except overlay's own) are kept;
 * - deterministic: entries sorted by name, uname/gname empty, no atime/ctime: the same tree gives
 *   the same bytes, so the tar never needs storing — it can be made again from the directory.
 * Metadata and small files use synchronous fs calls on purpose: a walk is a batch job, and one
 * thread-pool round trip per lstat/open/read/close made the async version 2-3x slower
 * (bench/store.mjs); big files still stream.
 */
export interface DiffOptions {
  /** Clamp every mtime to at most this (seconds since the epoch), as SOURCE_DATE_EPOCH does. */
  sourceDateEpoch?: number;
}

const OVERLAY_XATTR = "trusted.overlay.";
const OPAQUE_XATTR = "trusted.overlay.opaque";
const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
const SMALL_FILE = 256 * 1024;

/** tar-stream's header argument; PAX values are bytes (see tarpax.ts). */
type EntryHeader = Omit<Partial<tar.Header>, "pax"> & { name: string; pax?: Record<string, Buffer> };

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isWhiteoutDevice(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function major(rdev: number): number {
  return Number((BigInt(rdev) >> 8n) & 0xfffn);
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
}

export function diffDirectory(dir: string, opts: DiffOptions = {}, counted?: { contentSize: number }): Readable {
  patchTarStreamPax();
  const pack = tar.pack();
  writeEntries(pack, dir, opts, counted ?? { contentSize: 0 }).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return pack as unknown as Readable;
}

/**
 * `counted.contentSize`: what Docker shows as a layer's size (history, images, inspect): its
 * overlay2 driver sums the sizes of the layer dir's non-directory entries, each inode once
 * (moby pkg/directory.Size) — file contents and symlink target lengths, not tar headers.
 */
async function writeEntries(pack: tar.Pack, root: string, opts: DiffOptions, counted: { contentSize: number }): Promise<void> {
  const xattrs = await readXattrsRecursive(root);
  const epoch = opts.sourceDateEpoch;
  const mtimeOf = (st: Stats): Date => {
    const s = Math.floor(st.mtimeMs / 1000);
    return new Date((epoch !== undefined && s > epoch ? epoch : s) * 1000);
  };
  const links = new Map<string, string>(); // "dev:ino" -> first path in the tar

  const add = async (header: EntryHeader, abs: string | undefined, body?: Buffer, own?: Map<string, Buffer>): Promise<void> => {
    const pax: Record<string, Buffer> = {};
    let hasPax = false;
    for (const [k, v] of [...(own ?? [])].sort(([a], [b]) => byName(a, b))) {
      if (k.startsWith(OVERLAY_XATTR)) continue;
      pax[XATTR_PREFIX + k] = v;
      hasPax = true;
    }
    if (hasPax) header = { ...header, pax };
    if (abs !== undefined && header.size !== undefined && header.size > SMALL_FILE) {
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry(header as tar.Header, (err) => (err ? reject(err) : resolve()));
        pipeline(createReadStream(abs), sink as unknown as Writable).catch(reject);
      });
    } else {
      await entry(pack, header, body ?? (abs !== undefined && header.size ? readFileSync(abs) : Buffer.alloc(0)));
    }
  };

  const walk = async (absDir: string, rel: string): Promise<void> => {
    const names = readdirSync(absDir).sort(byName);
    for (const name of names) {
      const abs = join(absDir, name);
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const st = lstatSync(abs);
      if (!st.isDirectory() && st.size > 0 && (st.nlink < 2 || !links.has(`${st.dev}:${st.ino}`))) counted.contentSize += st.size;
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: mtimeOf(st), uname: "", gname: "" };
      const own = xattrs.get(abs);
      if (isWhiteoutDevice(st)) {
        const wh = rel === "" ? WHITEOUT_PREFIX + name : `${rel}/${WHITEOUT_PREFIX}${name}`;
        await add({ ...base, name: wh, type: "file", size: 0, mode: 0 }, undefined, Buffer.alloc(0));
      } else if (st.isDirectory()) {
        await add({ ...base, name: `${relPath}/`, type: "directory", size: 0 }, undefined, undefined, own);
        if (own?.get(OPAQUE_XATTR)?.toString() === "y") {
          await add({ ...base, name: `${relPath}/${OPAQUE_MARKER}`, type: "file", size: 0, mode: 0 }, undefined, Buffer.alloc(0));
        }
        await walk(abs, relPath);
      } else if (st.isSymbolicLink()) {
        await add({ ...base, name: relPath, type: "symlink", size: 0, linkname: readlinkSync(abs) }, undefined, undefined, own);
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          await add({ ...base, name: relPath, type: "link", size: 0, linkname: first }, undefined, undefined, own);
        } else {
          if (st.nlink > 1) links.set(key, relPath);
          await add({ ...base, name: relPath, type: "file", size: st.size }, abs, undefined, own);
        }
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        await add({ ...base, name: relPath, type: st.isCharacterDevice() ? "character-device" : "block-device", size: 0, devmajor: major(st.rdev), devminor: minor(st.rdev) }, undefined, undefined, own);
      } else if (st.isFIFO()) {
        await add({ ...base, name: relPath, type: "fifo", size: 0 }, undefined, undefined, own);
      }
      // sockets are not representable in tar; Docker skips them too
    }
  };
  await walk(root, "");
}

/** Writes one entry and waits until the pack has taken it (backpressure). */
function entry(pack: tar.Pack, header: EntryHeader, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = pack.entry(header as tar.Header, (err) => (err ? reject(err) : resolve()));
    // link and symlink sinks refuse even an empty write
    if (body.length > 0) sink.end(body);
    else (sink as unknown as { end(): void }).end();
  });
}

/** Digest and size of the tar a directory diffs to, without keeping the bytes. */
export async function digestDirectory(dir: string, opts: DiffOptions = {}): Promise<{ diffId: Digest; size: number; contentSize: number }> {
  const hash = createHash("sha256");
  let size = 0;
  const counted = { contentSize: 0 };
  await pipeline(
    diffDirectory(dir, opts, counted),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb();
      },
    }),
  );
  return { diffId: `sha256:${hash.digest("hex")}` as Digest, size, contentSize: counted.contentSize };
}
