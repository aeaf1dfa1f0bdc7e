import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import type { AddInstruction, CopyInstruction } from "../../instructions/index.js";
import { checksumSelection, DirSourceFs, LayeredSourceFs, resolveCopySources, type ResolvedSource, type SourceFs, type StatCache } from "../../context/index.js";
import { parseChmod } from "./chmod.js";
import { heredocSource } from "./heredoc.js";
import { CopyError } from "./errors.js";
import { resolveChown, type Owner } from "./owner.js";
import { classifyAddSource } from "./url.js";
import type { Snapshot } from "../../store/index.js";
import type { PlacedFile, ReuseSource } from "./writer.js";

const HEREDOC_WORD = /^\d*<<-?\s*["']?([A-Za-z_][A-Za-z0-9_]*)["']?$/;

/** One group of sources written from one tree. */
interface SourceGroup {
  fs: SourceFs;
  /** Resolved on first use: a stage's or image's selection is not walked on a memo hit. */
  readonly sources: ResolvedSource[];
  add: boolean;
  /** The context's stat cache, loaded only when the selection memo misses. */
  statCache?: () => StatCache;
  /** `stage:<cache key>` / `image:<id>` / `context`: what the tree is. */
  identity?: string;
}

/** Selection fingerprint → content digest: an unchanged context selection is not re-summed. */
export interface SelectionMemo {
  get(fingerprint: string): Promise<string | undefined>;
  /** Records a digest; the write may finish later (nobody waits for a memo). */
  set(fingerprint: string, digest: string): void;
}

/**
 * What the selection's content digest depends on, from metadata only: every entry's path, type,
 * mode, owner, size, mtime, ctime and inode (a rewrite changes mtime or ctime), link targets,
 * and the --chown/--chmod that shape the sums.
 */
function selectionFingerprint(fs: SourceFs, sources: readonly ResolvedSource[], extra: string): string {
  const h = createHash("sha256");
  h.update(extra + "\n");
  sources.forEach((s, i) => {
    h.update(`${i} ${s.isDir ? "d" : "f"} ${s.name} ${s.srcRel}\n`);
    // lines gathered into ~64 KB strings: one hash update per thousand entries, not per entry
    let text = "";
    for (const e of s.entries) {
      const st = e.stat;
      text += `${e.rel}\0${e.srcRel}\0${st.type}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}\0${st.ino}\0${e.linkTarget ?? ""}\n`;
      if (text.length > 65536) {
        h.update(text);
        text = "";
      }
    }
    h.update(text);
  });
  void fs;
  return h.digest("hex");
}

export interface PreparedCopy {
  /** The instruction as evaluated, for the cache key. */
  instruction: string;
  /** BuildKit's history text: `COPY --chown=1:1 a b /dst`. */
  createdBy: string;
  contentDigest: string;
  /**
   * `--link`: the layer is written as if onto an empty directory and does not depend on the
   * parent rootfs, so its cache key leaves the parent out (see Builder.copyStep).
   */
  link: boolean;
  /** Per-entry sums for --explain (computed on a miss only); undefined for huge selections. */
  files(): Promise<Record<string, string> | undefined>;
  /**
   * Writes the layer into the snapshot's upper dir; with `reuse` (the layer an earlier build of
   * this step made), unchanged files are linked from it. Returns what it placed, when the
   * selection's checksums were made (see files()), for the next build to reuse.
   */
  execute(snapshot: Snapshot, reuse?: ReuseSource): Promise<Map<string, PlacedFile> | undefined>;
  cleanup(): Promise<void>;
}

export interface CopyContext {
  ins: CopyInstruction | AddInstruction;
  expand(word: string, options?: { skipProcessQuotes?: boolean }): string;
  workdir: string;
  /** The source tree for `--from` (a stage or image), or the build context. */
  sourceFor(from: string | undefined): Promise<{ fs: SourceFs; identity: string; statCache?: () => StatCache }>;
  selectionMemo?: SelectionMemo;
  /** The parent rootfs, top layer first (to read /etc/passwd and to see what exists). */
  parentLayers: string[];
  /** Overlay opaque-dir test for layer dirs (memoized by the caller). */
  isOpaque?: (absDir: string) => boolean;
  sourceDateEpoch: number | undefined;
  /** The build's `--ssh default` agent socket, for ADD of git over ssh. */
  sshAgent?: string | undefined;
  /** Up to this many entries keep per-file checksums for --explain. */
  explainFileLimit: number;
}

/** pathRelativeToWorkingDir: relative destinations are below WORKDIR; a trailing "/" is kept. */
export function copyDestination(workdir: string, dest: string): string {
  let p = dest;
  if (p === "." || p === "") p = "./";
  const keepSlash = p.endsWith("/") || p.endsWith("/.");
  let abs = posix.resolve(workdir || "/", p);
  if (keepSlash && !abs.endsWith("/")) abs += "/";
  return abs;
}

/** Evaluates a COPY/ADD: resolves and checksums the sources; `execute` writes the layer. */
export async function prepareCopy(c: CopyContext): Promise<PreparedCopy> {
  const ins = c.ins;
  const isAdd = ins.kind === "add";
  const destRaw = c.expand(ins.destination.raw);
  const srcWords = ins.sources.map((w) => w.raw);
  const chown = ins.chown === undefined ? undefined : c.expand(ins.chown.raw);
  const chmod = ins.chmod === undefined ? undefined : c.expand(ins.chmod.raw);
  const parents = ins.kind === "copy" && ins.parents;
  // BuildKit (dispatchCopy) makes a linked layer only without --chmod:
  // `--link --chmod=…` is an ordinary COPY there, so it is one here too.
  const link = ins.link && chmod === undefined;
  const excludes = ins.exclude.map((e) => c.expand(e.raw));
  const checksumFlag = ins.kind === "add" ? ins.checksum?.raw : undefined;
  const from = ins.kind === "copy" ? ins.from?.raw : undefined;

  const heredocs: { name: string; content: string }[] = [];
  const paths: string[] = [];
  for (const w of srcWords) {
    const m = ins.heredocs.length > 0 ? HEREDOC_WORD.exec(w) : null;
    const h = m !== null ? ins.heredocs.find((x) => x.name === m[1]) : undefined;
    if (h !== undefined) {
      // the body with the tabs of `<<-` stripped
      let content = h.content;
      if (h.expand) content = c.expand(content, { skipProcessQuotes: true });
      heredocs.push({ name: h.name, content });
    } else paths.push(c.expand(w));
  }
  const dest = copyDestination(c.workdir, destRaw);
  const declaredSources = srcWords.length;
  if (declaredSources > 1 && !dest.endsWith("/")) {
    throw new Error(`When using ${ins.kind.toUpperCase()} with more than one source file, the destination must be a directory and end with a /`);
  }

  const cleanups: (() => Promise<void>)[] = [];
  const groups: SourceGroup[] = [];
  const identities: string[] = [];
  try {
    const local: string[] = [];
    for (const p of paths) {
      const kind = isAdd ? classifyAddSource(p) : "local";
      if (kind === "git") {
        // the repository's contents at the ref go into dest, as BuildKit's git source
        const { checkoutGit } = await import("./git.js");
        const keepGitDir = ins.kind === "add" && ins.keepGitDir;
        const co = await checkoutGit(p, { keepGitDir, sshAuthSock: c.sshAgent });
        cleanups.push(co.cleanup);
        // --checksum for a git source is the commit (BuildKit: its full SHA, or a prefix of it)
        const want = checksumFlag === undefined ? undefined : c.expand(checksumFlag).toLowerCase();
        if (want !== undefined && (!/^[0-9a-f]{7,40}$/.test(want) || !co.commit.startsWith(want))) {
          throw new CopyError(`ADD ${p}: the checksum ${want} does not match the commit ${co.commit}`);
        }
        const fs = new DirSourceFs(co.dir, p);
        groups.push({ fs, sources: resolveCopySources(fs, ["."]), add: false });
        identities.push(`git ${p} ${co.commit}${keepGitDir ? " keep-git-dir" : ""}`);
        continue;
      }
      if (kind === "http") {
        const { downloadUrl } = await import("./url.js");
        const dl = await downloadUrl(p, checksumFlag !== undefined ? { checksum: c.expand(checksumFlag) } : {});
        cleanups.push(dl.cleanup);
        const fs = new DirSourceFs(dl.dir, p);
        groups.push({ fs, sources: resolveCopySources(fs, [dl.name]), add: false });
        identities.push(`url ${p} ${dl.digest}`);
      } else local.push(p);
    }
    if (local.length > 0) {
      const src = await c.sourceFor(from === undefined ? undefined : c.expand(from));
      identities.push(src.identity);
      let resolved: ResolvedSource[] | undefined;
      const resolve = () => (resolved ??= resolveCopySources(src.fs, local, { parents, excludes, command: isAdd ? "ADD" : "COPY" }));
      // The context's selection is needed now (its fingerprint); a stage's or image's only on a miss.
      if (src.statCache !== undefined) resolve();
      groups.push({
        fs: src.fs,
        get sources() {
          return resolve();
        },
        add: isAdd,
        identity: src.identity,
        ...(src.statCache !== undefined ? { statCache: src.statCache } : {}),
      });
    }
    if (heredocs.length > 0) {
      const h = await heredocSource(heredocs);
      cleanups.push(h.cleanup);
      groups.push({ fs: h.source, sources: h.sources, add: false });
      identities.push("heredoc");
    }

    let owner: Owner | undefined;
    if (chown !== undefined && link) {
      // BuildKit copies a linked layer onto scratch and resolves --chown names against that
      // empty root (llb.WithUser marshals a name with the file op's base input, -1 for
      // scratch): names fail there with "invalid user index: -1" (moby/buildkit#2987; newer
      // frontends reject them up front). Only numbers and "root" (llb parseUID) work. Same
      // here, with an error that says why: nothing of the parent rootfs is read.
      const numeric = chown.split(":").map((p) => (p === "root" ? "0" : p)).join(":");
      owner = await resolveChown(numeric, async () => {
        throw new CopyError(
          `--chown=${chown} cannot be used with --link: a linked layer is made without the image's /etc/passwd and /etc/group, so only numeric IDs work (e.g. --chown=1000:1000), or drop --link`,
        );
      });
    } else if (chown !== undefined) {
      const layers = c.parentLayers;
      const view = new LayeredSourceFs(layers, "image", c.isOpaque);
      owner = await resolveChown(chown, async (abs) => {
        const rel = abs.replace(/^\/+/, "");
        const st = view.lstat(rel);
        if (st === undefined || st.type !== "file") return undefined;
        return readFile(view.hostPath(rel), "utf8");
      });
    }
    const mode = chmod === undefined ? undefined : parseChmod(chmod);

    const sumGroup = (g: SourceGroup) =>
      checksumSelection(g.fs, g.sources, {
        ...(owner !== undefined ? { owner } : {}),
        ...(mode !== undefined ? { chmod: mode } : {}),
        ...(g.statCache !== undefined ? { statCache: g.statCache() } : {}),
      });
    const digests: string[] = [];
    const sums = new Map<SourceGroup, Awaited<ReturnType<typeof sumGroup>>>();
    for (const g of groups) {
      // The context is fingerprinted by its entries' metadata; a stage or image by its identity
      // (a stage's cache key or an image ID fixes its content) and the selection's words.
      const immutable = g.identity !== undefined && (g.identity.startsWith("stage:") || g.identity.startsWith("image:"));
      const memo = g.statCache !== undefined || immutable ? c.selectionMemo : undefined;
      const params = `${chown ?? ""} ${chmod ?? ""} ${isAdd}`;
      const fp =
        memo === undefined
          ? undefined
          : immutable
            ? createHash("sha256").update(`${g.identity ?? ""}\n${params}\n${JSON.stringify({ paths, parents, excludes })}`).digest("hex")
            : selectionFingerprint(g.fs, g.sources, params);
      const known = fp !== undefined ? await memo!.get(fp) : undefined;
      if (known !== undefined) {
        digests.push(known);
        continue;
      }
      const sum = await sumGroup(g);
      sums.set(g, sum);
      digests.push(sum.digest);
      if (fp !== undefined) memo!.set(fp, sum.digest);
    }
    const entryCount = () => groups.reduce((n, g) => n + g.sources.reduce((m, s) => m + s.entries.length, 0), 0);

    const flags: string[] = [];
    if (parents) flags.push("--parents");
    if (chown !== undefined) flags.push(`--chown=${chown}`);
    if (chmod !== undefined) flags.push(`--chmod=${chmod}`);
    const createdBy = [isAdd ? "ADD" : "COPY", ...flags, ...paths, ...heredocs.map((h) => `<<${h.name}`), destRaw].join(" ");
    const instruction = JSON.stringify({
      op: ins.kind, from: identities, paths, heredocs: heredocs.map((h) => h.name), dest, chown, chmod, parents, excludes, link,
      epoch: c.sourceDateEpoch,
    });

    return {
      instruction,
      createdBy,
      contentDigest: digests.join(","),
      link,
      async files(): Promise<Record<string, string> | undefined> {
        if (entryCount() > c.explainFileLimit) return undefined;
        const files: Record<string, string> = {};
        for (const g of groups) {
          let sum = sums.get(g);
          if (sum === undefined) {
            sum = await sumGroup(g);
            sums.set(g, sum);
          }
          for (const e of sum.entries) files[`${g.sources[e.source]?.spec ?? ""}:${e.rel}`.replace(/:$/, "")] = e.sum;
        }
        return files;
      },
      async execute(snapshot: Snapshot, reuse?: ReuseSource): Promise<Map<string, PlacedFile> | undefined> {
        const { writeCopy } = await import("./writer.js");
        const { writeAdd } = await import("./add.js");
        // Placements are listed only when every file's content is known (ADD extracts and
        // downloads are not): a later build may then link any of them.
        const known = groups.every((g) => !g.add && sums.has(g));
        let placed: Map<string, PlacedFile> | undefined = known ? new Map() : undefined;
        for (const g of groups) {
          const opts = {
            source: g.fs,
            sources: g.sources,
            dest,
            upperDir: snapshot.upperDir,
            // --link: copied as onto an empty directory (BuildKit copies onto scratch and merges):
            // parent dirs are made fresh, no symlink or directory of the parent is looked at.
            lowerDirs: link ? [] : snapshot.lowerDirs,
            declaredSources,
            command: (isAdd ? "ADD" : "COPY") as "ADD" | "COPY",
            ...(owner !== undefined ? { owner } : {}),
            ...(mode !== undefined ? { chmod: mode } : {}),
            ...(c.sourceDateEpoch !== undefined ? { mtime: c.sourceDateEpoch } : {}),
            ...(c.isOpaque !== undefined ? { isOpaque: c.isOpaque } : {}),
          };
          if (g.add) {
            await writeAdd(opts);
            continue;
          }
          const hashes = sums.get(g)?.contentHash;
          const r = await writeCopy({
            ...opts,
            ...(hashes !== undefined ? { contentOf: (p: string) => hashes.get(p) } : {}),
            ...(reuse !== undefined ? { reuse } : {}),
          });
          if (placed !== undefined && r.placed !== undefined) for (const [k, v] of r.placed) placed.set(k, v);
          else placed = undefined;
        }
        return placed;
      },
      async cleanup(): Promise<void> {
        for (const f of cleanups) await f().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const f of cleanups) await f().catch(() => undefined);
    throw err;
  }
}
