import { BuildContext } from "./build-context.js";
import { ContextError } from "./errors.js";
import { BadPatternError, cleanPath, containsWildcards, goMatch } from "./path-match.js";
import { PatternMatcher } from "./patternmatcher.js";
import { joinRel, resolveInTree, type SourceFs, type SourceStat } from "./source-fs.js";

/** One entry a COPY source brings along. */
export interface SelectedEntry {
  /** Path below the copy root ("" for the root itself); where it lands relative to the target. */
  rel: string;
  /** Path in the source tree (what to read). */
  srcRel: string;
  stat: SourceStat;
  /** For symlinks: the link text, copied as is. */
  linkTarget?: string;
}

/** A resolved COPY source: one literal path, one wildcard match, or one `--parents` pivot. */
export interface ResolvedSource {
  /** The source as written in the instruction. */
  spec: string;
  /** Base name used when the destination is a directory (a file source lands at dest/name). */
  name: string;
  /** The copy root in the source tree, symlinks followed (inside the tree). */
  srcRel: string;
  root: SourceStat;
  /** Directory sources copy their contents; the root's own metadata is not copied (BuildKit). */
  isDir: boolean;
  /** Root first (rel ""), then descendants, parents before children. */
  entries: SelectedEntry[];
}

export interface ResolveOptions {
  /** `COPY --parents`: keep each source's path from the context root or from a `/./` pivot. */
  parents?: boolean;
  /** `COPY --exclude` patterns (moby/patternmatcher syntax). */
  excludes?: string[];
  /** The instruction name for messages. */
  command?: "COPY" | "ADD";
}

function notFound(fs: SourceFs, rel: string, command: string): ContextError {
  let why = "";
  if (fs instanceof BuildContext && !fs.ignore.empty && fs.ignore.matches(rel)) {
    why = ` (excluded by ${fs.ignoreFile ?? ".dockerignore"})`;
  }
  // BuildKit words it `failed to calculate checksum of ref …: "/x": not found`.
  return new ContextError(`${command} failed: "/${rel}": not found in the ${fs.label}${why}`, { path: "/" + rel });
}

/** Cleans a source path to a tree-relative path; refuses paths that climb out of the tree. */
function treeRel(src: string, fs: SourceFs, command: string): string {
  const rel = cleanPath(src.startsWith("/") ? src.slice(1) || "." : src);
  if (rel === ".." || rel.startsWith("../")) {
    // BuildKit silently clamps `..` at the context root; berth refuses, naming the path.
    throw new ContextError(`${command} failed: source ${JSON.stringify(src)} is outside the ${fs.label}`, { path: src });
  }
  return rel === "." ? "" : rel;
}

function baseName(rel: string): string {
  const i = rel.lastIndexOf("/");
  return i < 0 ? rel : rel.slice(i + 1);
}

function compileExcludes(excludes: string[] | undefined): PatternMatcher | undefined {
  if (!excludes || excludes.length === 0) return undefined;
  try {
    return new PatternMatcher(excludes);
  } catch (err) {
    throw new ContextError(`invalid --exclude pattern: ${(err as Error).message}`, { cause: err });
  }
}

/** Walks below `srcRel`, keeping what the filters keep; excluded dirs survive only as parents. */
function collect(
  fs: SourceFs,
  srcRel: string,
  rel: string,
  out: SelectedEntry[],
  keep: (rel: string, isDir: boolean) => "yes" | "no" | "descend",
): boolean {
  let any = false;
  for (const name of fs.readdir(srcRel)) {
    const childSrc = joinRel(srcRel, name);
    const childRel = joinRel(rel, name);
    const st = fs.lstat(childSrc);
    if (!st) continue;
    const verdict = keep(childRel, st.type === "dir");
    if (verdict === "no") continue;
    const entry: SelectedEntry = { rel: childRel, srcRel: childSrc, stat: st };
    if (st.type === "symlink") entry.linkTarget = fs.readlink(childSrc);
    if (st.type === "dir") {
      const at = out.length;
      out.push(entry);
      // Below a kept directory the same filter still applies (excludes can drop its children).
      const below = collect(fs, childSrc, childRel, out, keep);
      if (verdict === "descend" && !below) {
        out.length = at;
        continue;
      }
    } else if (verdict === "descend") {
      continue;
    } else out.push(entry);
    any = true;
  }
  return any;
}

function excludeFilter(ex: PatternMatcher | undefined): (rel: string, isDir: boolean) => "yes" | "no" | "descend" {
  return (rel, isDir) => {
    if (!ex || !ex.matches(rel)) return "yes";
    return isDir && ex.mayIncludeBelow(rel) ? "descend" : "no";
  };
}

function selectTree(fs: SourceFs, spec: string, name: string, srcRel: string, st: SourceStat, ex: PatternMatcher | undefined): ResolvedSource {
  const root: SelectedEntry = { rel: "", srcRel, stat: st };
  if (st.type === "symlink") root.linkTarget = fs.readlink(srcRel);
  const entries = [root];
  if (st.type === "dir") collect(fs, srcRel, "", entries, excludeFilter(ex));
  return { spec, name, srcRel, root: st, isDir: st.type === "dir", entries };
}

/**
 * One literal path of a tree, already resolved (no wildcards, no `..`), with everything below
 * it: what COPY would take from it. Undefined when absent. (Cache mounts seed from a stage.)
 */
export function selectSourceTree(fs: SourceFs, srcRel: string): ResolvedSource | undefined {
  const st = fs.lstat(srcRel);
  return st === undefined ? undefined : selectTree(fs, "/" + srcRel, baseName(srcRel), srcRel, st, undefined);
}

/** Could `pattern` (slash components) match something strictly below `dirRel`? */
function couldMatchBelow(pattern: string, dirRel: string): boolean {
  const pat = pattern.split("/");
  const parts = dirRel.split("/");
  for (let i = 0; i < parts.length; i++) {
    if (i >= pat.length) return true; // the pattern matched a parent: all below is included
    if (pat[i].includes("**")) return true;
    try {
      if (!goMatch(pat[i], parts[i])) return false;
    } catch {
      return false;
    }
  }
  return true;
}

function resolveParents(fs: SourceFs, src: string, ex: PatternMatcher | undefined, command: string): ResolvedSource {
  // BuildKit: an optional "/./" pivot; the part after it is an include pattern below the pivot.
  const cut = src.indexOf("/./");
  const pivotSrc = cut < 0 ? "/" : src.slice(0, cut);
  const patternSrc = cut < 0 ? src : src.slice(cut + 3);
  const pivot = treeRel(pivotSrc, fs, command);
  const pattern = treeRel(patternSrc, fs, command);
  const pivotRel = resolveInTree(fs, pivot);
  const pivotSt = fs.lstat(pivotRel);
  if (!pivotSt) throw notFound(fs, pivotRel, command);
  if (!containsWildcards(pivot) && !containsWildcards(pattern)) {
    const required = resolveInTree(fs, joinRel(pivotRel, pattern), false);
    if (!fs.lstat(required)) throw notFound(fs, joinRel(pivot, pattern), command);
  }
  let include: PatternMatcher;
  try {
    include = new PatternMatcher([pattern === "" ? "**" : pattern]);
  } catch (err) {
    throw new ContextError(`${command} failed: bad source pattern ${JSON.stringify(src)}: ${(err as Error).message}`, { cause: err });
  }
  const entries: SelectedEntry[] = [{ rel: "", srcRel: pivotRel, stat: pivotSt }];
  if (pivotSt.type === "dir") {
    collect(fs, pivotRel, "", entries, (rel, isDir) => {
      if (ex && ex.matches(rel)) return isDir && ex.mayIncludeBelow(rel) ? "descend" : "no";
      if (include.matches(rel)) return "yes";
      return isDir && couldMatchBelow(pattern, rel) ? "descend" : "no";
    });
  }
  return { spec: src, name: baseName(pivotRel), srcRel: pivotRel, root: pivotSt, isDir: pivotSt.type === "dir", entries };
}

/**
 * Resolves COPY/ADD sources as BuildKit does (FollowSymlinks, AllowWildcard, AllowEmptyWildcard,
 * CopyDirContentsOnly): a literal path must exist; a wildcard (Go filepath.Match syntax, `\`
 * escapes) may match nothing; symlinks named by a source (or matched by a wildcard) are followed
 * inside the tree, symlinks below a directory source are copied as links.
 */
export function resolveCopySources(fs: SourceFs, sources: readonly string[], options: ResolveOptions = {}): ResolvedSource[] {
  const command = options.command ?? "COPY";
  const ex = compileExcludes(options.excludes);
  const out: ResolvedSource[] = [];
  for (const src of sources) {
    if (options.parents) {
      out.push(resolveParents(fs, src, ex, command));
      continue;
    }
    const rel = treeRel(src, fs, command);
    const parts = rel === "" ? [] : rel.split("/");
    const firstWild = parts.findIndex((p) => containsWildcards(p));
    if (firstWild < 0) {
      const srcRel = resolveInTree(fs, rel);
      const st = fs.lstat(srcRel);
      if (!st) throw notFound(fs, rel, command);
      out.push(selectTree(fs, src, baseName(rel), srcRel, st, ex));
      continue;
    }
    const baseRel = resolveInTree(fs, parts.slice(0, firstWild).join("/"));
    const pattern = parts.slice(firstWild).join("/");
    const depth = parts.length - firstWild;
    try {
      goMatch(pattern, ".");
    } catch (err) {
      if (err instanceof BadPatternError) throw new ContextError(`${command} failed: ${err.message} in source ${JSON.stringify(src)}`, { path: src });
      throw err;
    }
    const baseSt = fs.lstat(baseRel);
    if (!baseSt || baseSt.type !== "dir") continue; // nothing can match: an empty wildcard
    const matches: string[] = [];
    const walk = (dirSrc: string, dirRel: string, level: number): void => {
      for (const name of fs.readdir(dirSrc)) {
        const r = joinRel(dirRel, name);
        const st = fs.lstat(joinRel(dirSrc, name));
        if (!st) continue;
        if (goMatch(pattern, r)) {
          matches.push(r);
          continue; // a matched directory is taken whole (filepath.SkipDir)
        }
        if (st.type === "dir" && level + 1 < depth) walk(joinRel(dirSrc, name), r, level + 1);
      }
    };
    walk(baseRel, "", 0);
    for (const m of matches) {
      // Excludes apply to what a wildcard matched, relative to the wildcard's directory.
      if (ex && ex.matches(m)) continue;
      const matchRel = joinRel(baseRel, m);
      const srcRel = resolveInTree(fs, matchRel);
      const st = fs.lstat(srcRel);
      if (!st) continue; // a dangling symlink matched by a wildcard
      out.push(selectTree(fs, src, baseName(m), srcRel, st, ex));
    }
  }
  return out;
}
