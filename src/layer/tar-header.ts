/**
 * Tar headers for the layers berth diffs, encoded directly (no stream per entry): the bytes
 * tar-stream 3 wrote before (the format of every layer berth made so far, so diff_ids stay the
 * same), with two of its faults mended:
 * - a mode of 0 stays 0 (tar-stream turned it into 0644 or 0755);
 * - owners above 262143 (its 6 octal digits) get PAX `uid`/`gid` records (it wrote 262143).
 * Layout, as tar-stream does it: a ustar header ("ustar\0" "00"), numbers as 6 (11 for size and
 * mtime) octal digits and a space, names over 100 bytes split at a '/' into the 155-byte prefix.
 * An entry that needs PAX (non-ASCII or too long names, long link targets, xattrs, big owners)
 * is a "PaxHeader" header, the records, padding, then the entry's header named "PaxHeader" too
 * (no trailing '/' even for a directory; the records carry the real path). Readers (Docker, containerd, GNU tar) use the records.
 */

export type TarType = "file" | "link" | "symlink" | "character-device" | "block-device" | "directory" | "fifo";

export interface TarEntry {
  /** Directories end in '/'. */
  name: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  size: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extra PAX records (SCHILY.xattr.*), in order; values are raw bytes. */
  pax?: [string, Buffer][];
}

const TYPEFLAG: Record<TarType | "pax-header", number> = {
  file: 0, link: 1, symlink: 2, "character-device": 3, "block-device": 4, directory: 5, fifo: 6, "pax-header": 72,
};
const MAX_OCT6 = 0o777777;
/** The two zero blocks that end an archive. */
export const END_OF_TAR = Buffer.alloc(1024);
const ZERO_BLOCK = Buffer.alloc(512);

/** The zero bytes that pad `size` bytes of content to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % 512;
  return rest === 0 ? ZERO_BLOCK.subarray(0, 0) : ZERO_BLOCK.subarray(0, 512 - rest);
}

/**
 * Writes `val` as `digits` octal digits and a space (7s when it does not fit, as tar-stream
 * did) and returns the bytes' sum for the header checksum. Byte by byte on purpose: a CLI runs
 * this code cold, where number-to-string conversions and a checksum loop over the whole block
 * cost far more a header (figures: docs/architecture-notes.md).
 */
function putOct(buf: Buffer, val: number, digits: number, off: number): number {
  let sum = 0x20;
  buf[off + digits] = 0x20;
  if (val >= 8 ** digits) {
    for (let i = 0; i < digits; i++) buf[off + i] = 0x37;
    return sum + 0x37 * digits;
  }
  for (let i = digits - 1; i >= 0; i--) {
    const c = 0x30 + (val % 8);
    buf[off + i] = c;
    sum += c;
    val = Math.floor(val / 8);
  }
  return sum;
}

/** Writes an ASCII string (callers checked) and returns its bytes' sum. */
function putAscii(buf: Buffer, s: string, off: number): number {
  let sum = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    buf[off + i] = c;
    sum += c;
  }
  return sum;
}

function putSize(buf: Buffer, num: number, off: number): number {
  if (num < 8 ** 11) return putOct(buf, num, 11, off);
  // base-256, as tar-stream (and GNU tar) write sizes of 8 GiB and more
  let sum = 0x80;
  buf[off] = 0x80;
  for (let i = 11; i > 0; i--) {
    buf[off + i] = num & 0xff;
    sum += num & 0xff;
    num = Math.floor(num / 0x100);
  }
  return sum;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** "ustar\0" "00" at 257, summed once. */
const MAGIC = Buffer.from("ustar\u000000", "latin1");
let magicSum = 0;
for (const b of MAGIC) magicSum += b;

/**
 * A ustar header block, or undefined when the name, prefix or link target does not fit (the
 * caller then writes PAX records).
 */
function ustar(h: { name: string; typeflag: number; mode: number; uid: number; gid: number; size: number; mtime: number; linkname?: string; devmajor?: number; devminor?: number }): Buffer | undefined {
  let name = h.name;
  let prefix = "";
  if (!isAscii(name)) return undefined;
  while (name.length > 100) {
    const i = name.indexOf("/");
    if (i === -1) return undefined;
    prefix += prefix ? "/" + name.slice(0, i) : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (prefix.length > 155) return undefined;
  const link = h.linkname ?? "";
  if (Buffer.byteLength(link) > 100) return undefined;
  const buf = Buffer.alloc(512);
  // the checksum counts its own field as eight spaces
  let sum = 8 * 0x20 + putAscii(buf, name, 0);
  sum += putOct(buf, h.mode & 0o7777, 6, 100);
  sum += putOct(buf, h.uid, 6, 108);
  sum += putOct(buf, h.gid, 6, 116);
  sum += putSize(buf, h.size, 124);
  sum += putOct(buf, h.mtime, 11, 136);
  buf[156] = 0x30 + h.typeflag;
  sum += buf[156]!;
  if (link !== "") {
    if (isAscii(link)) sum += putAscii(buf, link, 157);
    else {
      const n = buf.write(link, 157, "utf8");
      for (let i = 157; i < 157 + n; i++) sum += buf[i]!;
    }
  }
  MAGIC.copy(buf, 257);
  sum += magicSum;
  sum += putOct(buf, h.devmajor ?? 0, 6, 329);
  sum += putOct(buf, h.devminor ?? 0, 6, 337);
  if (prefix) sum += putAscii(buf, prefix, 345);
  putOct(buf, sum, 6, 148);
  return buf;
}

/** One PAX record: "<len> <key>=<value>\n", len counting itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, "utf8"), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/**
 * The header blocks of one entry (with its PAX header and records when it needs them); the
 * content and `tarPadding(size)` follow. Symlinks, hard links and directories have size 0.
 */
export function encodeTarHeader(e: TarEntry): Buffer {
  const size = e.type === "file" ? e.size : 0;
  const bigOwner = e.uid > MAX_OCT6 || e.gid > MAX_OCT6;
  const fields = { name: e.name, typeflag: TYPEFLAG[e.type], mode: e.mode, uid: e.uid, gid: e.gid, size, mtime: e.mtime, ...(e.linkname !== undefined ? { linkname: e.linkname } : {}), devmajor: e.devmajor ?? 0, devminor: e.devminor ?? 0 };
  if ((e.pax === undefined || e.pax.length === 0) && !bigOwner) {
    const plain = ustar(fields);
    if (plain !== undefined) return plain;
  }
  const records: Buffer[] = [paxRecord("path", Buffer.from(e.name, "utf8"))];
  if (e.linkname) records.push(paxRecord("linkpath", Buffer.from(e.linkname, "utf8")));
  if (e.uid > MAX_OCT6) records.push(paxRecord("uid", Buffer.from(String(e.uid))));
  if (e.gid > MAX_OCT6) records.push(paxRecord("gid", Buffer.from(String(e.gid))));
  for (const [k, v] of e.pax ?? []) records.push(paxRecord(k, v));
  const body = Buffer.concat(records);
  const named = { ...fields, name: "PaxHeader", ...(e.linkname ? { linkname: "PaxHeader" } : {}) };
  return Buffer.concat([
    ustar({ ...named, typeflag: TYPEFLAG["pax-header"], size: body.length })!,
    body,
    tarPadding(body.length),
    ustar(named)!,
  ]);
}
