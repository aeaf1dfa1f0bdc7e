import { readlinkSync } from "node:fs";
import { LayeredSourceFs, lstatSource, resolveChrooted, type SourceStat } from "../../context/index.js";
import { CopyError } from "./errors.js";

/** What the writer plans or has written at an in-image path during one COPY. */
export type Planned = { type: "file" | "symlink" | "dir"; mode: number; linkTarget?: string };

/**
 * The rootfs a COPY writes into, as the step sees it: the snapshot's upper dir (being written,
 * never cached) over the parent layers (immutable, cached), plus what this COPY has planned but
 * not yet written. Answers lstat and follows symlinks like containerd's fs.RootPath.
 */
export class TargetView {
  private readonly lower: LayeredSourceFs | undefined;
  readonly planned = new Map<string, Planned>();

  constructor(
    readonly upperDir: string,
    lowerDirs: readonly string[],
    isOpaque?: (absDir: string) => boolean,
  ) {
    this.lower = lowerDirs.length > 0 ? new LayeredSourceFs(lowerDirs, "parent image", isOpaque) : undefined;
  }

  /** lstat of an absolute, clean in-image path ("/" is the root). */
  lstat(abs: string): SourceStat | Planned | undefined {
    const p = this.planned.get(abs);
    if (p) return p;
    let st: SourceStat | undefined;
    try {
      st = lstatSource(this.upperDir + abs);
    } catch {
      st = undefined; // unreadable: as if not in the upper dir
    }
    if (st !== undefined) {
      if (st.type === "other" && (st.mode & 0o170000) === 0o020000 && st.rdev === 0) return undefined; // whiteout
      return st;
    }
    return this.lower?.lstat(abs === "/" ? "" : abs.slice(1));
  }

  readlink(abs: string): string {
    const p = this.planned.get(abs);
    if (p?.linkTarget !== undefined) return p.linkTarget;
    try {
      return readlinkSync(this.upperDir + abs);
    } catch {
      return this.lower!.readlink(abs.slice(1));
    }
  }

  /** Resolves symlinks inside the rootfs (absolute targets restart at its root, `..` stops there). */
  resolve(abs: string, followLast = true): string {
    return "/" + resolveChrooted(abs, (r) => this.lstat("/" + r)?.type === "symlink", (r) => this.readlink("/" + r), followLast, () =>
      new CopyError(`too many levels of symbolic links at ${abs}`, { path: abs }));
  }
}
