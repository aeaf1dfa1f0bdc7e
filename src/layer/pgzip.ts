import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import { createRequire } from "node:module";

/** zlib loads where a layer is (un)compressed, not with this module: builds commit layers without it. */
const lazyRequire = createRequire(import.meta.url);

/**
 * Gzip on every core: the input is cut into fixed-size pieces, each compressed as its own gzip
 * member on libuv's thread pool (zlib's async API), members written in order. A multi-member
 * gzip file is plain RFC 1952: gunzip, Go's compress/gzip (Docker, containerd, skopeo) and
 * Node read it as one stream. Deterministic: same input, piece size and level → same bytes
 * (Node writes mtime 0 in each member header).
 */
export function parallelGzip(opts: { level?: number; pieceSize?: number; parallel?: number } = {}): Transform {
  const pieceSize = opts.pieceSize ?? 1 << 20;
  const parallel = Math.max(1, opts.parallel ?? availableParallelism());
  const level = opts.level ?? 6;
  const compress = (b: Buffer): Promise<Buffer> =>
    new Promise((res, rej) => (lazyRequire("node:zlib") as typeof import("node:zlib")).gzip(b, { level }, (err, out) => (err ? rej(err) : res(out))));
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let pieces = 0;
  const inflight: Promise<Buffer>[] = [];
  return new Transform({
    transform(chunk: Buffer, _e, cb: TransformCallback) {
      pending.push(chunk);
      pendingLen += chunk.length;
      (async () => {
        while (pendingLen >= pieceSize) {
          const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
          const rest = all.subarray(pieceSize);
          pending = rest.length > 0 ? [rest] : [];
          pendingLen = rest.length;
          inflight.push(compress(all.subarray(0, pieceSize)));
          pieces++;
          while (inflight.length >= parallel) this.push(await inflight.shift()!);
        }
      })().then(() => cb(), (err: Error) => cb(err));
    },
    flush(cb: TransformCallback) {
      (async () => {
        if (pendingLen > 0 || pieces === 0) inflight.push(compress(Buffer.concat(pending)));
        while (inflight.length > 0) this.push(await inflight.shift()!);
      })().then(() => cb(), (err: Error) => cb(err));
    },
  });
}
