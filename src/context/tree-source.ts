import { readXattr } from "../sys/xattr.js";
import { overlayOpaqueXattr } from "../sys/overlay-xattr.js";
import { readdirSync, readlinkSync } from "node:fs";
import { ContextError } from "./errors.js";
import { lstatSource, sortNames, type SourceFs, type SourceStat } from "./source-fs.js";

/**
 * A directory on disk used as a COPY source: a stage's merged rootfs or a mounted image. Owners
 * are kept (BuildKit copies `--from` files with their owners unless `--chown` is given).
 */
export class DirSourceFs implements SourceFs {
  readonly preservesOwnership = true;
  private readonly cache = new Map<string, SourceStat | null>();

  constructor(
    readonly root: string,
    readonly label: string = root,
  ) {}

  lstat(rel: string): SourceStat | undefined {
    let st = this.cache.get(rel);
    if (st === undefined) {
      try {
        st = lstatSource(this.hostPath(rel)) ?? null;
      } catch {
        st = null;
      }
      this.cache.set(rel, st);
    }
    return st ?? undefined;
  }

  readdir(rel: string): string[] {
    return sortNames(readdirSync(this.hostPath(rel)));
  }

  readlink(rel: string): string {
    return readlinkSync(this.hostPath(rel));
  }

  hostPath(rel: string): string {
    return rel === "" ? this.root : this.root + "/" + rel;
  }
}

/** Reads the overlay opaque mark of a directory. */
export function overlayOpaque(absDir: string): boolean {
  return readXattr(absDir, overlayOpaqueXattr())?.toString() === "y";
}

function isWhiteout(st: SourceStat): boolean {
  return st.type === "other" && (st.mode & 0o170000) === 0o020000 && st.rdev === 0;
}

/**
 * An image's (or snapshot's) layers read as one tree without mounting: layer dirs top first, in
 * overlay format (whiteouts are 0:0 character devices, replaced directories carry
 * `trusted.overlay.opaque=y`). The same view serves COPY --from=<image> and the COPY writer's
 * look at the parent rootfs.
 */
export class LayeredSourceFs implements SourceFs {
  readonly preservesOwnership = true;
  private readonly raw: Map<string, SourceStat | null>[];
  private readonly resolved = new Map<string, { layer: number; st: SourceStat } | null>();
  private readonly opaqueCache = new Map<string, boolean>();

  constructor(
    readonly layers: readonly string[],
    readonly label: string = "image",
    private readonly isOpaque: (absDir: string) => boolean = overlayOpaque,
  ) {
    this.raw = layers.map(() => new Map());
  }

  private rawStat(layer: number, rel: string): SourceStat | undefined {
    const cache = this.raw[layer];
    let st = cache.get(rel);
    if (st === undefined) {
      try {
        st = lstatSource(rel === "" ? this.layers[layer]! : this.layers[layer] + "/" + rel) ?? null;
      } catch {
        st = null;
      }
      cache.set(rel, st);
    }
    return st ?? undefined;
  }

  private opaque(layer: number, rel: string): boolean {
    const abs = rel === "" ? this.layers[layer] : this.layers[layer] + "/" + rel;
    let o = this.opaqueCache.get(abs);
    if (o === undefined) {
      o = this.isOpaque(abs);
      this.opaqueCache.set(abs, o);
    }
    return o;
  }

  /** The visible entry: the topmost layer that has it, unless a whiteout, a file or an opaque dir above hides it. */
  private find(rel: string): { layer: number; st: SourceStat } | undefined {
    const cached = this.resolved.get(rel);
    if (cached !== undefined) return cached ?? undefined;
    let result: { layer: number; st: SourceStat } | null = null;
    if (rel === "") {
      for (let i = 0; i < this.layers.length; i++) {
        const st = this.rawStat(i, "");
        if (st) {
          result = { layer: i, st };
          break;
        }
      }
    } else {
      const slash = rel.lastIndexOf("/");
      const parentRel = slash < 0 ? "" : rel.slice(0, slash);
      const parent = this.find(parentRel);
      if (parent && parent.st.type === "dir") {
        // Layers at or above the parent's own layer can hold the entry; below an opaque copy of
        // the parent (or a layer where the parent is not a directory) nothing shows through.
        for (let i = 0; i < this.layers.length; i++) {
          const st = this.rawStat(i, rel);
          if (st) {
            result = isWhiteout(st) ? null : { layer: i, st };
            break;
          }
          const pst = this.rawStat(i, parentRel);
          if (pst && (pst.type !== "dir" || isWhiteout(pst))) break;
          if (pst && pst.type === "dir" && i < this.layers.length - 1 && this.opaque(i, parentRel)) break;
        }
      }
    }
    this.resolved.set(rel, result);
    return result ?? undefined;
  }

  lstat(rel: string): SourceStat | undefined {
    return this.find(rel)?.st;
  }

  readdir(rel: string): string[] {
    const names = new Set<string>();
    for (let i = 0; i < this.layers.length; i++) {
      const st = this.rawStat(i, rel);
      if (!st) continue;
      if (st.type !== "dir") break;
      for (const n of readdirSync(rel === "" ? this.layers[i] : this.layers[i] + "/" + rel)) names.add(n);
      if (i < this.layers.length - 1 && this.opaque(i, rel)) break;
    }
    const prefix = rel === "" ? "" : rel + "/";
    return sortNames([...names].filter((n) => this.find(prefix + n) !== undefined));
  }

  readlink(rel: string): string {
    return readlinkSync(this.hostPath(rel));
  }

  /**
   * The layer dirs (top first) whose `rel` make up the visible directory `rel`: what an overlay
   * of just that directory takes as its lower dirs. A layer where `rel` or a parent is a
   * whiteout, not a directory, or an opaque directory hides the layers below. [] when `rel` is
   * not a directory here.
   */
  dirLayers(rel: string): string[] {
    const top = this.find(rel);
    if (top === undefined || top.st.type !== "dir") return [];
    const parts = rel === "" ? [] : rel.split("/");
    const prefixes = ["", ...parts.map((_, k) => parts.slice(0, k + 1).join("/"))];
    const out: string[] = [];
    for (let i = top.layer; i < this.layers.length; i++) {
      let holds = true;
      let hidesBelow = false;
      for (const p of prefixes) {
        const st = this.rawStat(i, p);
        if (!st) {
          holds = false;
          break;
        }
        if (st.type !== "dir") {
          holds = false;
          hidesBelow = true;
          break;
        }
        if (i < this.layers.length - 1 && this.opaque(i, p)) hidesBelow = true;
      }
      if (holds) out.push(rel === "" ? this.layers[i]! : this.layers[i] + "/" + rel);
      if (hidesBelow) break;
    }
    return out;
  }

  hostPath(rel: string): string {
    const f = this.find(rel);
    if (!f) throw new ContextError(`${rel} not found in ${this.label}`, { path: rel });
    return rel === "" ? this.layers[f.layer] : this.layers[f.layer] + "/" + rel;
  }
}
