import { readlinkSync } from "node:fs";
import type { LiteStat } from "../sys/lstat.js";
import { listDirSync } from "../sys/stat-dir.js";
import { overlayOpaqueXattr } from "../sys/overlay-xattr.js";
import { readXattr } from "../sys/xattr.js";
import type { LayerInfo } from "../store/index.js";

export type EntryKind = "file" | "dir" | "symlink" | "whiteout" | "other";

/** One path of a layer, as its tar holds it (a whiteout under the name it hides). */
export interface LayerEntry {
  /** Relative, no leading '/'. */
  path: string;
  kind: EntryKind;
  /**
   * The size its tar header gives (dive's FileInfo.Size): a regular file's length; 0 for a
   * directory, a symlink, a whiteout and a hard link to a file met before in the layer.
   */
  size: number;
  /** No entry below it in this layer (dive's IsLeaf): every non-directory, and empty directories. */
  leaf: boolean;
  /** Where its content is on disk (the extracted layer). */
  abs: string;
  /** lstat's st_mode, uid and gid (a whiteout's are the device's, not its tar header's). */
  mode: number;
  uid: number;
  gid: number;
  /** A symlink's target; for a hard link to a file met before in the layer, that file's path (the tar's link name). */
  linkName?: string;
}

export interface LayerListing {
  entries: LayerEntry[];
  /** Directories this layer makes opaque (it hides what the layers below put in them). */
  opaque: string[];
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/** listDirSync's fields without the times, which analysis does not read. */
type Stat = Omit<LiteStat, "mtimeMs" | "ctimeMs">;
const toStat = (dev: number, mode: number, nlink: number, uid: number, gid: number, rdev: number, ino: number, size: number): Stat => ({ dev, mode, nlink, uid, gid, rdev, ino, size });

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Lists an extracted layer (the store's overlay lower dir) in its tar's order, parents first,
 * without reading any content: whiteouts are overlay's 0:0 character devices, opaque
 * directories come from the layer's record (or, for records older than that field, the xattr).
 */
export function listLayer(layer: LayerInfo): LayerListing {
  const entries: LayerEntry[] = [];
  const opaque = layer.opaque !== undefined ? [...layer.opaque] : [];
  const askOpaque = layer.opaque === undefined;
  const links = new Map<string, string>();
  const walk = (absDir: string, rel: string): number => {
    const list = listDirSync(absDir, toStat);
    const order = list.names.map((_, i) => i).sort((a, b) => byName(list.names[a]!, list.names[b]!));
    for (const i of order) {
      const st = list.stat(i);
      if (st === undefined) continue;
      const name = list.names[i]!;
      const path = rel === "" ? name : `${rel}/${name}`;
      const abs = `${absDir}/${name}`;
      const type = st.mode & S_IFMT;
      const meta = { abs, mode: st.mode, uid: st.uid, gid: st.gid };
      if (type === S_IFDIR) {
        const entry: LayerEntry = { path, kind: "dir", size: 0, leaf: false, ...meta };
        entries.push(entry);
        if (askOpaque && readXattr(abs, overlayOpaqueXattr())?.toString() === "y") opaque.push(path);
        entry.leaf = walk(abs, path) === 0;
      } else if (type === S_IFCHR && st.rdev === 0) {
        entries.push({ path, kind: "whiteout", size: 0, leaf: true, ...meta });
      } else if (type === S_IFREG) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (st.nlink > 1 && first === undefined) links.set(key, path);
        entries.push({ path, kind: "file", size: first === undefined ? st.size : 0, leaf: true, ...meta, ...(first !== undefined ? { linkName: first } : {}) });
      } else if (type === S_IFLNK) {
        entries.push({ path, kind: "symlink", size: 0, leaf: true, ...meta, linkName: readlinkSync(abs, "utf8") });
      } else {
        entries.push({ path, kind: "other", size: 0, leaf: true, ...meta });
      }
    }
    return list.names.length;
  };
  walk(layer.dir, "");
  return { entries, opaque };
}
