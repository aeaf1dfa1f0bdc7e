import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { Digest } from "../../image/digest.js";
import { applyDeferredExtraCa } from "../../tls-ca.js";
import { CopyError } from "./errors.js";

/** How BuildKit tells ADD sources apart (dfgitutil.ParseGitRef, roughly). */
export function classifyAddSource(src: string): "git" | "http" | "local" {
  if (/^git@[^:]+:/.test(src) || /^git:\/\//.test(src) || /^ssh:\/\//.test(src)) return "git";
  if (/^https?:\/\//.test(src)) {
    const u = src.replace(/[#?].*$/, "");
    if (u.endsWith(".git") || /#/.test(src) && /\.git(#|$)/.test(src)) return "git";
    return "http";
  }
  return "local";
}

export interface DownloadedFile {
  /** A private temp dir holding the file; remove it with `cleanup`. */
  dir: string;
  /** The file name: the URL path's last element, or `__unnamed__` (BuildKit). */
  name: string;
  digest: Digest;
  size: number;
  /** Seconds, from Last-Modified (else now, as BuildKit). */
  mtime: number;
  cleanup(): Promise<void>;
}

export interface DownloadOptions {
  /** `--checksum=sha256:<hex>`: the download must match. */
  checksum?: string;
  /** Abort after this many milliseconds (default 10 minutes). */
  timeoutMs?: number;
}

/**
 * ADD <http(s) URL>: downloads to a temp file (mode 0600, as BuildKit's http source writes it),
 * named from the URL path, mtime from Last-Modified, verified against `--checksum`. Remote
 * files are never unpacked (Dockerfile reference). The caller copies it with writeCopy.
 */
export async function downloadUrl(url: string, options: DownloadOptions = {}): Promise<DownloadedFile> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CopyError(`ADD failed: invalid URL ${JSON.stringify(url)}`);
  }
  if (options.checksum !== undefined && !/^sha256:[a-f0-9]{64}$/.test(options.checksum)) {
    throw new CopyError(`invalid --checksum=${options.checksum}: want sha256:<64 hex digits>`);
  }
  const base = posix.basename(decodeURIComponent(parsed.pathname));
  const name = base === "" || base === "." || base === "/" ? "__unnamed__" : base;
  const dir = await mkdtemp(join(tmpdir(), "berth-url-"));
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    let res: Response;
    try {
      applyDeferredExtraCa();
      res = await fetch(url, { redirect: "follow", signal: AbortSignal.timeout(options.timeoutMs ?? 600_000) });
    } catch (err) {
      throw new CopyError(`ADD failed: cannot download ${url}: ${(err as Error).message}`, { cause: err });
    }
    if (!res.ok || res.body === null) throw new CopyError(`ADD failed: ${url}: HTTP ${res.status} ${res.statusText}`);
    const path = join(dir, name);
    const hash = createHash("sha256");
    let size = 0;
    const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
    body.on("data", (d: Buffer) => {
      hash.update(d);
      size += d.length;
    });
    await pipeline(body, createWriteStream(path, { mode: 0o600 }));
    const digest = `sha256:${hash.digest("hex")}` as Digest;
    if (options.checksum !== undefined && options.checksum !== digest) {
      throw new CopyError(`ADD failed: digest mismatch ${options.checksum}: ${digest} (downloaded from ${url})`);
    }
    const lm = res.headers.get("last-modified");
    const lmTime = lm ? Date.parse(lm) : NaN;
    const mtime = Number.isNaN(lmTime) ? Date.now() / 1000 : lmTime / 1000;
    await utimes(path, mtime, mtime);
    return { dir, name, digest, size, mtime, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
