import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/**
 * Binary-safe PAX records for xattrs. tar-stream writes and reads PAX values as UTF-8 text, but
 * `SCHILY.xattr.*` values are raw bytes (security.capability is binary). We replace its PAX
 * encoder (values may be Buffers, written raw, as Go's archive/tar and GNU tar read them) and its
 * decoder (xattr values kept as latin1 strings, i.e. one char per byte).
 */

export const XATTR_PREFIX = "SCHILY.xattr.";

function record(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, "utf8"), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

interface TarStreamHeaders {
  decodePax: (buf: Buffer) => Record<string, string>;
  encodePax: (opts: { name?: string; linkname?: string; pax?: Record<string, string | Buffer> }) => Buffer;
}

let patched = false;

/** Makes tar-stream's PAX encoder and decoder byte-preserving for xattr values (idempotent). */
export function patchTarStreamPax(): void {
  if (patched) return;
  patched = true;
  const require = createRequire(import.meta.url);
  const headers = require(join(dirname(require.resolve("tar-stream")), "headers.js")) as TarStreamHeaders;
  headers.encodePax = (opts) => {
    const parts: Buffer[] = [];
    if (opts.name) parts.push(record("path", Buffer.from(opts.name, "utf8")));
    if (opts.linkname) parts.push(record("linkpath", Buffer.from(opts.linkname, "utf8")));
    for (const [k, v] of Object.entries(opts.pax ?? {})) parts.push(record(k, typeof v === "string" ? Buffer.from(v, "utf8") : v));
    return Buffer.concat(parts);
  };
  headers.decodePax = (input: Buffer): Record<string, string> => {
    const result: Record<string, string> = {};
    let buf = input;
    while (buf.length) {
      let i = 0;
      while (i < buf.length && buf[i] !== 32) i++;
      const len = parseInt(buf.subarray(0, i).toString("latin1"), 10);
      if (!len || len > buf.length) return result;
      const b = buf.subarray(i + 1, len - 1);
      const eq = b.indexOf(0x3d);
      if (eq === -1) return result;
      const key = b.subarray(0, eq).toString("utf8");
      result[key] = b.subarray(eq + 1).toString(key.startsWith(XATTR_PREFIX) ? "latin1" : "utf8");
      buf = buf.subarray(len);
    }
    return result;
  };
}
