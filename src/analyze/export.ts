import type { Advice } from "./advice.js";
import type { ImageAnalysis } from "./analysis.js";
import type { LayerEntry, LayerListing } from "./layers.js";

/** dive's filetree.FileInfo as its export writes it (Go's field order). */
export interface DiveFileInfo {
  path: string;
  typeFlag: number;
  linkName: string;
  size: number;
  fileMode: number;
  uid: number;
  gid: number;
  isDir: boolean;
}

const S_IFMT = 0o170000;
/** st_mode's file type → the tar type flag and Go's os.FileMode type bits (archive/tar's headerFileInfo.Mode). */
const TYPES = new Map<number, { flag: string; goMode: number }>([
  [0o100000, { flag: "0", goMode: 0 }],
  [0o040000, { flag: "5", goMode: 2 ** 31 }],
  [0o120000, { flag: "2", goMode: 2 ** 27 }],
  [0o020000, { flag: "3", goMode: 2 ** 26 + 2 ** 21 }],
  [0o060000, { flag: "4", goMode: 2 ** 26 }],
  [0o010000, { flag: "6", goMode: 2 ** 25 }],
]);
/** berth's layer tars write a whiteout as an empty regular file of this mode (layer/diff.ts). */
const WHITEOUT_MODE = 0o644;

/** Go's os.FileMode of permission bits and setuid, setgid, sticky. */
const goPerm = (mode: number): number => (mode & 0o777) + (mode & 0o4000 ? 2 ** 23 : 0) + (mode & 0o2000 ? 2 ** 22 : 0) + (mode & 0o1000 ? 2 ** 20 : 0);

const tarName = (e: LayerEntry): string => {
  if (e.kind !== "whiteout") return e.path;
  const slash = e.path.lastIndexOf("/");
  return `${e.path.slice(0, slash + 1)}.wh.${e.path.slice(slash + 1)}`;
};

/**
 * dive's per-layer `fileList`: the layer's tree walked children first, names in order
 * (filetree VisitDepthChildFirst), each node's tar header as a FileInfo; a whiteout under its
 * `.wh.` name, no opaque marker (dive's tree never adds one). Sockets have no tar header.
 */
export function diveFileList(listing: LayerListing): DiveFileInfo[] {
  const children = new Map<string, { name: string; entry: LayerEntry }[]>();
  for (const entry of listing.entries) {
    const name = tarName(entry);
    const parent = name.slice(0, Math.max(0, name.lastIndexOf("/")));
    const list = children.get(parent);
    if (list === undefined) children.set(parent, [{ name, entry }]);
    else list.push({ name, entry });
  }
  const out: DiveFileInfo[] = [];
  const visit = (dir: string): void => {
    const list = children.get(dir);
    if (list === undefined) return;
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { name, entry: e } of list) {
      if (e.kind === "dir") visit(name);
      if (e.kind === "whiteout") {
        out.push({ path: name, typeFlag: 48, linkName: "", size: 0, fileMode: WHITEOUT_MODE, uid: e.uid, gid: e.gid, isDir: false });
        continue;
      }
      const type = TYPES.get(e.mode & S_IFMT);
      if (type === undefined) continue;
      const hardLink = e.kind === "file" && e.linkName !== undefined;
      out.push({
        path: name, typeFlag: (hardLink ? "1" : type.flag).charCodeAt(0), linkName: e.linkName ?? "", size: e.size,
        fileMode: type.goMode + goPerm(e.mode), uid: e.uid, gid: e.gid, isDir: e.kind === "dir",
      });
    }
  };
  visit("");
  return out;
}

/**
 * dive's export (`dive --json`, cmd/dive/cli/internal/command/export): `layer[]` with index,
 * id, digestId, sizeBytes, command, fileList, and `image` with sizeBytes, inefficientBytes,
 * efficiencyScore, fileReference[] (count, sizeBytes, file).
 * berth's additions: per layer its Dockerfile lines, counts and wasted bytes; `berth` beside
 * `image` with what a later layer hides, duplicate content and the advice.
 */
export function exportAnalysis(a: ImageAnalysis, advice: readonly Advice[], listings: readonly LayerListing[]): unknown {
  return {
    layer: a.layers.map((l) => ({
      index: l.index,
      id: l.diffId.replace(/^sha256:/, ""),
      digestId: l.diffId,
      sizeBytes: l.sizeBytes,
      command: l.command,
      fileList: diveFileList(listings[l.index]!),
      createdBy: l.createdBy,
      ...(l.lines !== undefined ? { lines: l.lines } : {}),
      added: l.added,
      changed: l.changed,
      removed: l.removed,
      wastedBytes: l.wastedBytes,
    })),
    image: {
      sizeBytes: a.sizeBytes,
      inefficientBytes: a.inefficientBytes,
      efficiencyScore: a.efficiencyScore,
      fileReference: a.fileReference,
    },
    berth: {
      id: a.image.id,
      tags: a.image.tags,
      ...(a.image.dockerfile !== undefined ? { dockerfile: a.image.dockerfile } : {}),
      userSizeBytes: a.userSizeBytes,
      wastedUserPercent: a.wastedUserPercent,
      wastedBytes: a.wastedBytes,
      hidden: a.hidden,
      duplicates: a.duplicates,
      advice,
    },
  };
}
