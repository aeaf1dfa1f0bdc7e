import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import type { HistoryEntry } from "../image/types.js";
import type { ImageRecord } from "../store/index.js";
import { listLayer, type EntryKind, type LayerListing } from "./layers.js";

/** One layer of the image, as dive's export shows it, with berth's counts beside. */
export interface LayerAnalysis {
  index: number;
  diffId: string;
  /** dive's: the history's created_by without a leading `/bin/sh -c `. */
  command: string;
  createdBy: string;
  /** The Dockerfile lines of the instruction that made it, when a berth build recorded them. */
  lines?: [number, number];
  /** dive's layer size: the sum of its tar headers' sizes. */
  sizeBytes: number;
  /** Non-directory paths that no layer below had, that one had, and that it hides. */
  added: number;
  changed: number;
  removed: number;
  /** Bytes of its files that no container sees: hidden by a later layer, or content an earlier layer holds already. */
  wastedBytes: number;
}

/** A file a later layer hides: its bytes stay in the image. */
export interface HiddenFile {
  path: string;
  sizeBytes: number;
  addedBy: number;
  hiddenBy: number;
  /** removed: a whiteout or an opaque directory; overwritten: the path written again. */
  how: "removed" | "overwritten";
}

/** Identical content in files of more than one layer (all of them visible). */
export interface DuplicateContent {
  sizeBytes: number;
  sha256: string;
  copies: { path: string; layer: number }[];
  /** sizeBytes for every copy in a later layer than the first one. */
  wastedBytes: number;
}

/** dive's inefficiency: a path met in more than one layer tree. */
export interface FileReference {
  count: number;
  sizeBytes: number;
  file: string;
}

/** A file of the final file system, for the treemap. */
export interface FinalFile {
  path: string;
  sizeBytes: number;
  layer: number;
}

export interface ImageAnalysis {
  image: { id: string; tags: string[]; dockerfile?: string };
  layers: LayerAnalysis[];
  /** dive: the sum of the layers' sizes. */
  sizeBytes: number;
  /** dive: all bytes but the first layer's. */
  userSizeBytes: number;
  /** dive's efficiency score (filetree.Efficiency). */
  efficiencyScore: number;
  /** dive's wasted bytes: every copy of every path in fileReference (the one a container sees included). */
  inefficientBytes: number;
  /** dive: inefficientBytes / userSizeBytes. */
  wastedUserPercent: number;
  fileReference: FileReference[];
  /** berth: the bytes no container sees (hidden files' and duplicate copies'). */
  wastedBytes: number;
  hidden: HiddenFile[];
  duplicates: DuplicateContent[];
  finalFiles: FinalFile[];
}

interface Node {
  kind: EntryKind;
  size: number;
  layer: number;
  abs: string;
  children?: Map<string, Node>;
}

const newDir = (layer: number): Node => ({ kind: "dir", size: 0, layer, abs: "", children: new Map() });

/** Every non-directory below (and at) `node`, with its path. */
function filesUnder(node: Node, path: string, out: { path: string; node: Node }[]): void {
  if (node.kind !== "dir") {
    out.push({ path, node });
    return;
  }
  for (const [name, child] of node.children ?? []) filesUnder(child, path === "" ? name : `${path}/${name}`, out);
}

/** dive's whiteout sizer: the sizes of every node of the stacked tree below a directory. */
function sizeUnder(node: Node): number {
  let total = node.size;
  for (const child of node.children?.values() ?? []) total += sizeUnder(child);
  return total;
}

/** Which history entry made each layer: the non-empty ones, in order (dive's walk too). */
function layerHistory(history: readonly HistoryEntry[], layerCount: number): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  let h = 0;
  for (let i = 0; i < layerCount; i++) {
    while (h < history.length && history[h]!.empty_layer === true) h++;
    out.push(h < history.length ? h++ : undefined);
  }
  return out;
}

/** A file's content digest, read in 1 MB chunks. */
function hashFile(abs: string, buf: Buffer): string {
  const hash = createHash("sha256");
  const fd = openSync(abs, "r");
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(n === buf.length ? buf : buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/**
 * Analyzes an image of the store from its extracted layers (no tar is made, no content read but
 * that of files whose size another layer's file shares, hashed to find identical content).
 *
 * The efficiency score and fileReference follow dive (filetree/efficiency.go): for every leaf
 * path of every layer tree (a whiteout counts as the path it hides: the sizes below it when a
 * directory was there, else 0), the score is the sum over paths of the smallest size met divided
 * by the sum of all sizes met; a path met more than once is an inefficiency of its summed size.
 */
export function analyzeImage(image: ImageRecord, listings: LayerListing[] = image.layers.map(listLayer)): ImageAnalysis {
  const history = image.config.history ?? [];
  const historyOf = layerHistory(history, image.layers.length);
  const root = newDir(-1);
  const efficiency = new Map<string, { count: number; cumulative: number; min: number }>();
  const hidden: HiddenFile[] = [];
  const layers: LayerAnalysis[] = [];

  const lookup = (path: string): { parent: Node; name: string; node: Node | undefined } | undefined => {
    const parts = path.split("/");
    let dir = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const next = dir.children?.get(parts[i]!);
      if (next === undefined || next.kind !== "dir") return undefined;
      dir = next;
    }
    const name = parts[parts.length - 1]!;
    return { parent: dir, name, node: dir.children?.get(name) };
  };
  /** The directory at `path`, made (as a directory of layer `layer`) when missing or not a directory. */
  const ensureDir = (path: string, layer: number, hide: (path: string, node: Node) => void): Node => {
    if (path === "") return root;
    let dir = root;
    let at = "";
    for (const part of path.split("/")) {
      at = at === "" ? part : `${at}/${part}`;
      let next = dir.children!.get(part);
      if (next === undefined || next.kind !== "dir") {
        if (next !== undefined) hide(at, next);
        next = newDir(layer);
        dir.children!.set(part, next);
      }
      dir = next;
    }
    return dir;
  };

  listings.forEach((listing, index) => {
    const stats = { added: 0, changed: 0, removed: 0, sizeBytes: 0 };
    // dive's pass over this layer's leaves, against the layers below (before this one applies)
    for (const e of listing.entries) {
      stats.sizeBytes += e.size;
      if (!e.leaf) continue;
      let size = e.size;
      if (e.kind === "whiteout") {
        const below = lookup(e.path)?.node;
        size = below?.kind === "dir" ? sizeUnder(below) : 0;
      }
      const key = `/${e.path}`;
      const data = efficiency.get(key);
      if (data === undefined) efficiency.set(key, { count: 1, cumulative: size, min: size });
      else {
        data.count++;
        data.cumulative += size;
        if (size < data.min) data.min = size;
      }
    }
    const hide = (how: HiddenFile["how"]) => (path: string, node: Node): void => {
      const files: { path: string; node: Node }[] = [];
      filesUnder(node, path, files);
      for (const f of files) {
        hidden.push({ path: `/${f.path}`, sizeBytes: f.node.size, addedBy: f.node.layer, hiddenBy: index, how });
        if (how === "removed") stats.removed++;
      }
    };
    const removed = hide("removed");
    const overwritten = hide("overwritten");
    // what this layer hides of the layers below: whiteouts, then the contents of opaque directories
    for (const e of listing.entries) {
      if (e.kind !== "whiteout") continue;
      const at = lookup(e.path);
      if (at?.node === undefined) continue;
      removed(e.path, at.node);
      at.parent.children!.delete(at.name);
    }
    for (const dir of listing.opaque) {
      const at = lookup(dir);
      if (at?.node?.kind !== "dir") continue;
      for (const [name, child] of at.node.children!) removed(`${dir}/${name}`, child);
      at.node.children!.clear();
    }
    for (const e of listing.entries) {
      if (e.kind === "whiteout") continue;
      const slash = e.path.lastIndexOf("/");
      const parent = ensureDir(slash < 0 ? "" : e.path.slice(0, slash), index, overwritten);
      const name = slash < 0 ? e.path : e.path.slice(slash + 1);
      const existing = parent.children!.get(name);
      if (e.kind === "dir") {
        if (existing?.kind === "dir") continue;
        if (existing !== undefined) overwritten(e.path, existing);
        parent.children!.set(name, newDir(index));
        continue;
      }
      if (existing !== undefined) {
        overwritten(e.path, existing);
        stats.changed++;
      } else stats.added++;
      parent.children!.set(name, { kind: e.kind, size: e.size, layer: index, abs: e.abs });
    }
    const h = historyOf[index];
    const createdBy = h !== undefined ? (history[h]!.created_by ?? "") : "";
    const lines = h !== undefined ? (image.source?.lines[h] ?? undefined) : undefined;
    layers.push({
      index, diffId: image.layers[index]!.diffId, command: createdBy.startsWith("/bin/sh -c ") ? createdBy.slice("/bin/sh -c ".length) : createdBy, createdBy,
      ...(lines !== undefined ? { lines } : {}),
      sizeBytes: stats.sizeBytes, added: stats.added, changed: stats.changed, removed: stats.removed, wastedBytes: 0,
    });
  });

  const finalFiles: { path: string; node: Node }[] = [];
  filesUnder(root, "", finalFiles);
  const duplicates = findDuplicates(finalFiles);

  for (const h of hidden) layers[h.addedBy]!.wastedBytes += h.sizeBytes;
  for (const d of duplicates) {
    const first = d.copies[0]!.layer;
    for (const c of d.copies) if (c.layer !== first) layers[c.layer]!.wastedBytes += d.sizeBytes;
  }

  let minimum = 0;
  let discovered = 0;
  const fileReference: FileReference[] = [];
  for (const [file, data] of efficiency) {
    minimum += data.min;
    discovered += data.cumulative;
    if (data.count > 1) fileReference.push({ count: data.count, sizeBytes: data.cumulative, file });
  }
  fileReference.sort((a, b) => b.sizeBytes - a.sizeBytes || byName(a.file, b.file));
  const inefficientBytes = fileReference.reduce((a, f) => a + f.sizeBytes, 0);
  const sizeBytes = layers.reduce((a, l) => a + l.sizeBytes, 0);
  const userSizeBytes = sizeBytes - (layers[0]?.sizeBytes ?? 0);
  return {
    image: { id: image.id, tags: image.repoTags, ...(image.source !== undefined ? { dockerfile: image.source.dockerfile } : {}) },
    layers,
    sizeBytes,
    userSizeBytes,
    efficiencyScore: discovered === 0 ? 1 : minimum / discovered,
    inefficientBytes,
    // Go's float division: 0/0 is NaN there; a one-layer image has nothing of the user's
    wastedUserPercent: userSizeBytes === 0 ? 0 : inefficientBytes / userSizeBytes,
    fileReference,
    wastedBytes: hidden.reduce((a, h) => a + h.sizeBytes, 0) + duplicates.reduce((a, d) => a + d.wastedBytes, 0),
    hidden,
    duplicates,
    finalFiles: finalFiles.filter((f) => f.node.size > 0).map((f) => ({ path: `/${f.path}`, sizeBytes: f.node.size, layer: f.node.layer })),
  };
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Identical content in more than one layer: only files whose size a file of another layer
 * shares are read (and hashed).
 */
function findDuplicates(files: readonly { path: string; node: Node }[]): DuplicateContent[] {
  const bySize = new Map<number, { path: string; node: Node }[]>();
  for (const f of files) {
    if (f.node.kind !== "file" || f.node.size === 0) continue;
    const same = bySize.get(f.node.size);
    if (same === undefined) bySize.set(f.node.size, [f]);
    else same.push(f);
  }
  const out: DuplicateContent[] = [];
  const buf = Buffer.allocUnsafe(1 << 20);
  for (const [size, group] of bySize) {
    if (group.length < 2 || group.every((f) => f.node.layer === group[0]!.node.layer)) continue;
    const byHash = new Map<string, { path: string; node: Node }[]>();
    for (const f of group) {
      const h = hashFile(f.node.abs, buf);
      const same = byHash.get(h);
      if (same === undefined) byHash.set(h, [f]);
      else same.push(f);
    }
    for (const [sha256, same] of byHash) {
      if (same.length < 2 || same.every((f) => f.node.layer === same[0]!.node.layer)) continue;
      const copies = same.map((f) => ({ path: `/${f.path}`, layer: f.node.layer })).sort((a, b) => a.layer - b.layer || byName(a.path, b.path));
      const first = copies[0]!.layer;
      out.push({ sizeBytes: size, sha256, copies, wastedBytes: size * copies.filter((c) => c.layer !== first).length });
    }
  }
  return out.sort((a, b) => b.wastedBytes - a.wastedBytes);
}
