import { chmodSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** A file tree in test cases: keys are slash paths; a trailing "/" or `dir: true` makes a directory. */
export interface TreeEntry {
  content?: string;
  mode?: string; // octal
  symlink?: string;
  hardlink?: string; // path of another entry in the same tree
  dir?: boolean;
  uid?: number;
  gid?: number;
  mtime?: number; // seconds
  whiteout?: boolean; // an overlay whiteout (char device 0:0), made with mknod(1)
}
export type Tree = Record<string, TreeEntry>;

/** What a case expects at a path of the written layer. */
export interface Expected {
  type: "file" | "dir" | "symlink" | "hardlink";
  mode?: string;
  uid?: number;
  gid?: number;
  content?: string;
  target?: string; // symlink target, or for "hardlink" the path it shares an inode with
  mtime?: number | "now";
}

export function makeTree(root: string, tree: Tree, mknod: (path: string) => void = () => {}): void {
  mkdirSync(root, { recursive: true });
  const entries = Object.entries(tree).sort(([a], [b]) => a.localeCompare(b));
  const later: [string, TreeEntry][] = [];
  for (const [raw, e] of entries) {
    const rel = raw.replace(/\/$/, "");
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    if (e.hardlink) {
      later.push([rel, e]);
      continue;
    }
    if (raw.endsWith("/") || e.dir) mkdirSync(p, { recursive: true });
    else if (e.symlink !== undefined) symlinkSync(e.symlink, p);
    else if (e.whiteout) mknod(p);
    else writeFileSync(p, e.content ?? "");
    if (e.mode && e.symlink === undefined) chmodSync(p, parseInt(e.mode, 8));
    if (e.uid !== undefined || e.gid !== undefined) lchownSync(p, e.uid ?? 0, e.gid ?? 0);
  }
  for (const [rel, e] of later) linkSync(join(root, e.hardlink!), join(root, rel));
  // mtimes last, deepest first, so writing children does not disturb them
  for (const [raw, e] of [...entries].reverse()) {
    if (e.mtime !== undefined) lutimesSync(join(root, raw.replace(/\/$/, "")), e.mtime, e.mtime);
  }
}

/** Reads a written layer back into the `Expected` shape (every entry, sorted). */
export function readTree(root: string): Record<string, Expected & { ino: number; mtime: number }> {
  const out: Record<string, Expected & { ino: number; mtime: number }> = {};
  const inodes = new Map<number, string>();
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel + "/" + name;
      const st = lstatSync(p);
      const base = { mode: (st.mode & 0o7777).toString(8).padStart(4, "0"), uid: st.uid, gid: st.gid, ino: st.ino, mtime: Math.round(st.mtimeMs / 1000) };
      if (st.isDirectory()) {
        out[r] = { type: "dir", ...base };
        walk(p, r);
      } else if (st.isSymbolicLink()) out[r] = { type: "symlink", ...base, target: readlinkSync(p) };
      else if (st.isFile()) {
        const first = inodes.get(st.ino);
        if (first !== undefined) out[r] = { type: "hardlink", ...base, target: first, content: readFileSync(p, "utf8") };
        else {
          inodes.set(st.ino, r);
          out[r] = { type: "file", ...base, content: readFileSync(p, "utf8") };
        }
      } else out[r] = { type: "file", ...base };
    }
  };
  walk(root, "");
  return out;
}
