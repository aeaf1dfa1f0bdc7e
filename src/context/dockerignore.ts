import { readFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { cleanPath } from "./path-match.js";

/**
 * Parses .dockerignore text as moby/patternmatcher/ignorefile.ReadAll: a UTF-8 BOM is dropped,
 * lines starting with `#` are comments (only at column 0), surrounding space is trimmed, `!`
 * negates, paths are cleaned and a leading `/` is removed.
 */
export function parseDockerignore(text: string): string[] {
  return parseDockerignoreLines(text).map((p) => p.pattern);
}

/** As parseDockerignore, with each pattern's 1-based line number (for error messages). */
export function parseDockerignoreLines(text: string): { pattern: string; line: number }[] {
  const out: { pattern: string; line: number }[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    if (line.startsWith("#")) continue;
    let p = line.trim();
    if (p === "") continue;
    const invert = p[0] === "!";
    if (invert) p = p.slice(1).trim();
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p[0] === "/") p = p.slice(1);
    }
    out.push({ pattern: invert ? "!" + p : p, line: index + 1 });
  }
  return out;
}

/**
 * Reads the ignore patterns for a build: `<Dockerfile>.dockerignore` next to the Dockerfile wins
 * over `<context>/.dockerignore` (BuildKit's rule). Returns [] when neither exists.
 */
export async function readDockerignore(
  contextDir: string,
  dockerfilePath?: string,
): Promise<{ patterns: string[]; lines: number[]; file: string | undefined }> {
  const candidates: string[] = [];
  if (dockerfilePath !== undefined) {
    const abs = resolve(contextDir, dockerfilePath);
    candidates.push(join(dirname(abs), basename(abs) + ".dockerignore"));
  }
  candidates.push(join(contextDir, ".dockerignore"));
  for (const file of candidates) {
    try {
      const text = await readFile(file, "utf8");
      const parsed = parseDockerignoreLines(text);
      return { patterns: parsed.map((p) => p.pattern), lines: parsed.map((p) => p.line), file: relative(contextDir, file) || file };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  return { patterns: [], lines: [], file: undefined };
}
