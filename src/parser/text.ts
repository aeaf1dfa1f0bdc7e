/**
 * Character classes and string helpers that reproduce Go's semantics where BuildKit's parser
 * relies on them (unicode.IsSpace, strings.TrimSpace, strconv.Quote).
 */

/** Go's unicode.IsSpace without the line feed (lines are already split). */
export const GO_SPACE_NO_NL = "\\t\\v\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

/** unicode.IsSpace on a UTF-16 code unit (every Go space is in the BMP). */
export function isGoSpaceCode(c: number): boolean {
  if (c < 128) return c === 32 || (c >= 9 && c <= 13);
  return (
    c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  );
}

/** Index of the first character that is not a Go space, from `from`. */
export function skipGoSpace(s: string, from = 0): number {
  let i = from;
  while (i < s.length && isGoSpaceCode(s.charCodeAt(i))) i++;
  return i;
}

/** Index just after the last character that is not a Go space. */
export function trimGoSpaceEnd(s: string, to = s.length): number {
  let i = to;
  while (i > 0 && isGoSpaceCode(s.charCodeAt(i - 1))) i--;
  return i;
}

/** strings.TrimSpace */
export function goTrimSpace(s: string): string {
  const start = skipGoSpace(s);
  return s.slice(start, Math.max(start, trimGoSpaceEnd(s)));
}

/** The ASCII whitespace of BuildKit's `[\t\v\f\r ]+` splitting regexps. */
export function isAsciiBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 11 || c === 12 || c === 13;
}

const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const PRINTABLE = /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u;

/** Go's strconv.Quote: the quoting BuildKit's AST dump uses for every argument. */
export function goQuote(s: string): string {
  if (PLAIN_ASCII.test(s)) return `"${s}"`;
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (cp) {
      case 0x22: out += '\\"'; continue;
      case 0x5c: out += "\\\\"; continue;
      case 0x07: out += "\\a"; continue;
      case 0x08: out += "\\b"; continue;
      case 0x0c: out += "\\f"; continue;
      case 0x0a: out += "\\n"; continue;
      case 0x0d: out += "\\r"; continue;
      case 0x09: out += "\\t"; continue;
      case 0x0b: out += "\\v"; continue;
    }
    if (cp === 0x20 || (cp > 0x20 && cp < 0x7f)) {
      out += ch;
    } else if (cp < 0x20 || cp === 0x7f) {
      out += `\\x${cp.toString(16).padStart(2, "0")}`;
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      // A lone surrogate cannot come from UTF-8 input; Go would have read U+FFFD.
      out += "\ufffd";
    } else if (PRINTABLE.test(ch)) {
      out += ch;
    } else if (cp < 0x10000) {
      out += `\\u${cp.toString(16).padStart(4, "0")}`;
    } else {
      out += `\\U${cp.toString(16).padStart(8, "0")}`;
    }
  }
  return `${out}"`;
}
