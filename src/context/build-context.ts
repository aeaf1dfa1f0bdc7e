import { lstatSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { readDockerignore } from "./dockerignore.js";
import { ContextError } from "./errors.js";
import { PatternError, PatternMatcher } from "./patternmatcher.js";
import { sortNames, sourceStat, statFromNode, type SourceFs, type SourceStat } from "./source-fs.js";
import { listDir, listDirSync, type DirListing } from "../sys/stat-dir.js";

/** Directory listings in flight at once while a context is walked (thread-pool jobs). */
const WALK_PARALLEL = 8;

/** A counting semaphore: at most `n` holders at a time. */
class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.free++;
  }
}

export interface LoadContextOptions {
  /** The Dockerfile path (relative to the context or absolute): `<Dockerfile>.dockerignore` wins. */
  dockerfile?: string;
  /** Patterns to use instead of reading .dockerignore files. */
  ignorePatterns?: string[];
}

/**
 * The build context after .dockerignore, indexed once: one lstat per entry, no content read.
 * COPY source resolution, checksums and the layer writer work from this index, so a build looks
 * at each context file's metadata once however many COPY steps it has. Ignored files are simply
 * absent (as in BuildKit, where they are never sent to the builder).
 */
export class BuildContext implements SourceFs {
  readonly label = "build context";
  readonly preservesOwnership = false;
  readonly root: string;
  readonly ignore: PatternMatcher;
  readonly ignoreFile: string | undefined;
  private readonly stats = new Map<string, SourceStat>();
  private readonly children = new Map<string, string[]>();
  private readonly links = new Map<string, string>();
  /** Per directory kept, the names .dockerignore took out of it (for filtered views: contextView). */
  private readonly excluded = new Map<string, string[]>();

  private constructor(root: string, ignore: PatternMatcher, ignoreFile: string | undefined) {
    this.root = root;
    this.ignore = ignore;
    this.ignoreFile = ignoreFile;
  }

  static async load(dir: string, options: LoadContextOptions = {}): Promise<BuildContext> {
    let root: string;
    try {
      root = realpathSync(dir);
      if (!statSync(root).isDirectory()) throw new ContextError(`build context ${dir} is not a directory`, { path: dir });
    } catch (err) {
      if (err instanceof ContextError) throw err;
      throw new ContextError(`unable to prepare context: path ${JSON.stringify(dir)} not found`, { path: dir, cause: err });
    }
    let patterns = options.ignorePatterns;
    let lines: number[] = [];
    let ignoreFile: string | undefined;
    if (patterns === undefined) {
      const read = await readDockerignore(root, options.dockerfile);
      patterns = read.patterns;
      lines = read.lines;
      ignoreFile = read.file;
    }
    let matcher: PatternMatcher;
    try {
      matcher = new PatternMatcher(patterns);
    } catch (err) {
      const index = err instanceof PatternError ? err.index : -1;
      const where = `${ignoreFile ?? ".dockerignore"}${lines[index] !== undefined ? ":" + lines[index] : ""}`;
      throw new ContextError(`${where}: ${(err as Error).message}`, { path: ignoreFile, cause: err });
    }
    const ctx = new BuildContext(root, matcher, ignoreFile);
    ctx.stats.set("", statFromNode(lstatSync(root)));
    await ctx.walk("", new Semaphore(WALK_PARALLEL));
    return ctx;
  }

  /**
   * Walks a directory; resolves whether anything below it was kept (for re-included paths).
   * Subdirectories are walked side by side: the addon lists and lstats each on the thread pool
   * (statDirAsync), so a big context's lstat calls (one per file) share the CPUs while the
   * main thread indexes what came back. The top
   * directory is listed in line (no thread-pool round trip for a small context).
   */
  private async walk(dirRel: string, slots: Semaphore): Promise<boolean> {
    // names and string concatenation, no Dirent objects or path.join: a walk of 20,000 entries
    // is mostly allocation (garbage collection) otherwise
    const abs = dirRel === "" ? this.root : `${this.root}/${dirRel}`;
    let names: string[];
    let statAt: (i: number) => SourceStat | undefined;
    try {
      // berth's addon lists and lstats a directory in one call, on the thread pool below the
      // top (sys/stat-dir.ts; readdir and an lstat per entry kept without it)
      let listing: DirListing<SourceStat>;
      if (dirRel !== "") {
        await slots.acquire();
        try {
          listing = await listDir(abs, sourceStat);
        } finally {
          slots.release();
        }
      } else listing = listDirSync(abs, sourceStat);
      names = listing.names;
      statAt = (i) => listing.stat(i);
    } catch (err) {
      throw new ContextError(`cannot read ${dirRel || "."} in the build context: ${(err as Error).message}`, { path: dirRel, cause: err });
    }
    const kept: string[] = [];
    const out: string[] = [];
    const dropped = new Set<string>();
    const below: Promise<void>[] = [];
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const rel = dirRel === "" ? name : `${dirRel}/${name}`;
      const excluded = !this.ignore.empty && this.ignore.matches(rel);
      if (excluded && !this.ignore.mayIncludeBelow(rel)) {
        out.push(name);
        continue;
      }
      const st = statAt(i);
      if (st === undefined) continue; // removed while the context was read
      if (excluded && st.type !== "dir") {
        out.push(name);
        continue;
      }
      this.stats.set(rel, st);
      if (st.type === "dir") {
        below.push(
          this.walk(rel, slots).then((any) => {
            // An excluded directory exists only as the parent of a re-included path.
            if (excluded && !any) {
              this.stats.delete(rel);
              this.children.delete(rel);
              dropped.add(name);
            }
          }),
        );
      } else if (st.type === "symlink") this.links.set(rel, readlinkSync(`${abs}/${name}`));
      kept.push(name);
    }
    if (below.length > 0) await Promise.all(below);
    const names2 = dropped.size === 0 ? kept : kept.filter((n) => !dropped.has(n));
    this.children.set(dirRel, sortNames(names2));
    out.push(...dropped);
    if (out.length > 0) this.excluded.set(dirRel, out);
    return names2.length > 0;
  }

  /** The names .dockerignore took out, by the (kept) directory that holds them: empty when nothing was excluded. */
  excludedNames(): ReadonlyMap<string, readonly string[]> {
    // a dropped directory's own exclusions are covered by its parent's
    for (const dir of [...this.excluded.keys()]) if (dir !== "" && !this.stats.has(dir)) this.excluded.delete(dir);
    return this.excluded;
  }

  get size(): number {
    return this.stats.size;
  }

  lstat(rel: string): SourceStat | undefined {
    return this.stats.get(rel);
  }

  readdir(rel: string): string[] {
    return this.children.get(rel) ?? [];
  }

  readlink(rel: string): string {
    const t = this.links.get(rel);
    if (t === undefined) throw new ContextError(`${rel} is not a symbolic link`, { path: rel });
    return t;
  }

  hostPath(rel: string): string {
    return rel === "" ? this.root : this.root + "/" + rel;
  }
}
