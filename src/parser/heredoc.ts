/**
 * Heredoc openers, as BuildKit's heredocsFromLine/ParseHeredoc find them: among the line's
 * shell words (quotes and escapes kept; the line lexer makes them tokens), every word of the
 * form `[n]<<[-]WORD` starts a heredoc whose terminator is WORD with its quotes removed.
 */

export interface HeredocSpec {
  readonly name: string;
  readonly fileDescriptor: number;
  readonly expand: boolean;
  readonly chomp: boolean;
  /** Offset of the `<<` word in the logical line. */
  readonly start: number;
}

const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;

/** The blanks BuildKit's shell lexer splits words on (ASCII only). */
export function isShellSpace(ch: string): boolean {
  return ch === " " || ch === "\t" || ch === "\n" || ch === "\r" || ch === "\v" || ch === "\f";
}

/** Remove quotes and escapes from one word; `keepQuotes` keeps the quote characters. */
function unquote(word: string, keepQuotes: boolean): { value: string; words: number } {
  let out = "";
  let words = 0;
  let inWord = false;
  for (let i = 0; i < word.length; i++) {
    const ch = word[i]!;
    if (isShellSpace(ch)) {
      if (inWord) words++;
      inWord = false;
      continue;
    }
    inWord = true;
    if (ch === "\\") {
      if (i + 1 < word.length) out += word[++i];
    } else if (ch === "'") {
      const close = word.indexOf("'", i + 1);
      const end = close < 0 ? word.length : close;
      out += keepQuotes ? word.slice(i, end + 1) : word.slice(i + 1, end);
      i = end;
    } else if (ch === '"') {
      if (keepQuotes) out += '"';
      let j = i + 1;
      for (; j < word.length && word[j] !== '"'; j++) {
        if (word[j] === "\\" && j + 1 < word.length) j++;
        out += word[j];
      }
      if (keepQuotes && j < word.length) out += '"';
      i = j;
    } else {
      out += ch;
    }
  }
  if (inWord) words++;
  return { value: out, words };
}

function countQuotes(s: string): number {
  let n = 0;
  for (const ch of s) if (ch === "'" || ch === '"') n++;
  return n;
}

/** Does a shell word (quotes kept) run into the end of the line inside a quote? */
function unterminated(word: string): boolean {
  for (let i = 0; i < word.length; i++) {
    const ch = word[i]!;
    if (ch === "\\") i++;
    else if (ch === "'") {
      const close = word.indexOf("'", i + 1);
      if (close < 0) return true;
      i = close;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < word.length && word[j] !== '"') j += word[j] === "\\" ? 2 : 1;
      if (j >= word.length) return true;
      i = j;
    }
  }
  return false;
}

/**
 * The token type of a shell word on a RUN, COPY or ADD line: `heredoc` for a `[n]<<[-]WORD`
 * opener (BuildKit's ParseHeredoc), `heredocUnterminated` for one whose quote never closes,
 * `shellWord` for anything else.
 */
export function heredocWordKind(word: string): "heredoc" | "heredocUnterminated" | "shellWord" {
  if (!word.includes("<<")) return "shellWord";
  const m = HEREDOC_WORD.exec(word);
  if (m === null || m[3]!.length === 0) return "shellWord";
  if (unterminated(word)) return "heredocUnterminated";
  return unquote(m[3]!, false).words === 1 ? "heredoc" : "shellWord";
}

/** The error for a `heredocUnterminated` word. */
export function unterminatedHeredocMessage(word: string): string {
  const rest = HEREDOC_WORD.exec(word)![3]!;
  const quote = rest.includes("'") && (!rest.includes('"') || rest.indexOf("'") < rest.indexOf('"')) ? "single" : "double";
  return `unexpected end of statement while looking for matching ${quote}-quote`;
}

/** What a `heredoc` word opens; `start` is its offset in the logical line. */
export function heredocSpec(word: string, start: number): HeredocSpec {
  const m = HEREDOC_WORD.exec(word)!;
  const rest = m[3]!;
  const plain = unquote(rest, false);
  const raw = unquote(rest, true);
  return {
    name: plain.value,
    fileDescriptor: m[1] === "" ? 0 : Number.parseInt(m[1]!, 10),
    expand: countQuotes(plain.value) === countQuotes(raw.value),
    chomp: m[2] === "-",
    start,
  };
}
