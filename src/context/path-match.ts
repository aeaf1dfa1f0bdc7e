/**
 * Go's path.Clean and path/filepath.Match, ported: Docker and BuildKit decide COPY sources and
 * .dockerignore matches with them, so berth must agree character for character.
 */

/** Go's path.Clean on slash paths ("" → "."). */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  if (rooted) return "/" + joined;
  return joined === "" ? "." : joined;
}

/** Thrown for a malformed pattern, as Go's filepath.ErrBadPattern. */
export class BadPatternError extends Error {
  constructor(pattern: string) {
    super(`syntax error in pattern: ${JSON.stringify(pattern)}`);
  }
}

/** True when a path component uses wildcard syntax (`*`, `?`, `[`), honouring `\` escapes. */
export function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === "\\") i++;
    else if (ch === "*" || ch === "?" || ch === "[") return true;
  }
  return false;
}

/** Removes `\` escapes (a path without wildcards names the file literally). */
export function unescapePattern(p: string): string {
  return p.replace(/\\(.)/g, "$1");
}

/**
 * Go's filepath.Match: `*` any run of non-`/`, `?` one non-`/`, `[...]` classes with ranges and
 * `^` negation, `\` escapes. Throws BadPatternError on malformed patterns (as Go returns
 * ErrBadPattern), even when the name would not match.
 */
export function goMatch(pattern: string, name: string): boolean {
  let pat = pattern;
  let nm = name;
  outer: while (pat.length > 0) {
    let star = false;
    while (pat.length > 0 && pat[0] === "*") {
      pat = pat.slice(1);
      star = true;
    }
    const { chunk, rest } = scanChunk(pat);
    pat = rest;
    if (star && chunk === "") {
      // Trailing * matches the rest unless it contains a '/'.
      return !nm.includes("/");
    }
    const t = matchChunk(chunk, nm);
    if (t.ok && (t.rest.length === 0 || pat.length > 0)) {
      nm = t.rest;
      continue;
    }
    if (t.err) throw new BadPatternError(pattern);
    if (star) {
      for (let i = 0; i < nm.length && nm[i] !== "/"; i++) {
        const t2 = matchChunk(chunk, nm.slice(i + 1));
        if (t2.ok) {
          if (pat.length === 0 && t2.rest.length > 0) continue;
          nm = t2.rest;
          continue outer;
        }
        if (t2.err) throw new BadPatternError(pattern);
      }
    }
    // Go checks the remaining pattern for syntax errors before answering false.
    while (pat.length > 0) {
      while (pat.length > 0 && pat[0] === "*") pat = pat.slice(1);
      const s = scanChunk(pat);
      pat = s.rest;
      if (matchChunk(s.chunk, "").err) throw new BadPatternError(pattern);
    }
    return false;
  }
  return nm.length === 0;
}

function scanChunk(pattern: string): { chunk: string; rest: string } {
  let inRange = false;
  let i = 0;
  for (; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "\\") {
      if (i + 1 < pattern.length) i++;
    } else if (ch === "[") inRange = true;
    else if (ch === "]") inRange = false;
    else if (ch === "*" && !inRange) break;
  }
  return { chunk: pattern.slice(0, i), rest: pattern.slice(i) };
}

interface ChunkResult {
  rest: string;
  ok: boolean;
  err: boolean;
}

function matchChunk(chunkIn: string, s0: string): ChunkResult {
  let chunk = chunkIn;
  let s = s0;
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    const c = chunk[0];
    if (c === "[") {
      let r = "";
      if (!failed) {
        r = String.fromCodePoint(s.codePointAt(0)!);
        s = s.slice(r.length);
      }
      chunk = chunk.slice(1);
      let negated = false;
      if (chunk.length > 0 && chunk[0] === "^") {
        negated = true;
        chunk = chunk.slice(1);
      }
      let match = false;
      let nrange = 0;
      for (;;) {
        if (chunk.length > 0 && chunk[0] === "]" && nrange > 0) {
          chunk = chunk.slice(1);
          break;
        }
        const lo = getEsc(chunk);
        if (lo.err) return { rest: "", ok: false, err: true };
        chunk = lo.rest;
        let hi = lo.ch;
        if (chunk[0] === "-") {
          const h = getEsc(chunk.slice(1));
          if (h.err) return { rest: "", ok: false, err: true };
          chunk = h.rest;
          hi = h.ch;
        }
        if (!failed && lo.ch <= r && r <= hi) match = true;
        nrange++;
      }
      if (match === negated) failed = true;
    } else if (c === "?") {
      if (!failed) {
        if (s[0] === "/") failed = true;
        const r = String.fromCodePoint(s.codePointAt(0) ?? 0);
        s = s.slice(r.length);
      }
      chunk = chunk.slice(1);
    } else if (c === "\\") {
      chunk = chunk.slice(1);
      if (chunk.length === 0) return { rest: "", ok: false, err: true };
      if (!failed) {
        if (chunk[0] !== s[0]) failed = true;
        s = s.slice(1);
      }
      chunk = chunk.slice(1);
    } else {
      if (!failed) {
        if (chunk[0] !== s[0]) failed = true;
        s = s.slice(1);
      }
      chunk = chunk.slice(1);
    }
  }
  if (failed) return { rest: "", ok: false, err: false };
  return { rest: s, ok: true, err: false };
}

function getEsc(chunk: string): { ch: string; rest: string; err: boolean } {
  if (chunk.length === 0 || chunk[0] === "-" || chunk[0] === "]") return { ch: "", rest: "", err: true };
  let c = chunk;
  if (c[0] === "\\") {
    c = c.slice(1);
    if (c.length === 0) return { ch: "", rest: "", err: true };
  }
  const ch = String.fromCodePoint(c.codePointAt(0)!);
  c = c.slice(ch.length);
  if (c.length === 0) return { ch: "", rest: "", err: true };
  return { ch, rest: c, err: false };
}
