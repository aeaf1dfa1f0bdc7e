import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BuildContext, DirSourceFs, resolveCopySources, type SourceFs } from "../../../src/context/index.js";
import { parseChmod, resolveChown, writeCopy } from "../../../src/builder/copy/index.js";
import { makeTree, readTree, type Expected, type Tree } from "./tree.js";

/**
 * One folder per case in test/cases/copy: case.json holds the context tree, an optional
 * .dockerignore, an optional parent rootfs (lower layer), the COPY arguments, and the complete
 * expected layer (every path in the upper dir) or an expected error.
 */
interface CopyCase {
  description?: string;
  context: Tree;
  dockerignore?: string;
  lower?: Tree;
  /** a stage rootfs for COPY --from (owners kept) instead of the context */
  from?: Tree;
  copy: { sources: string[]; dest: string; chown?: string; chmod?: string; exclude?: string[]; parents?: boolean; mtime?: number; clampMtime?: number };
  expect?: Record<string, Expected>;
  error?: string;
}

const casesDir = join(import.meta.dirname, "../../cases/copy");
const scratch = mkdtempSync("/tmp/berth-copy-cases-");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const mknod = (p: string): void => {
  execFileSync("mknod", [p, "c", "0", "0"]);
};

describe("COPY cases (test/cases/copy)", () => {
  for (const name of readdirSync(casesDir).sort()) {
    const file = join(casesDir, name, "case.json");
    if (!existsSync(file)) continue;
    const c = JSON.parse(readFileSync(file, "utf8")) as CopyCase;
    it(`${name}${c.description ? ": " + c.description : ""}`, async () => {
      const dir = join(scratch, name);
      const ctxDir = join(dir, "context");
      makeTree(ctxDir, c.context);
      if (c.dockerignore !== undefined) makeTree(ctxDir, { ".dockerignore": { content: c.dockerignore } });
      const lowerDirs: string[] = [];
      if (c.lower) {
        makeTree(join(dir, "lower"), c.lower, mknod);
        lowerDirs.push(join(dir, "lower"));
      }
      const upperDir = join(dir, "upper");
      makeTree(upperDir, {});
      const run = async (): Promise<void> => {
        let source: SourceFs;
        if (c.from) {
          makeTree(join(dir, "from"), c.from);
          source = new DirSourceFs(join(dir, "from"), "stage from");
        } else source = await BuildContext.load(ctxDir);
        const sources = resolveCopySources(source, c.copy.sources, { excludes: c.copy.exclude, parents: c.copy.parents });
        const readFile = async (p: string): Promise<string | undefined> => {
          const f = join(dir, "lower", p);
          return existsSync(f) ? readFileSync(f, "utf8") : undefined;
        };
        await writeCopy({
          source,
          sources,
          dest: c.copy.dest,
          upperDir,
          lowerDirs,
          owner: c.copy.chown ? await resolveChown(c.copy.chown, readFile) : undefined,
          chmod: c.copy.chmod ? parseChmod(c.copy.chmod) : undefined,
          mtime: c.copy.mtime,
          clampMtime: c.copy.clampMtime,
          declaredSources: c.copy.sources.length,
          isOpaque: () => false,
        });
      };
      const started = Math.floor(Date.now() / 1000);
      if (c.error !== undefined) {
        await expect(run()).rejects.toThrow(new RegExp(c.error));
        return;
      }
      await run();
      const got = readTree(upperDir);
      expect(Object.keys(got)).toEqual(Object.keys(c.expect ?? {}).sort());
      for (const [p, want] of Object.entries(c.expect ?? {})) {
        const g = got[p];
        expect(g.type, p).toBe(want.type);
        if (want.mode !== undefined) expect(g.mode, `${p} mode`).toBe(want.mode.padStart(4, "0"));
        if (want.uid !== undefined) expect(g.uid, `${p} uid`).toBe(want.uid);
        if (want.gid !== undefined) expect(g.gid, `${p} gid`).toBe(want.gid);
        if (want.content !== undefined) expect(g.content, `${p} content`).toBe(want.content);
        if (want.target !== undefined) expect(g.target, `${p} target`).toBe(want.target);
        if (want.mtime === "now") expect(g.mtime, `${p} mtime`).toBeGreaterThanOrEqual(started - 1);
        else if (want.mtime !== undefined) expect(g.mtime, `${p} mtime`).toBe(want.mtime);
      }
    });
  }
});
