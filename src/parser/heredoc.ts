/**
 * Heredoc detection on an instruction line, as BuildKit's heredocsFromLine/ParseHeredoc do:
 * split the line into shell words (quotes and escapes kept), and every word of the form
 * `[n]<<[-]WORD` starts a heredoc whose terminator is WORD with its quotes removed.
 */

import { LineParseError } from "./line-parser.js";

export interface HeredocSpec {
  readonly name: string;
  readonly fileDescriptor: number;
  readonly expand: boolean;
  readonly chomp: boolean;
  /** Offset of the `<<` word in the logical line. */
  readonly start: number;
}

const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;

function isShellSpace(ch: string): boolean {
  return ch === " " || ch === "\t" || ch === "\n" || ch === "\r" || ch === "\v" || ch === "\f";
}

interface RawWord {
  readonly text: string;
  readonly start: number;
  /** The word runs into the end of the line inside a quote. */
  readonly unterminated: boolean;
}

/**
 * Shell words with quotes and backslash escapes kept (BuildKit uses a backslash here whatever
 * the escape directive says). A word with an unterminated quote runs to the end of the line.
 */
function rawWords(line: string): RawWord[] {
  const words: RawWord[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && isShellSpace(line[i]!)) i++;
    if (i >= n) break;
    const start = i;
    let unterminated = false;
    while (i < n && !isShellSpace(line[i]!)) {
      const ch = line[i]!;
      if (ch === "\\") {
        i += 2;
      } else if (ch === "'") {
        const close = line.indexOf("'", i + 1);
        unterminated = close < 0;
        i = close < 0 ? n : close + 1;
      } else if (ch === '"') {
        let j = i + 1;
        while (j < n && line[j] !== '"') j += line[j] === "\\" ? 2 : 1;
        unterminated = j >= n;
        i = Math.min(j + 1, n);
      } else {
        i++;
      }
    }
    words.push({ text: line.slice(start, Math.min(i, n)), start, unterminated });
  }
  return words;
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

/** The heredocs an instruction line opens, in order. */
export function heredocsFromLine(line: string): HeredocSpec[] {
  const words = rawWords(line);
  const specs: HeredocSpec[] = [];
  for (const w of words) {
    if (!w.text.includes("<<")) continue;
    const m = HEREDOC_WORD.exec(w.text);
    if (m === null) continue;
    const rest = m[3]!;
    if (rest.length === 0) continue;
    if (w.unterminated) {
      const quote = rest.includes("'") && (!rest.includes('"') || rest.indexOf("'") < rest.indexOf('"')) ? "single" : "double";
      throw new LineParseError(`unexpected end of statement while looking for matching ${quote}-quote`, w.start);
    }
    const plain = unquote(rest, false);
    if (plain.words !== 1) continue;
    const raw = unquote(rest, true);
    specs.push({
      name: plain.value,
      fileDescriptor: m[1] === "" ? 0 : Number.parseInt(m[1]!, 10),
      expand: countQuotes(plain.value) === countQuotes(raw.value),
      chomp: m[2] === "-",
      start: w.start,
    });
  }
  return specs;
}
