import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { access, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { digestHex, type Digest } from "../image/digest.js";
import { StoreError } from "./errors.js";
import { fsyncDir, syncFile } from "./atomic.js";
import type { Staging } from "./staging.js";

/**
 * Content-addressed blobs under `<root>/blobs/sha256/<hex>`. Written to a temp file under
 * `<root>/tmp`, fsync'd, checked against the expected digest, then renamed into place: a blob
 * file that exists is complete. Reads are verified too (a flipped bit on disk is an error).
 */
export class BlobStore {
  readonly dir: string;

  constructor(root: string, private readonly staging: Staging) {
    this.dir = join(root, "blobs", "sha256");
  }

  path(d: Digest): string {
    return join(this.dir, digestHex(d));
  }

  tempPath(prefix: string): string {
    return this.staging.path(prefix);
  }

  async has(d: Digest): Promise<boolean> {
    return access(this.path(d)).then(() => true, () => false);
  }

  async put(data: Uint8Array | NodeJS.ReadableStream, expected?: Digest, source = "blob"): Promise<{ digest: Digest; size: number }> {
    const tmp = this.tempPath("blob");
    const hash = createHash("sha256");
    let size = 0;
    try {
      const input = data instanceof Uint8Array ? Readable.from([Buffer.from(data)]) : (data as Readable);
      const counter = new Transform({
        transform(chunk: Buffer, _e, cb: TransformCallback) {
          hash.update(chunk);
          size += chunk.length;
          cb(null, chunk);
        },
      });
      await pipeline(input, counter, createWriteStream(tmp, { flags: "wx", mode: 0o644 }));
      await syncFile(tmp);
      const digest = `sha256:${hash.digest("hex")}` as Digest;
      if (expected !== undefined && digest !== expected) {
        throw new StoreError(`${source}: digest mismatch: expected ${expected}, got ${digest} (${size} bytes)`);
      }
      await this.adopt(tmp, digest);
      return { digest, size };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /**
   * put() for small bytes in two halves, without fsyncs, for a caller that syncs the file
   * system itself between them (Store.addImage): the temp file now — none when the blob exists
   * — and its rename by `publish` once the temp file is durable.
   */
  stage(data: Buffer): { digest: Digest; size: number; publish(): void } {
    const digest = `sha256:${createHash("sha256").update(data).digest("hex")}` as Digest;
    const size = data.length;
    if (existsSync(this.path(digest))) return { digest, size, publish: () => undefined };
    const tmp = this.tempPath("blob");
    writeFileSync(tmp, data, { flag: "wx", mode: 0o644 });
    return { digest, size, publish: () => renameSync(tmp, this.path(digest)) };
  }

  /** Moves a complete, verified temp file into place as blob `d`. */
  async adopt(tmpFile: string, d: Digest): Promise<void> {
    await rename(tmpFile, this.path(d));
    await fsyncDir(this.dir);
  }

  open(d: Digest): NodeJS.ReadableStream {
    const file = this.path(d);
    const verify = verifyingTransform(d, (got) => new StoreError(`blob ${d} is corrupt on disk (${file} hashes to ${got}); run \`berth system check --repair\``));
    const src = createReadStream(file);
    src.on("error", (err: NodeJS.ErrnoException) => {
      verify.destroy(err.code === "ENOENT" ? new StoreError(`blob ${d} is missing from the store`) : err);
    });
    return src.pipe(verify);
  }

  /**
   * A whole blob (configs, manifests: small), verified. Read synchronously, as the store's
   * records are: readFile is four thread-pool round trips, which queue behind whatever else the
   * pool does (a build's digests, syncs) and cost more than the read.
   */
  async read(d: Digest): Promise<Buffer> {
    let buf: Buffer;
    try {
      buf = readFileSync(this.path(d));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new StoreError(`blob ${d} is missing from the store`);
      throw err;
    }
    const got = `sha256:${createHash("sha256").update(buf).digest("hex")}`;
    if (got !== d) throw new StoreError(`blob ${d} is corrupt on disk (hashes to ${got}); run \`berth system check --repair\``);
    return buf;
  }

  async size(d: Digest): Promise<number> {
    return (await stat(this.path(d))).size;
  }
}

/** Passes bytes through and fails at their end, with `mismatch(got)`, unless they hash to `expected`. */
export function verifyingTransform(expected: Digest, mismatch: (got: string) => Error): Transform {
  const hash = createHash("sha256");
  return new Transform({
    transform(chunk: Buffer, _e, cb: TransformCallback) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      const got = `sha256:${hash.digest("hex")}`;
      cb(got === expected ? null : mismatch(got));
    },
  });
}
