import { cleanPath, goMatch } from "./path-match.js";

/**
 * A port of moby/patternmatcher (what Docker and BuildKit use for .dockerignore and
 * `COPY --exclude`). `@balena/dockerignore` follows an older moby and differs: it ignores case
 * by default and does not escape `+ ( ) | { }`, so `a+b` would not match the file `a+b`.
 */
interface Pattern {
  text: string; // cleaned, without the leading "!"
  exclusion: boolean;
  kind: "exact" | "prefix" | "suffix" | "regexp";
  regexp: RegExp | undefined;
}

const ESCAPED = new Set([".", "+", "(", ")", "|", "{", "}", "$"]);

function compile(text: string, exclusion: boolean): Pattern {
  let re = "^";
  let kind: Pattern["kind"] = "exact";
  const chars = Array.from(text);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        const first = i === 0;
        i++;
        if (chars[i + 1] === "/") i++;
        if (i + 1 >= chars.length) {
          if (kind === "exact") kind = "prefix";
          else {
            re += ".*";
            kind = "regexp";
          }
        } else {
          re += "(.*/)?";
          kind = "regexp";
        }
        if (first) kind = "suffix";
      } else {
        re += "[^/]*";
        kind = "regexp";
      }
    } else if (ch === "?") {
      re += "[^/]";
      kind = "regexp";
    } else if (ESCAPED.has(ch)) {
      re += "\\" + ch;
    } else if (ch === "\\") {
      if (i + 1 < chars.length) {
        i++;
        re += "\\" + chars[i];
        kind = "regexp";
      } else re += "\\\\";
    } else if (ch === "[" || ch === "]") {
      re += ch;
      kind = "regexp";
    } else if (ch === "^") {
      // Go's regexp treats a bare ^ outside a class as an anchor, as moby does.
      re += ch;
    } else {
      re += ch;
    }
  }
  let regexp: RegExp | undefined;
  if (kind === "regexp") {
    re += "$";
    // A Go character class "[^a]" is a JS class too; "[!a]" is literal "!" in both.
    regexp = new RegExp(re);
  }
  return { text, exclusion, kind, regexp };
}

function matchOne(p: Pattern, path: string): boolean {
  switch (p.kind) {
    case "exact":
      return path === p.text;
    case "prefix":
      return path.startsWith(p.text.slice(0, -2));
    case "suffix": {
      const suffix = p.text.slice(2);
      if (path.endsWith(suffix)) return true;
      return suffix[0] === "/" && path === suffix.slice(1);
    }
    case "regexp":
      return p.regexp!.test(path);
  }
}

/** A malformed pattern; `index` is its position in the list given to PatternMatcher. */
export class PatternError extends Error {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
  }
}

export class PatternMatcher {
  readonly patterns: readonly Pattern[];
  readonly hasExclusions: boolean;

  /** Patterns as written in .dockerignore or --exclude (already without comments). */
  constructor(patterns: readonly string[]) {
    const out: Pattern[] = [];
    for (const [index, raw] of patterns.entries()) {
      let p = raw.trim();
      if (p === "") continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p[0] === "!") {
        if (p.length === 1) throw new PatternError('illegal exclusion pattern: "!"', index);
        exclusion = true;
        p = p.slice(1);
      }
      try {
        goMatch(p, "."); // throws on a malformed pattern, as moby validates with filepath.Match
      } catch (err) {
        throw new PatternError((err as Error).message, index);
      }
      out.push(compile(p, exclusion));
    }
    this.patterns = out;
    this.hasExclusions = out.some((p) => p.exclusion);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /**
   * moby's MatchesOrParentMatches: true when the path or one of its parent directories is
   * matched by the last pattern that applies (later `!` patterns re-include).
   */
  matches(file: string): boolean {
    let matched = false;
    const slash = file.lastIndexOf("/");
    const parentDirs = slash < 0 ? [] : file.slice(0, slash).split("/");
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      let m = matchOne(p, file);
      if (!m && parentDirs.length > 0) {
        for (let i = 0; i < parentDirs.length && !m; i++) m = matchOne(p, parentDirs.slice(0, i + 1).join("/"));
      }
      if (m) matched = !p.exclusion;
    }
    return matched;
  }

  /**
   * For an excluded directory: may a `!` pattern re-include something below it? (BuildKit's
   * walker descends into an excluded dir only then.)
   */
  mayIncludeBelow(dir: string): boolean {
    if (!this.hasExclusions) return false;
    const prefix = dir + "/";
    for (const p of this.patterns) {
      if (!p.exclusion) continue;
      if ((p.text + "/").startsWith(prefix)) return true;
      // A wildcard in the pattern's leading components might match this dir: be generous.
      if (p.kind !== "exact") {
        const lead = p.text.split("/");
        const parts = dir.split("/");
        let ok = true;
        for (let i = 0; i < parts.length && i < lead.length; i++) {
          if (lead[i] === "**") break;
          try {
            if (!goMatch(lead[i], parts[i])) {
              ok = false;
              break;
            }
          } catch {
            ok = false;
            break;
          }
        }
        if (ok && (lead.length > parts.length || lead.includes("**"))) return true;
      }
    }
    return false;
  }
}
