import { chmodSync, createWriteStream, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync, type Stats } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable, Writable } from "node:stream";
import * as tar from "tar-stream";
import { LayerError } from "./errors.js";
import { mknodBatch, setXattrsBatch, type NodeSpec } from "./native.js";
import { patchTarStreamPax, XATTR_PREFIX } from "./tarpax.js";

/**
 * Apply: an uncompressed OCI layer tar → a fresh directory that serves as an overlay lower dir.
 * Safety: every entry is confined to the target — `..` components are refused, leading `/` is
 * stripped (as tar does), nothing is written through a symlink (a parent that is a symlink is
 * refused), hard links must name an earlier entry inside the layer. Whiteouts become overlay
 * whiteouts (0:0 char devices, opaque xattr) so overlay hides the lower layers' files.
 * Device nodes only when applying as root (as rootless Docker, others are skipped); owners
 * only as root; setuid/setgid bits are re-applied after chown (which clears them).
 * File system calls are synchronous on purpose: one thread-pool round trip per open, write,
 * chown, chmod and utimes made applying many small files 3-5x slower (bench/store.mjs).
 */
export interface ApplyOptions {
  /** Apply owners, device nodes and trusted.* xattrs; default: running as uid 0. */
  asRoot?: boolean;
  /** Name used in error messages (the archive or layer). */
  source?: string;
}

export interface ApplyResult {
  entries: number;
  skippedDevices: number;
  /** Directories marked opaque (paths relative to the target, no leading '/'). */
  opaque: string[];
}

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
const WHITEOUT_META_PREFIX = ".wh..wh.";
const INLINE_FILE = 1024 * 1024;

interface DirMeta { path: string; mode: number; uid: number; gid: number; mtime: Date }

export async function applyLayer(tarStream: Readable, target: string, opts: ApplyOptions = {}): Promise<ApplyResult> {
  patchTarStreamPax();
  const asRoot = opts.asRoot ?? process.getuid?.() === 0;
  const source = opts.source ?? "layer";
  const extract = tar.extract();
  const knownDirs = new Set<string>([""]);
  const dirMeta = new Map<string, DirMeta>();
  const nodes: NodeSpec[] = [];
  const xattrs: { path: string; name: string; value: Buffer }[] = [];
  const result: ApplyResult = { entries: 0, skippedDevices: 0, opaque: [] };

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
  const ensureParents = async (parts: string[], raw: string): Promise<void> => {
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
  const clear = async (rel: string, keepDir: boolean): Promise<boolean> => {
    const st = lstatMaybe(rel);
    if (st === undefined) return false;
    if (keepDir && st.isDirectory()) return true;
    rmSync(join(target, rel), { recursive: true, force: true });
    if (st.isDirectory()) for (const d of [...knownDirs]) if (d === rel || d.startsWith(`${rel}/`)) knownDirs.delete(d);
    return false;
  };

  const setOwnerMode = (abs: string, h: tar.Header, isLink: boolean): void => {
    if (asRoot) lchownSync(abs, h.uid ?? 0, h.gid ?? 0);
    if (!isLink) chmodSync(abs, (h.mode ?? 0o644) & 0o7777);
    const t = h.mtime ?? new Date(0);
    if (isLink) lutimesSync(abs, t, t);
    else utimesSync(abs, t, t);
  };

  const collectXattrs = (abs: string, h: tar.Header): void => {
    const pax = h.pax as Record<string, string> | null | undefined;
    if (!pax) return;
    for (const [k, v] of Object.entries(pax)) {
      if (!k.startsWith(XATTR_PREFIX)) continue;
      const name = k.slice(XATTR_PREFIX.length);
      if (!asRoot && !name.startsWith("user.")) continue;
      xattrs.push({ path: abs, name, value: Buffer.from(v, "latin1") });
    }
  };

  const handle = async (h: tar.Header, body: Readable): Promise<void> => {
    result.entries++;
    // owners too big for the header's octal field come as PAX records (tar-stream reads only
    // path, linkpath and size from them)
    const pax = h.pax as Record<string, string> | null | undefined;
    if (pax?.uid !== undefined && /^\d+$/.test(pax.uid)) h.uid = Number(pax.uid);
    if (pax?.gid !== undefined && /^\d+$/.test(pax.gid)) h.gid = Number(pax.gid);
    const parts = components(h.name.replace(/^\/+/, ""));
    if (parts.length === 0) {
      body.resume();
      return; // the layer root itself: its metadata belongs to the target dir
    }
    const base = parts[parts.length - 1]!;
    const parentParts = parts.slice(0, -1);
    await ensureParents(parentParts, h.name);
    const parentRel = parentParts.join("/");
    const rel = parts.join("/");
    const abs = join(target, rel);

    if (base.startsWith(WHITEOUT_PREFIX)) {
      body.resume();
      if (base === OPAQUE_MARKER) {
        xattrs.push({ path: join(target, parentRel), name: "trusted.overlay.opaque", value: Buffer.from("y") });
      } else if (!base.startsWith(WHITEOUT_META_PREFIX)) {
        const hidden = base.slice(WHITEOUT_PREFIX.length);
        if (hidden === "" || hidden === "." || hidden === "..") fail(h.name, "invalid whiteout name");
        const hiddenRel = parentRel === "" ? hidden : `${parentRel}/${hidden}`;
        await clear(hiddenRel, false);
        created.add(hiddenRel);
        nodes.push({ path: join(target, hiddenRel), type: "c", major: 0, minor: 0, mode: 0, uid: 0, gid: 0, mtime: (h.mtime ?? new Date(0)).getTime() / 1000 });
      }
      return; // .wh..wh.plnk and other aufs metadata: ignored, as Docker does
    }

    switch (h.type) {
      case "directory": {
        if (!(await clear(rel, true))) mkdirSync(abs, { mode: 0o700 });
        created.add(rel);
        knownDirs.add(rel);
        dirMeta.set(rel, { path: abs, mode: (h.mode ?? 0o755) & 0o7777, uid: h.uid ?? 0, gid: h.gid ?? 0, mtime: h.mtime ?? new Date(0) });
        collectXattrs(abs, h);
        body.resume();
        return;
      }
      case "file":
      case "contiguous-file": {
        await clear(rel, false);
        if ((h.size ?? 0) <= INLINE_FILE) {
          const chunks: Buffer[] = [];
          for await (const c of body) chunks.push(c as Buffer);
          writeFileSync(abs, Buffer.concat(chunks), { flag: "wx", mode: 0o600 });
        } else {
          await pipeline(body, createWriteStream(abs, { flags: "wx", mode: 0o600 }) as Writable);
        }
        created.add(rel);
        setOwnerMode(abs, h, false);
        collectXattrs(abs, h);
        return;
      }
      case "symlink": {
        body.resume();
        await clear(rel, false);
        symlinkSync(h.linkname ?? "", abs);
        created.add(rel);
        setOwnerMode(abs, h, true);
        collectXattrs(abs, h);
        return;
      }
      case "link": {
        body.resume();
        const targetParts = components((h.linkname ?? "").replace(/^\/+/, ""));
        if (targetParts.length === 0) fail(h.name, "hard link to the layer root");
        await ensureParents(targetParts.slice(0, -1), h.name);
        const from = join(target, ...targetParts);
        const st = lstatMaybe(targetParts.join("/"));
        if (st === undefined) fail(h.name, `hard link target ${JSON.stringify(h.linkname)} is not in the layer`);
        if (st!.isDirectory()) fail(h.name, `hard link target ${JSON.stringify(h.linkname)} is a directory`);
        await clear(rel, false);
        linkSync(from, abs);
        created.add(rel);
        return;
      }
      case "character-device":
      case "block-device":
      case "fifo": {
        body.resume();
        if (h.type !== "fifo" && !asRoot) {
          result.skippedDevices++;
          return;
        }
        await clear(rel, false);
        created.add(rel);
        nodes.push({
          path: abs,
          type: h.type === "fifo" ? "p" : h.type === "character-device" ? "c" : "b",
          major: h.devmajor ?? 0,
          minor: h.devminor ?? 0,
          mode: h.mode ?? 0o644,
          uid: h.uid ?? 0,
          gid: h.gid ?? 0,
          mtime: (h.mtime ?? new Date(0)).getTime() / 1000,
        });
        return;
      }
      default:
        body.resume();
        fail(h.name, `unsupported entry type ${JSON.stringify(h.type)}`);
    }
  };

  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (h, body, next) => {
      handle(h, body as unknown as Readable).then(() => next(), (err: unknown) => {
        reject(err);
        next(err instanceof Error ? err : new Error(String(err)));
      });
    });
    extract.on("finish", () => resolve());
    extract.on("error", (err: Error) => reject(err));
  });
  try {
    await Promise.all([pipeline(tarStream, extract as unknown as Writable), done]);
  } catch (err) {
    if (err instanceof LayerError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw new LayerError(`${source}: not a valid tar archive (${msg})`, { cause: err });
  }

  await mknodBatch(nodes, { chown: asRoot });
  await setXattrsBatch(xattrs, !asRoot);
  const prefix = target.endsWith("/") ? target : `${target}/`;
  for (const x of xattrs) {
    if (x.name !== "trusted.overlay.opaque" || x.value.toString() !== "y" || !asRoot) continue;
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
  return result;
}
