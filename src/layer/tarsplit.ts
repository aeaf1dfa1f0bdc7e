import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { LayerError } from "./errors.js";

/**
 * Tar-split: what Docker's graph driver store keeps instead of a layer's tar. A tar is its
 * headers and padding (a few hundred bytes per entry) plus file contents; the contents are in
 * the extracted layer dir already, so keeping "the raw bytes between contents, and which file
 * each content is" is enough to give back the exact original bytes (verified against the
 * diff_id by whoever reads them). A load then writes each layer once instead of twice.
 *
 * Serialized form (gzip'd by the store): "BTS1", then records — `R` u32 length, raw bytes;
 * `F` u32 path length, the path (UTF-8, relative to the layer dir), u48 content size.
 */
const MAGIC = Buffer.from("BTS1");
const PAGE = 1 << 16;

type Segment = { raw: Buffer } | { file: string; size: number };

/**
 * Records a tar while it is applied. The applier reports every byte it consumes, as `raw`
 * (headers, padding, data it does not keep) or as the content of a file it wrote. When the
 * layer cannot be put together again from its dir (a later entry replaces an earlier file)
 * `spill` writes what was recorded so far — read back from the dir, still intact at that
 * moment — into a file, and every later byte goes there too: that file is then the layer blob.
 */
export class TarSplitRecorder {
  private readonly segments: Segment[] = [];
  private page: Buffer = Buffer.allocUnsafe(PAGE);
  private pageFill = 0;
  private spillFd: number | undefined;
  private spilled = false;

  constructor(private readonly dir: string) {}

  /** The recorder stopped recording: its bytes went to the spill file. */
  get isSpilled(): boolean {
    return this.spilled;
  }

  raw(b: Buffer): void {
    if (this.spillFd !== undefined) return writeAll(this.spillFd, b);
    let off = 0;
    while (off < b.length) {
      const n = Math.min(b.length - off, PAGE - this.pageFill);
      b.copy(this.page, this.pageFill, off, off + n);
      this.pageFill += n;
      off += n;
      if (this.pageFill === PAGE) this.flushPage();
    }
  }

  /** A piece of the current file's content (written to the dir by the applier). */
  content(b: Buffer): void {
    if (this.spillFd !== undefined) writeAll(this.spillFd, b);
  }

  /** The content just reported went to `rel` (relative to the dir), `size` bytes. */
  file(rel: string, size: number): void {
    if (this.spillFd !== undefined || size === 0) return;
    this.flushPage();
    this.segments.push({ file: rel, size });
  }

  /** From now on the tar goes to `path` (created), beginning with what was recorded so far. */
  spill(path: string): void {
    if (this.spilled) return;
    this.flushPage();
    const fd = openSync(path, "wx", 0o644);
    this.spillFd = fd;
    this.spilled = true;
    const buf = Buffer.allocUnsafe(1 << 20);
    for (const s of this.segments) {
      if ("raw" in s) {
        writeAll(fd, s.raw);
        continue;
      }
      const src = openSync(join(this.dir, s.file), "r");
      try {
        let left = s.size;
        while (left > 0) {
          const n = readSync(src, buf, 0, Math.min(buf.length, left), null);
          if (n === 0) throw new LayerError(`${s.file}: shorter than its tar entry while the layer was applied`);
          writeAll(fd, buf.subarray(0, n));
          left -= n;
        }
      } finally {
        closeSync(src);
      }
    }
    this.segments.length = 0;
  }

  /** Closes the spill file (if any). */
  close(): void {
    if (this.spillFd !== undefined) closeSync(this.spillFd);
    this.spillFd = undefined;
  }

  /** The serialized record (uncompressed); only when not spilled. */
  serialize(): Buffer {
    if (this.spilled) throw new Error("tar-split recorder spilled");
    this.flushPage();
    const parts: Buffer[] = [MAGIC];
    for (const s of this.segments) {
      if ("raw" in s) {
        const h = Buffer.allocUnsafe(5);
        h[0] = 0x52;
        h.writeUInt32LE(s.raw.length, 1);
        parts.push(h, s.raw);
      } else {
        const p = Buffer.from(s.file, "utf8");
        const h = Buffer.allocUnsafe(5);
        h[0] = 0x46;
        h.writeUInt32LE(p.length, 1);
        const sz = Buffer.allocUnsafe(6);
        sz.writeUIntLE(s.size, 0, 6);
        parts.push(h, p, sz);
      }
    }
    return Buffer.concat(parts);
  }

  private flushPage(): void {
    if (this.pageFill === 0) return;
    // a page of its own (not appended to the last raw segment: that copy would grow with every
    // page of a layer without file contents, quadratically); the page is handed over, not copied
    this.segments.push({ raw: this.pageFill === PAGE ? this.page : this.page.subarray(0, this.pageFill) });
    this.page = Buffer.allocUnsafe(PAGE);
    this.pageFill = 0;
  }
}

function writeAll(fd: number, b: Buffer): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
}

function* parseSegments(split: Buffer): Generator<Segment> {
  if (split.length < 4 || !split.subarray(0, 4).equals(MAGIC)) throw new LayerError("tar-split record: bad magic");
  let i = 4;
  while (i < split.length) {
    const kind = split[i];
    const len = split.readUInt32LE(i + 1);
    i += 5;
    if (kind === 0x52) {
      yield { raw: split.subarray(i, i + len) };
      i += len;
    } else if (kind === 0x46) {
      const file = split.toString("utf8", i, i + len);
      i += len;
      yield { file, size: split.readUIntLE(i, 6) };
      i += 6;
    } else {
      throw new LayerError(`tar-split record: unknown record type ${kind} at ${i - 5}`);
    }
  }
}

/**
 * The layer's tar made again from a tar-split record and its layer dir. File contents are read
 * synchronously into 1 MB chunks, raw bytes copied in between: one push per megabyte, not one
 * per header and file (40,000 small chunks through every stream stage of a save), and no
 * thread-pool round trips per file. The caller verifies the digest (a changed dir gives other bytes).
 */
export function reassembleTar(split: Buffer, dir: string): Readable {
  const segments = parseSegments(split);
  let cur: { fd: number; left: number; file: string } | undefined;
  let raw: Buffer | undefined; // what is left of the current raw segment
  const CHUNK = 1 << 20;
  const closeCur = (): void => {
    if (cur !== undefined) closeSync(cur.fd);
    cur = undefined;
  };
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      try {
        const out = Buffer.allocUnsafe(CHUNK);
        let fill = 0;
        while (fill < CHUNK) {
          if (raw !== undefined) {
            const n = Math.min(raw.length, CHUNK - fill);
            raw.copy(out, fill, 0, n);
            fill += n;
            raw = n === raw.length ? undefined : raw.subarray(n);
            continue;
          }
          if (cur !== undefined) {
            const want = Math.min(cur.left, CHUNK - fill);
            const n = readSync(cur.fd, out, fill, want, null);
            if (n === 0) throw new LayerError(`layer dir ${dir}: ${cur.file} is shorter than the layer's tar says (the layer dir was changed)`);
            fill += n;
            cur.left -= n;
            if (cur.left === 0) closeCur();
            continue;
          }
          const next = segments.next();
          if (next.done) break;
          const s = next.value;
          if ("raw" in s) {
            raw = s.raw;
          } else {
            try {
              cur = { fd: openSync(join(dir, s.file), "r"), left: s.size, file: s.file };
            } catch (err) {
              throw new LayerError(`layer dir ${dir}: cannot read ${s.file} (${(err as Error).message})`);
            }
          }
        }
        if (fill > 0) this.push(fill === CHUNK ? out : out.subarray(0, fill));
        if (fill < CHUNK) this.push(null);
      } catch (err) {
        closeCur();
        this.destroy(err as Error);
      }
    },
    destroy(err, cb) {
      closeCur();
      cb(err);
    },
  });
}
