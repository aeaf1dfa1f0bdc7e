import type { Stats } from "node:fs";
import { ContextError } from "./errors.js";
import { lstatBuild } from "../sys/lstat.js";

export type EntryType = "file" | "dir" | "symlink" | "other";

/** What COPY needs to know of one source entry (lstat, never following the entry itself). */
export interface SourceStat {
  type: EntryType;
  /** full st_mode (type bits and permission bits) */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
  nlink: number;
  rdev: number;
}

/** lstat of a host path as a SourceStat (no Stats object: see fast-lstat.ts); undefined when absent. */
export function lstatSource(path: string): SourceStat | undefined {
  return lstatBuild(path, sourceStat);
}

export function sourceStat(dev: number, mode: number, nlink: number, uid: number, gid: number, rdev: number, ino: number, size: number, mtimeMs: number, ctimeMs: number): SourceStat {
  const t = mode & 0o170000;
  const type: EntryType = t === 0o100000 ? "file" : t === 0o040000 ? "dir" : t === 0o120000 ? "symlink" : "other";
  return { type, mode, uid, gid, size, mtimeMs, ctimeMs, ino, dev, nlink, rdev };
}

export function statFromNode(st: Stats): SourceStat {
  return {
    type: st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other",
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    ino: st.ino,
    dev: st.dev,
    nlink: st.nlink,
    rdev: st.rdev,
  };
}

/**
 * A read-only tree COPY reads from: the build context (after .dockerignore), a stage's rootfs,
 * or an image's layers. Paths are slash paths relative to the tree's root, "" is the root.
 * All calls are synchronous: resolution is a metadata walk over cached or local data.
 */
export interface SourceFs {
  /** A label for error messages ("build context", "stage builder" …). */
  readonly label: string;
  lstat(rel: string): SourceStat | undefined;
  /** Names in the directory, sorted like Go's os.ReadDir (byte order). */
  readdir(rel: string): string[];
  readlink(rel: string): string;
  /** The host path holding the entry's bytes (for copy_file_range and hashing). */
  hostPath(rel: string): string;
  /** Whether COPY writes source owners (stages, images) or resets them to 0:0 (the context). */
  readonly preservesOwnership: boolean;
}

export function joinRel(a: string, b: string): string {
  if (a === "") return b;
  if (b === "") return a;
  return a + "/" + b;
}

/**
 * containerd's fs.RootPath: resolves `rel` inside the tree, following symlinks (all components,
 * or all but the last when `followLast` is false) as if the tree were chroot'ed: absolute link
 * targets restart at the tree's root and `..` never climbs above it. This is how BuildKit keeps
 * COPY from following a context symlink outside the context.
 */
export function resolveInTree(fs: SourceFs, rel: string, followLast = true): string {
  return resolveChrooted(rel, (r) => fs.lstat(r)?.type === "symlink", (r) => fs.readlink(r), followLast, () =>
    new ContextError(`too many levels of symbolic links resolving ${JSON.stringify(rel)} in the ${fs.label}`, { path: rel }));
}

/**
 * resolveInTree's walk over any tree that answers `isLink` and `readlink` for slash paths
 * relative to its root ("" is the root); `tooMany` is the error after 255 links.
 */
export function resolveChrooted(path: string, isLink: (rel: string) => boolean, readlink: (rel: string) => string, followLast: boolean, tooMany: () => Error): string {
  const pending = path.split("/").filter((p) => p !== "" && p !== ".");
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "..") {
      done.pop();
      continue;
    }
    const candidate = done.length === 0 ? part : done.join("/") + "/" + part;
    if ((followLast || pending.length > 0) && isLink(candidate)) {
      if (++links > 255) throw tooMany();
      const target = readlink(candidate);
      if (target.startsWith("/")) done.length = 0;
      pending.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
      continue;
    }
    done.push(part);
  }
  return done.join("/");
}

/**
 * Go sorts directory entries by bytes; JS compares UTF-16 units. The two orders agree except
 * between astral-plane characters and U+E000–U+FFFF, which only changes the order of a walk.
 */
export function sortNames(names: string[]): string[] {
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
