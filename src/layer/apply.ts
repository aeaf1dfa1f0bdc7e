import {
  chmodSync, closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, rmSync,
  symlinkSync, utimesSync, writeSync, type Stats,
} from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { LayerError } from "./errors.js";
import { mknodBatch, type NodeSpec } from "../sys/mknod.js";
import { overlayOpaqueXattr } from "../sys/overlay-xattr.js";
import { setXattrsBatch } from "../sys/xattr.js";
import { XATTR_PREFIX } from "./tarpax.js";
import { TarSplitRecorder } from "./tarsplit.js";

/**
 * Apply: an uncompressed OCI layer tar → a fresh directory that serves as an overlay lower dir.
 * Safety: every entry is confined to the target — `..` components are refused, leading `/` is
 * stripped (as tar does), nothing is written through a symlink (a parent that is a symlink is
 * refused), hard links must name an earlier entry inside the layer. Whiteouts become overlay
 * whiteouts (0:0 char devices, opaque xattr) so overlay hides the lower layers' files.
 * Device nodes only when applying as root (as rootless Docker, others are skipped); owners
 * only as root; setuid/setgid bits are re-applied after chown (which clears them).
 *
 * The tar is parsed here, chunk by chunk, and file contents are written straight from the input
 * chunks with synchronous calls on an open fd (owner, mode and times through the fd too, as GNU
 * tar does): the profile of a 20,000-file load showed tar-stream's per-entry streams, promises
 * and path-based chown/chmod/utimes as the larger part of the main thread's time.
 */
export interface ApplyOptions {
  /** Apply owners, device nodes and trusted.* xattrs; default: running as uid 0. */
  asRoot?: boolean;
  /** Name used in error messages (the archive or layer). */
  source?: string;
  /** Sees every input chunk (to hash the tar while it is applied). */
  tap?: (chunk: Buffer) => void;
  /**
   * Record a tar-split (see tarsplit.ts) instead of needing the tar kept; when the tar cannot
   * be put together again from the dir, its bytes go to `split.spillFile` (which becomes the blob).
   */
  split?: { spillFile: string };
}

export interface ApplyResult {
  entries: number;
  skippedDevices: number;
  /** Directories marked opaque (paths relative to the target, no leading '/'). */
  opaque: string[];
  /** Bytes of tar read (the whole input, trailing padding included). */
  bytes: number;
  /** Serialized tar-split record; undefined when not asked for or when the tar went to the spill file. */
  tarSplit?: Buffer;
  /** The tar's bytes are in the spill file. */
  spilled?: boolean;
  /**
   * Docker's size of the layer: the sizes of the dir's non-directory entries, each inode once
   * (moby pkg/directory.Size, what overlay2's ApplyDiff returns) — see diff.ts.
   */
  contentSize: number;
}

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
const WHITEOUT_META_PREFIX = ".wh..wh.";

interface DirMeta { path: string; mode: number; uid: number; gid: number; mtime: number }

type EntryType = "file" | "link" | "symlink" | "character-device" | "block-device" | "directory" | "fifo" | "contiguous-file";

interface Header {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds (PAX mtimes may be fractional). */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  pax: Record<string, string> | undefined;
}

const TYPES: Record<number, EntryType> = {
  0: "file", 0x30: "file", 0x31: "link", 0x32: "symlink", 0x33: "character-device", 0x34: "block-device", 0x35: "directory", 0x36: "fifo", 0x37: "contiguous-file",
};

function cstr(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString("utf8", off, end < 0 || end > off + len ? off + len : end);
}

function octal(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    // base-256 (GNU/star): big values and negative mtimes
    let v = b[off] === 0xff ? -1 : b[off]! & 0x3f;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  let i = off;
  const end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
  }
  return v;
}

function checksumOk(b: Buffer): boolean | undefined {
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += b[i]!;
  for (let i = 156; i < 512; i++) sum += b[i]!;
  if (sum === 8 * 32) return undefined; // an all-zero block: end-of-archive marker
  return sum === octal(b, 148, 8);
}

/** PAX records; xattr values kept byte for byte as latin1 strings (see tarpax.ts). */
function parsePax(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < buf.length) {
    const sp = buf.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(buf.toString("latin1", i, sp), 10);
    if (!len || i + len > buf.length) break;
    const rec = buf.subarray(sp + 1, i + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) break;
    const key = rec.toString("utf8", 0, eq);
    out[key] = rec.toString(key.startsWith(XATTR_PREFIX) ? "latin1" : "utf8", eq + 1);
    i += len;
  }
  return out;
}

function writeAll(fd: number, b: Buffer): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
}

export async function applyLayer(tarStream: Readable, target: string, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const asRoot = opts.asRoot ?? process.getuid?.() === 0;
  const source = opts.source ?? "layer";
  const knownDirs = new Set<string>([""]);
  const dirMeta = new Map<string, DirMeta>();
  const nodes: NodeSpec[] = [];
  const xattrs: { path: string; name: string; value: Buffer }[] = [];
  const result: ApplyResult = { entries: 0, skippedDevices: 0, bytes: 0, contentSize: 0, opaque: [] };
  // counted from the headers; a tar that replaces what it wrote earlier is measured on disk at the end
  let replaced = false;
  const recorder = opts.split !== undefined ? new TarSplitRecorder(target) : undefined;
  const umask = process.umask();

  // In a fresh target only what this layer created can exist: skip the lstat for the rest.
  const fresh = readdirSync(target).length === 0;
  const created = new Set<string>();
  const lstatMaybe = (rel: string): Stats | undefined => {
    if (fresh && !created.has(rel)) return undefined;
    try {
      return lstatSync(join(target, rel));
    } catch {
      return undefined;
    }
  };

  const fail = (name: string, why: string): never => {
    throw new LayerError(`${source}: entry ${JSON.stringify(name)}: ${why}`);
  };

  /** Tar name → components inside the target; refuses escapes. */
  const components = (raw: string): string[] => {
    const parts = raw.split("/").filter((c) => c !== "" && c !== ".");
    if (parts.includes("..")) fail(raw, "path escapes the layer root (contains \"..\")");
    return parts;
  };

  /** Makes sure every parent is a real directory inside target (never a symlink). */
  const ensureParents = (parts: string[], raw: string): void => {
    let rel = "";
    for (const c of parts) {
      rel = rel === "" ? c : `${rel}/${c}`;
      if (knownDirs.has(rel)) continue;
      const st = lstatMaybe(rel);
      if (st === undefined) {
        mkdirSync(join(target, rel), { mode: 0o755 });
        created.add(rel);
      } else if (st.isSymbolicLink()) {
        fail(raw, `path goes through the symbolic link ${JSON.stringify(rel)}`);
      } else if (!st.isDirectory()) {
        fail(raw, `parent ${JSON.stringify(rel)} is not a directory`);
      }
      knownDirs.add(rel);
    }
  };

  /** Removes what is at rel unless both are directories; returns whether a directory stays. */
  const clear = (rel: string, keepDir: boolean): boolean => {
    const st = lstatMaybe(rel);
    if (st === undefined) return false;
    if (keepDir && st.isDirectory()) return true;
    // what this layer wrote earlier is about to go: its tar can no longer be made from the dir
    if (recorder !== undefined && !recorder.isSpilled) recorder.spill(opts.split!.spillFile);
    replaced = true;
    rmSync(join(target, rel), { recursive: true, force: true });
    if (st.isDirectory()) for (const d of [...knownDirs]) if (d === rel || d.startsWith(`${rel}/`)) knownDirs.delete(d);
    return false;
  };

  const collectXattrs = (abs: string, h: Header): void => {
    const pax = h.pax;
    if (!pax) return;
    for (const [k, v] of Object.entries(pax)) {
      if (!k.startsWith(XATTR_PREFIX)) continue;
      const name = k.slice(XATTR_PREFIX.length);
      if (!asRoot && !name.startsWith("user.")) continue;
      xattrs.push({ path: abs, name, value: Buffer.from(v, "latin1") });
    }
  };

  // the regular file being written: its data follows the header
  let file: { fd: number; rel: string; abs: string; h: Header } | undefined;

  /** Handles a header; returns the fd for the data that follows, if it is a file's. */
  const handle = (h: Header): void => {
    result.entries++;
    const parts = components(h.name.replace(/^\/+/, ""));
    if (parts.length === 0) return; // the layer root itself: its metadata belongs to the target dir
    const base = parts[parts.length - 1]!;
    const parentParts = parts.slice(0, -1);
    ensureParents(parentParts, h.name);
    const parentRel = parentParts.join("/");
    const rel = parts.join("/");
    const abs = join(target, rel);

    if (base.startsWith(WHITEOUT_PREFIX)) {
      if (base === OPAQUE_MARKER) {
        xattrs.push({ path: join(target, parentRel), name: overlayOpaqueXattr(), value: Buffer.from("y") });
      } else if (!base.startsWith(WHITEOUT_META_PREFIX)) {
        const hidden = base.slice(WHITEOUT_PREFIX.length);
        if (hidden === "" || hidden === "." || hidden === "..") fail(h.name, "invalid whiteout name");
        const hiddenRel = parentRel === "" ? hidden : `${parentRel}/${hidden}`;
        clear(hiddenRel, false);
        created.add(hiddenRel);
        nodes.push({ path: join(target, hiddenRel), type: "c", major: 0, minor: 0, mode: 0, uid: 0, gid: 0, mtime: h.mtime });
      }
      return; // .wh..wh.plnk and other aufs metadata: ignored, as Docker does
    }

    switch (h.type) {
      case "directory": {
        if (!clear(rel, true)) mkdirSync(abs, { mode: 0o700 });
        created.add(rel);
        knownDirs.add(rel);
        dirMeta.set(rel, { path: abs, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, mtime: h.mtime });
        collectXattrs(abs, h);
        return;
      }
      case "file":
      case "contiguous-file": {
        clear(rel, false);
        // created with its mode when the umask lets it through; chown clears set-id bits
        const mode = h.mode & 0o7777;
        const fd = openSync(abs, "wx", mode & 0o777);
        created.add(rel);
        result.contentSize += h.size;
        file = { fd, rel, abs, h };
        // a file its owner cannot read cannot be read back by a non-root store: keep the tar
        if (recorder !== undefined && !asRoot && !(mode & 0o400) && h.size > 0) recorder.spill(opts.split!.spillFile);
        return;
      }
      case "symlink": {
        clear(rel, false);
        symlinkSync(h.linkname, abs);
        created.add(rel);
        result.contentSize += Buffer.byteLength(h.linkname);
        if (asRoot) lchownSync(abs, h.uid, h.gid);
        lutimesSync(abs, h.mtime, h.mtime);
        collectXattrs(abs, h);
        return;
      }
      case "link": {
        const targetParts = components(h.linkname.replace(/^\/+/, ""));
        if (targetParts.length === 0) fail(h.name, "hard link to the layer root");
        ensureParents(targetParts.slice(0, -1), h.name);
        const from = join(target, ...targetParts);
        const st = lstatMaybe(targetParts.join("/"));
        if (st === undefined) fail(h.name, `hard link target ${JSON.stringify(h.linkname)} is not in the layer`);
        if (st!.isDirectory()) fail(h.name, `hard link target ${JSON.stringify(h.linkname)} is a directory`);
        clear(rel, false);
        linkSync(from, abs);
        created.add(rel);
        return;
      }
      case "character-device":
      case "block-device":
      case "fifo": {
        if (h.type !== "fifo" && !asRoot) {
          result.skippedDevices++;
          return;
        }
        clear(rel, false);
        created.add(rel);
        nodes.push({
          path: abs,
          type: h.type === "fifo" ? "p" : h.type === "character-device" ? "c" : "b",
          major: h.devmajor,
          minor: h.devminor,
          mode: h.mode,
          uid: h.uid,
          gid: h.gid,
          mtime: h.mtime,
        });
        return;
      }
    }
  };

  /** The current file's data is complete: owner, mode, times through its fd. */
  const finishFile = (): void => {
    const f = file!;
    file = undefined;
    try {
      const mode = f.h.mode & 0o7777;
      if (asRoot) fchownSync(f.fd, f.h.uid, f.h.gid);
      if (mode & ~0o777 || mode & umask) fchmodSync(f.fd, mode);
      futimesSync(f.fd, f.h.mtime, f.h.mtime);
    } finally {
      closeSync(f.fd);
    }
    collectXattrs(f.abs, f.h);
    recorder?.file(f.rel, f.h.size);
  };

  // ---- the parser: HEADER (512-byte blocks) → DATA (size bytes) → PAD (to 512)
  const block = Buffer.alloc(512);
  let blockFill = 0;
  let state: "header" | "data" | "pad" | "trailer" = "header";
  let left = 0;
  let pad = 0;
  let meta: { kind: "pax" | "gpax" | "longname" | "longlink"; chunks: Buffer[] } | undefined;
  let paxGlobal: Record<string, string> = {};
  let pending: { pax?: Record<string, string>; longname?: string; longlink?: string } = {};

  let zeroBlocks = 0;
  const onBlock = (b: Buffer): void => {
    recorder?.raw(b);
    const ok = checksumOk(b);
    if (ok === undefined) {
      // two zero blocks end the archive (as Go's archive/tar reads it): what follows is kept
      // and hashed, not parsed; a lone zero block is skipped, as tar-stream did
      if (++zeroBlocks === 2) state = "trailer";
      return;
    }
    zeroBlocks = 0;
    if (!ok) throw new Error("Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?");
    const flag = b[156]!;
    const size = octal(b, 124, 12);
    const ustar = b.toString("latin1", 257, 262) === "ustar";
    let name = cstr(b, 0, 100);
    if (ustar && b.toString("latin1", 257, 263) === "ustar\0" && b[345] !== 0) name = `${cstr(b, 345, 155)}/${name}`;
    if (flag === 0x78 || flag === 0x67 || flag === 0x4c || flag === 0x4b) {
      meta = { kind: flag === 0x78 ? "pax" : flag === 0x67 ? "gpax" : flag === 0x4c ? "longname" : "longlink", chunks: [] };
      startData(size);
      return;
    }
    let type = TYPES[flag];
    if (type === undefined) throw new LayerError(`${source}: entry ${JSON.stringify(name)}: unsupported entry type ${JSON.stringify(String.fromCharCode(flag))}`);
    if (flag === 0 && name.endsWith("/")) type = "directory";
    const pax = pending.pax === undefined ? (Object.keys(paxGlobal).length > 0 ? { ...paxGlobal } : undefined) : { ...paxGlobal, ...pending.pax };
    const h: Header = {
      name,
      type,
      mode: octal(b, 100, 8),
      uid: octal(b, 108, 8),
      gid: octal(b, 116, 8),
      size,
      mtime: octal(b, 136, 12),
      linkname: cstr(b, 157, 100),
      devmajor: octal(b, 329, 8),
      devminor: octal(b, 337, 8),
      pax,
    };
    if (pending.longname !== undefined) h.name = pending.longname;
    if (pending.longlink !== undefined) h.linkname = pending.longlink;
    if (pax !== undefined) {
      if (pax.path !== undefined) h.name = pax.path;
      if (pax.linkpath !== undefined) h.linkname = pax.linkpath;
      if (pax.size !== undefined) h.size = parseInt(pax.size, 10);
      if (pax.uid !== undefined) h.uid = parseInt(pax.uid, 10);
      if (pax.gid !== undefined) h.gid = parseInt(pax.gid, 10);
      if (pax.mtime !== undefined && Number.isFinite(Number(pax.mtime))) h.mtime = Number(pax.mtime);
    }
    pending = {};
    handle(h);
    startData(h.size);
  };

  const startData = (size: number): void => {
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`invalid entry size ${size}`);
    left = size;
    pad = (512 - (size % 512)) % 512;
    state = size > 0 ? "data" : pad > 0 ? "pad" : "header";
    if (size === 0) endData();
  };

  const endData = (): void => {
    if (file !== undefined) finishFile();
    if (meta !== undefined) {
      const buf = Buffer.concat(meta.chunks);
      if (meta.kind === "pax") pending.pax = parsePax(buf);
      else if (meta.kind === "gpax") paxGlobal = parsePax(buf);
      else if (meta.kind === "longname") pending.longname = cstr(buf, 0, buf.length);
      else pending.longlink = cstr(buf, 0, buf.length);
      meta = undefined;
    }
  };

  const push = (chunk: Buffer): void => {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (state === "trailer") {
        recorder?.raw(i === 0 ? chunk : chunk.subarray(i));
        return;
      }
      if (state === "header") {
        if (blockFill === 0 && n - i >= 512) {
          const b = chunk.subarray(i, i + 512);
          i += 512;
          onBlock(b);
        } else {
          const k = Math.min(512 - blockFill, n - i);
          chunk.copy(block, blockFill, i, i + k);
          blockFill += k;
          i += k;
          if (blockFill === 512) {
            blockFill = 0;
            onBlock(block);
          }
        }
      } else if (state === "data") {
        const k = Math.min(left, n - i);
        const piece = chunk.subarray(i, i + k);
        i += k;
        left -= k;
        if (file !== undefined) {
          writeAll(file.fd, piece);
          recorder?.content(piece);
        } else {
          if (meta !== undefined) meta.chunks.push(Buffer.from(piece));
          recorder?.raw(piece);
        }
        if (left === 0) {
          endData();
          state = pad > 0 ? "pad" : "header";
        }
      } else {
        const k = Math.min(pad, n - i);
        recorder?.raw(chunk.subarray(i, i + k));
        i += k;
        pad -= k;
        if (pad === 0) state = "header";
      }
    }
  };

  try {
    try {
      for await (const chunk of tarStream) {
        const c = chunk as Buffer;
        opts.tap?.(c);
        result.bytes += c.length;
        push(c);
      }
      if ((state !== "header" && state !== "trailer") || blockFill !== 0) throw new Error("Unexpected end of data");
      if (meta !== undefined) throw new Error("Unexpected end of data");
    } finally {
      if (file !== undefined) closeSync(file.fd);
      file = undefined;
      recorder?.close();
    }
  } catch (err) {
    if (err instanceof LayerError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw new LayerError(`${source}: not a valid tar archive (${msg})`, { cause: err });
  }

  await mknodBatch(nodes, { chown: asRoot });
  await setXattrsBatch(xattrs, !asRoot);
  const prefix = target.endsWith("/") ? target : `${target}/`;
  for (const x of xattrs) {
    if (x.name !== overlayOpaqueXattr() || x.value.toString() !== "y" || !asRoot) continue;
    const rel = x.path === target ? "" : x.path.startsWith(prefix) ? x.path.slice(prefix.length) : undefined;
    // a later entry of the same tar may have replaced the directory
    if (rel !== undefined && rel !== "" && lstatMaybe(rel)?.isDirectory() === true) result.opaque.push(rel);
  }
  // directories last, deepest first: creating their children changed their mtimes
  for (const d of [...dirMeta.values()].sort((a, b) => (a.path < b.path ? 1 : -1))) {
    if (asRoot) lchownSync(d.path, d.uid, d.gid);
    chmodSync(d.path, d.mode);
    utimesSync(d.path, d.mtime, d.mtime);
  }
  if (replaced || !fresh) result.contentSize = contentSizeOf(target);
  if (recorder !== undefined) {
    if (recorder.isSpilled) result.spilled = true;
    else result.tarSplit = recorder.serialize();
  }
  return result;
}

/** moby's pkg/directory.Size: non-directory entries' sizes, each inode once. */
export function contentSizeOf(dir: string): number {
  const seen = new Set<number>();
  let total = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        walk(p);
        continue;
      }
      const st = lstatSync(p);
      if (st.size === 0 || seen.has(st.ino)) continue;
      seen.add(st.ino);
      total += st.size;
    }
  };
  walk(dir);
  return total;
}
