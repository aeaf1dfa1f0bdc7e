import type { EntryKind, LayerEntry, LayerListing } from "./layers.js";

/** What the selected layer did to a path (dive's DiffType). */
export type Diff = "unmodified" | "added" | "modified" | "removed";

/** A node of the image's file system as of one layer. */
export interface TreeNode {
  name: string;
  /** Absolute, "/" for the root. */
  path: string;
  kind: EntryKind;
  /** A file's size; a directory's: the sum below it. */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  diff: Diff;
  /** A directory's children, by name. */
  children: TreeNode[];
}

interface Building {
  entry: Pick<LayerEntry, "kind" | "size" | "mode" | "uid" | "gid">;
  diff: Diff;
  children?: Map<string, Building>;
}

const S_IFDIR = 0o040000;
const newDir = (diff: Diff): Building => ({ entry: { kind: "dir", size: 0, mode: S_IFDIR | 0o755, uid: 0, gid: 0 }, diff, children: new Map() });

/**
 * The image's file system as of layer `index` (the layers up to it stacked), marked as dive's
 * layer view marks it: what that layer added, modified and removed (a removed path stays in the
 * tree, under the name it had), a directory with a change below it modified. A file the layer
 * writes again is modified, its content not compared.
 */
export function layerTree(listings: readonly LayerListing[], index: number): TreeNode {
  const root = newDir("unmodified");
  const setDiff = (node: Building, diff: Diff): void => {
    node.diff = diff;
    for (const child of node.children?.values() ?? []) setDiff(child, diff);
  };
  const lookup = (path: string): { parent: Building; name: string } | undefined => {
    const parts = path.split("/");
    let dir = root;
    for (const part of parts.slice(0, -1)) {
      const next = dir.children!.get(part);
      if (next?.children === undefined) return undefined;
      dir = next;
    }
    return { parent: dir, name: parts[parts.length - 1]! };
  };
  for (let i = 0; i <= index; i++) {
    const mark = i === index;
    const listing = listings[i]!;
    const remove = (parent: Building, name: string): void => {
      const node = parent.children!.get(name);
      if (node === undefined) return;
      if (mark) setDiff(node, "removed");
      else parent.children!.delete(name);
    };
    for (const e of listing.entries) {
      if (e.kind !== "whiteout") continue;
      const at = lookup(e.path);
      if (at !== undefined) remove(at.parent, at.name);
    }
    for (const dir of listing.opaque) {
      const at = lookup(dir);
      const node = at?.parent.children!.get(at.name);
      for (const name of [...(node?.children?.keys() ?? [])]) remove(node!, name);
    }
    for (const e of listing.entries) {
      if (e.kind === "whiteout") continue;
      const parts = e.path.split("/");
      let parent = root;
      for (const part of parts.slice(0, -1)) {
        let next = parent.children!.get(part);
        if (next?.children === undefined) {
          next = newDir(mark ? (next === undefined ? "added" : "modified") : "unmodified");
          parent.children!.set(part, next);
        }
        parent = next;
      }
      const name = parts[parts.length - 1]!;
      const existing = parent.children!.get(name);
      if (e.kind === "dir" && existing?.children !== undefined) {
        const same = existing.entry.mode === e.mode && existing.entry.uid === e.uid && existing.entry.gid === e.gid;
        existing.entry = e;
        if (mark && (!same || existing.diff === "removed")) existing.diff = "modified";
        continue;
      }
      const diff: Diff = !mark ? "unmodified" : existing === undefined ? "added" : "modified";
      parent.children!.set(name, { entry: e, diff, ...(e.kind === "dir" ? { children: new Map() } : {}) });
    }
  }
  const finish = (node: Building, name: string, path: string): TreeNode => {
    const children = [...(node.children?.entries() ?? [])]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([childName, child]) => finish(child, childName, path === "/" ? `/${childName}` : `${path}/${childName}`));
    const size = node.children === undefined ? node.entry.size : children.reduce((s, c) => s + c.size, 0);
    const diff = node.diff === "unmodified" && children.some((c) => c.diff !== "unmodified") ? "modified" : node.diff;
    return { name, path, kind: node.entry.kind, size, mode: node.entry.mode, uid: node.entry.uid, gid: node.entry.gid, diff, children };
  };
  return finish(root, "", "/");
}
