/**
 * Shell wildcard patterns for `${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/repl}`, with
 * BuildKit's semantics: `*` is any string (shortest or longest), `?` one character, `\`
 * escapes `*`, `?` and `\` (and is dropped before `}` and `/`, which it escapes for the
 * `${}` syntax); bracket expressions are not supported and every other character is literal.
 * BuildKit compiles the pattern to a Go regexp; we compile to a JS RegExp with the same
 * leftmost-first semantics. Go's `.` matches everything but `\n`, JS's also refuses `\r`,
 * U+2028 and U+2029, so `.` is written `[^\n]`.
 */

/** A pattern BuildKit refuses (an escape of anything but `*`, `?`, `\`). */
export class InvalidPatternError extends Error {}

const ANY_CHAR = "[^\\n]";
const REGEX_SPECIALS = new Set(["[", "]", "{", "}", ".", "+", "(", ")", "|", "^", "$"]);

export function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? "^" : "";
  const star = greedy ? `${ANY_CHAR}*` : `${ANY_CHAR}*?`;
  for (let i = 0; i < chars.length; i++) {
    let ch = chars[i] as string;
    if (ch === "*") {
      out += star;
      continue;
    }
    if (ch === "?") {
      out += ANY_CHAR;
      continue;
    }
    if (ch === "\\") {
      const following = chars[i + 1];
      if (following === "}" || following === "/") continue;
      out += "\\";
      i++;
      if (following !== "*" && following !== "?" && following !== "\\") {
        throw new InvalidPatternError(`invalid escape '\\${following ?? ""}'`);
      }
      ch = following;
    } else if (REGEX_SPECIALS.has(ch)) {
      out += "\\";
    }
    out += ch;
  }
  return new RegExp(out, global ? "gu" : "u");
}

/** Removes the shortest (or longest, when greedy) prefix matching the pattern. */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const match = shellPatternToRegExp(pattern, greedy, true).exec(value);
  return match === null ? value : value.slice(match.index + match[0].length);
}

/**
 * Removes the shortest (or longest) suffix matching the pattern. A regexp cannot find the
 * shortest rightmost match, so, like BuildKit, reverse the value and the pattern (keeping each
 * escape in front of the character it escapes) and trim a prefix.
 */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const trimmed = trimPrefix(reversePattern(pattern), reverseString(value), greedy);
  return reverseString(trimmed);
}

export function reverseString(text: string): string {
  return Array.from(text).reverse().join("");
}

/** Reverses a pattern by code points, keeping `\x` pairs in order: `a\*c` → `c\*a`. */
export function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out: string[] = new Array<string>(chars.length);
  const last = chars.length - 1;
  for (let i = 0; i <= last; ) {
    const ch = chars[i] as string;
    const outIndex = last - i;
    if (ch === "\\" && i !== last) {
      out[outIndex - 1] = ch;
      out[outIndex] = chars[i + 1] as string;
      i += 2;
    } else {
      out[outIndex] = ch;
      i++;
    }
  }
  return out.join("");
}

/** `${VAR/pat/repl}`: replaces the first (longest) match, inserting `replacement` literally. */
export function replaceFirst(pattern: string, value: string, replacement: string): string {
  const match = shellPatternToRegExp(pattern, true, false).exec(value);
  if (match === null) return value;
  return value.slice(0, match.index) + replacement + value.slice(match.index + match[0].length);
}

/**
 * `${VAR//pat/repl}`: BuildKit calls Go's `Regexp.ReplaceAllString`, so we copy its two
 * quirks: an empty match right after a previous match is not replaced, and the replacement is
 * a Go template (`$0`/`${0}` is the match, `$$` a dollar, other `$name` expand to nothing).
 */
export function replaceAll(pattern: string, value: string, replacement: string): string {
  const re = shellPatternToRegExp(pattern, true, false, true);
  let out = "";
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    re.lastIndex = searchPos;
    const match = re.exec(value);
    if (match === null) break;
    const start = match.index;
    const end = start + match[0].length;
    out += value.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandGoTemplate(replacement, match[0]);
    lastMatchEnd = end;
    // Always advance by at least one character (one code point, as Go advances one rune).
    const codePoint = value.codePointAt(searchPos);
    const width = codePoint === undefined ? 1 : codePoint > 0xffff ? 2 : 1;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + value.slice(lastMatchEnd);
}

const NAME_CHAR = /[\p{L}\p{Nd}_]/u;

/** Go's `Regexp.Expand` for a regexp without capture groups. */
function expandGoTemplate(template: string, matched: string): string {
  let out = "";
  let rest = template;
  for (;;) {
    const dollar = rest.indexOf("$");
    if (dollar < 0) break;
    out += rest.slice(0, dollar);
    rest = rest.slice(dollar + 1);
    if (rest.startsWith("$")) {
      out += "$";
      rest = rest.slice(1);
      continue;
    }
    const ref = extractTemplateName(rest);
    if (ref === undefined) {
      out += "$"; // malformed: the dollar is literal text
      continue;
    }
    rest = rest.slice(ref.length);
    if (ref.name === "0") out += matched;
  }
  return out + rest;
}

function extractTemplateName(text: string): { name: string; length: number } | undefined {
  const braced = text.startsWith("{");
  let i = braced ? 1 : 0;
  const start = i;
  while (i < text.length) {
    const ch = String.fromCodePoint(text.codePointAt(i) as number);
    if (!NAME_CHAR.test(ch)) break;
    i += ch.length;
  }
  if (i === start) return undefined;
  const name = text.slice(start, i);
  if (braced) {
    if (text[i] !== "}") return undefined;
    i++;
  }
  return { name, length: i };
}
