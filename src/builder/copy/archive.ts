import { spawn } from "node:child_process";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DirSourceFs, resolveCopySources } from "../../context/index.js";
import { CopyError } from "./errors.js";
import type { Owner } from "./owner.js";
import { writeCopy, type WriteCopyResult } from "./writer.js";

export type Compression = "none" | "gzip" | "bzip2" | "xz" | "zstd";

/** Docker's DetectCompression: by magic bytes. */
export function detectCompression(head: Uint8Array): Compression {
  const b = head;
  if (b.length >= 3 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08) return "gzip";
  if (b.length >= 3 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) return "bzip2";
  if (b.length >= 6 && b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0x00) return "xz";
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return "zstd";
  return "none";
}

const DECOMPRESSOR: Record<Exclude<Compression, "none">, string[]> = {
  gzip: ["gzip", "-dc"],
  bzip2: ["bzip2", "-dc"],
  xz: ["xz", "-dc"],
  zstd: ["zstd", "-dc"],
};

/** A ustar/GNU tar header: the checksum field matches the header bytes. */
function isTarHeader(h: Uint8Array): boolean {
  if (h.length < 512) return false;
  const field = Buffer.from(h.subarray(148, 156)).toString("latin1").replace(/\0.*$/s, "").trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const want = parseInt(field, 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return sum === want;
}

async function firstBytes(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The first bytes a decompressor yields (enough to look for a tar header). */
function decompressedHead(path: string, c: Exclude<Compression, "none">, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const [cmd, ...args] = DECOMPRESSOR[c];
    const child = spawn(cmd, [...args, path], { stdio: ["ignore", "pipe", "ignore"] });
    const chunks: Buffer[] = [];
    let got = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      child.kill();
      resolve(Buffer.concat(chunks).subarray(0, n));
    };
    child.stdout.on("data", (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= n) finish();
    });
    child.on("close", finish);
    child.on("error", finish);
  });
}

/**
 * Whether ADD unpacks this local file, as Docker decides: it is a tar archive (plain, or gzip,
 * bzip2, xz, zstd compressed — detected by magic bytes, not by name) whose first header reads.
 * Returns the compression, or undefined when the file is copied as it is.
 */
export async function detectArchive(path: string): Promise<Compression | undefined> {
  const head = await firstBytes(path, 512);
  const c = detectCompression(head);
  const tarHead = c === "none" ? head : await decompressedHead(path, c, 512);
  return isTarHeader(tarHead) ? c : undefined;
}

function run(cmd: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", (e) => reject(new CopyError(`${what}: cannot run ${cmd}: ${e.message}`, { cause: e })));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new CopyError(`${what}: ${cmd} failed: ${err.trim()}`))));
  });
}

export interface AddArchiveOptions {
  archivePath: string;
  /** Shown in errors (the source as written). */
  label?: string;
  compression?: Compression;
  /** The directory to unpack into (absolute in-image path; created 0755 like BuildKit's MkdirAll). */
  dest: string;
  upperDir: string;
  lowerDirs?: readonly string[];
  /** `--chown`: applied to every unpacked entry; otherwise the archive's owners are kept. */
  owner?: Owner;
  mtime?: number;
  isOpaque?: (absDir: string) => boolean;
}

/**
 * ADD of a local archive: unpacked into `dest`. GNU tar does the unpacking into a private temp
 * dir (it refuses `..` members, strips leading `/`, and defers symlinks that point outside so
 * no later member is written through them); the result is then laid into the layer by
 * writeCopy, so destination rules (symlinks in the image, copy-up of parents) are the same as
 * COPY's and nothing ever lands outside the layer.
 */
export async function addArchive(options: AddArchiveOptions): Promise<WriteCopyResult> {
  const label = options.label ?? options.archivePath;
  const c = options.compression ?? (await detectArchive(options.archivePath));
  if (c === undefined) throw new CopyError(`ADD failed: ${label} is not a tar archive`, { path: label });
  const tmp = await mkdtemp(join(tmpdir(), "berth-add-"));
  try {
    const flag = c === "gzip" ? ["-z"] : c === "bzip2" ? ["-j"] : c === "xz" ? ["-J"] : c === "zstd" ? ["--zstd"] : [];
    await run(
      "tar",
      ["-x", ...flag, "-f", options.archivePath, "-C", tmp, "--numeric-owner", "--same-owner", "--same-permissions", "--no-overwrite-dir"],
      `ADD failed: cannot unpack ${label}`,
    );
    const source = new DirSourceFs(tmp, `archive ${label}`);
    const sources = resolveCopySources(source, ["."], { command: "ADD" });
    const dest = options.dest.endsWith("/") ? options.dest : options.dest + "/";
    return await writeCopy({
      source,
      sources,
      dest,
      upperDir: options.upperDir,
      lowerDirs: options.lowerDirs,
      owner: options.owner,
      mtime: options.mtime,
      command: "ADD",
      isOpaque: options.isOpaque,
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
