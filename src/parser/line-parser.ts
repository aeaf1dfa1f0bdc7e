/**
 * BuildKit's line parsers (frontend/dockerfile/parser/{split_command,line_parsers}.go),
 * reproduced on a logical line (continuations already joined), with offsets kept so that every
 * flag and argument can point back into the source. Offsets here are indexes into the logical
 * line; `ast-builder.ts` maps them to source positions.
 */
import { isAsciiBlank, isGoSpaceCode, skipGoSpace, trimGoSpaceEnd } from "./text.js";

/** A word of the logical line: its value and the [start, end) span of its raw text. */
export interface Word {
  readonly value: string;
  readonly start: number;
  readonly end: number;
}

/** A logical line split into keyword, flags and the argument text (BuildKit's splitCommand). */
export interface SplitCommand {
  readonly keyword: Word;
  readonly flags: Word[];
  /** [argsStart, argsEnd): the argument text, trimmed (TrimSpace). */
  readonly argsStart: number;
  readonly argsEnd: number;
}

/** The arguments of one instruction, split by its line parser. */
export interface ParsedArgs {
  readonly args: Word[];
  readonly json: boolean;
  /** ONBUILD's nested instruction, as [start, end) of the logical line. */
  readonly subCommand?: { readonly start: number; readonly end: number };
}

/** A line-parser error: the message and the offset it concerns. */
export class LineParseError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Instructions whose arguments BuildKit parses; anything else is kept with no arguments. */
export const PARSED_INSTRUCTIONS: ReadonlySet<string> = new Set([
  "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
  "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
]);

export const NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only";

/** splitCommand: keyword = first word of the trimmed line, then builder flags, then the rest. */
export function splitCommand(line: string, from: number, to: number): SplitCommand {
  const start = skipGoSpace(line, from);
  const end = Math.max(start, trimGoSpaceEnd(line, to));
  let i = start;
  // BuildKit splits the keyword off with `[\t\v\f\r ]+`, not unicode spaces.
  while (i < end && !isAsciiBlank(line.charCodeAt(i))) i++;
  const keyword: Word = { value: line.slice(start, i), start, end: i };
  let j = i;
  while (j < end && isAsciiBlank(line.charCodeAt(j))) j++;
  if (j >= end) return { keyword, flags: [], argsStart: end, argsEnd: end };
  const { flags, restStart } = extractBuilderFlags(line, j, end);
  const argsStart = Math.min(skipGoSpace(line, restStart), end);
  const argsEnd = Math.max(argsStart, trimGoSpaceEnd(line, end));
  return { keyword, flags, argsStart, argsEnd };
}

const SPACES = 0;
const WORD = 1;
const QUOTE = 2;

/**
 * extractBuilderFlags: words starting with `--` before the arguments; quotes are removed and a
 * backslash escapes the next character (always backslash, whatever the escape directive says).
 * A lone `--` ends the flags. BuildKit walks bytes here; we walk UTF-16 units, which only
 * differs for non-ASCII flag values (BuildKit mangles those into Latin-1 runes).
 */
function extractBuilderFlags(line: string, from: number, end: number): { flags: Word[]; restStart: number } {
  const flags: Word[] = [];
  let phase = SPACES;
  let word = "";
  let quote = "";
  let blankOK = false;
  let wordStart = from;
  for (let pos = from; pos <= end; pos++) {
    const ch = pos < end ? line[pos]! : "";
    if (phase === SPACES) {
      if (pos === end) break;
      if (isGoSpaceCode(line.charCodeAt(pos))) continue;
      if (ch !== "-" || pos + 1 === end || line[pos + 1] !== "-") return { flags, restStart: pos };
      phase = WORD;
      wordStart = pos;
    }
    if (pos === end) {
      if (word !== "--" && (blankOK || word.length > 0)) flags.push({ value: word, start: wordStart, end: pos });
      break;
    }
    if (phase === WORD) {
      if (isGoSpaceCode(line.charCodeAt(pos))) {
        phase = SPACES;
        if (word === "--") return { flags, restStart: pos };
        if (blankOK || word.length > 0) flags.push({ value: word, start: wordStart, end: pos });
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = QUOTE;
        continue;
      }
      if (ch === "\\") {
        if (pos + 1 === end) continue;
        pos++;
        word += line[pos]!;
        continue;
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      phase = WORD;
      continue;
    }
    if (ch === "\\") {
      if (pos + 1 === end) {
        phase = WORD;
        continue;
      }
      pos++;
      word += line[pos]!;
      continue;
    }
    word += ch;
  }
  return { flags, restStart: end };
}

/** Dispatch to the instruction's line parser (BuildKit's `dispatch` table). */
export function parseArguments(name: string, line: string, start: number, end: number, escapeToken: string): ParsedArgs {
  switch (name) {
    case "add":
    case "copy":
    case "volume":
      return parseMaybeJSONToList(line, start, end);
    case "arg":
      return { args: parseWords(line, start, end, escapeToken), json: false };
    case "cmd":
    case "entrypoint":
    case "run":
    case "shell":
      return parseMaybeJSON(line, start, end);
    case "env":
      return { args: parseNameVal(line, start, end, "ENV", escapeToken), json: false };
    case "label":
      return { args: parseNameVal(line, start, end, "LABEL", escapeToken), json: false };
    case "expose":
    case "from":
      return { args: parseStringsWhitespaceDelimited(line, start, end), json: false };
    case "healthcheck":
      return parseHealthConfig(line, start, end);
    case "maintainer":
    case "stopsignal":
    case "user":
    case "workdir":
      return { args: start < end ? [{ value: line.slice(start, end), start, end }] : [], json: false };
    case "onbuild":
      return start < end ? { args: [], json: false, subCommand: { start, end } } : { args: [], json: false };
    default:
      return { args: [], json: false };
  }
}

/** Split on runs of `[\t\v\f\r ]` (BuildKit's reWhitespace). */
function parseStringsWhitespaceDelimited(line: string, start: number, end: number): Word[] {
  const words: Word[] = [];
  if (start >= end) return words;
  let i = start;
  while (i <= end) {
    let j = i;
    while (j < end && !isAsciiBlank(line.charCodeAt(j))) j++;
    words.push({ value: line.slice(i, j), start: i, end: j });
    if (j >= end) break;
    while (j < end && isAsciiBlank(line.charCodeAt(j))) j++;
    i = j;
    if (i === end) {
      // A trailing unicode-space-free blank run cannot happen (the text is trimmed), but Go's
      // Split would yield an empty last element here.
      words.push({ value: "", start: i, end: i });
      break;
    }
  }
  return words;
}

type JsonResult = { kind: "ok"; args: Word[] } | { kind: "invalid" } | { kind: "notStrings" };

/** parseJSON: a JSON array of strings (json.Unmarshal semantics: nothing but blanks may follow). */
function parseJSON(line: string, start: number, end: number): JsonResult {
  const s = skipGoSpace(line, start);
  if (s >= end || line[s] !== "[") return { kind: "invalid" };
  // Most non-JSON lines fail this cheap test, sparing JSON.parse's exception.
  if (line.charCodeAt(trimGoSpaceEnd(line, end) - 1) !== 93 /* ] */) return { kind: "invalid" };
  const text = line.slice(s, end);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: "invalid" };
  }
  if (!Array.isArray(value)) return { kind: "invalid" };
  for (const v of value) if (typeof v !== "string") return { kind: "notStrings" };
  const strings = value as string[];
  // Locate each string literal for its range: the text is a valid array of strings, so every
  // unescaped double quote opens or closes one.
  const args: Word[] = [];
  let k = 0;
  for (let i = s; i < end && k < strings.length; i++) {
    if (line[i] !== '"') continue;
    let j = i + 1;
    while (j < end && line[j] !== '"') j += line[j] === "\\" ? 2 : 1;
    // Go's decoder turns unpaired surrogate escapes into U+FFFD.
    args.push({ value: toWellFormed(strings[k]!), start: i, end: j + 1 });
    k++;
    i = j;
  }
  return { kind: "ok", args };
}

/** The exec-form arguments if the text is a JSON array of strings, else undefined. */
export function parseJSONArgs(line: string, start: number, end: number): Word[] | undefined {
  const r = parseJSON(line, start, end);
  return r.kind === "ok" ? r.args : undefined;
}

function parseMaybeJSON(line: string, start: number, end: number): ParsedArgs {
  if (start >= end) return { args: [], json: false };
  const r = parseJSON(line, start, end);
  if (r.kind === "ok") return { args: r.args, json: true };
  if (r.kind === "notStrings") throw new LineParseError(NOT_STRING_ARRAY, start);
  return { args: [{ value: line.slice(start, end), start, end }], json: false };
}

function parseMaybeJSONToList(line: string, start: number, end: number): ParsedArgs {
  const r = parseJSON(line, start, end);
  if (r.kind === "ok") return { args: r.args, json: true };
  if (r.kind === "notStrings") throw new LineParseError(NOT_STRING_ARRAY, start);
  return { args: parseStringsWhitespaceDelimited(line, start, end), json: false };
}

/** parseHealthConfig: the type word (CMD, NONE), then the command as parseMaybeJSON. */
function parseHealthConfig(line: string, start: number, end: number): ParsedArgs {
  let sep = start;
  while (sep < end && !isGoSpaceCode(line.charCodeAt(sep))) sep++;
  if (sep === start) return { args: [], json: false };
  let next = sep;
  while (next < end && isGoSpaceCode(line.charCodeAt(next))) next++;
  const typ: Word = { value: line.slice(start, sep), start, end: sep };
  const cmd = parseMaybeJSON(line, next, end);
  return { args: [typ, ...cmd.args], json: cmd.json };
}

/**
 * parseWords: words separated by unicode spaces; quotes and escapes are kept in the word (they
 * are removed later, by word expansion); an escape token protects the next character, except
 * inside single quotes.
 */
export function parseWords(line: string, start: number, end: number, esc: string): Word[] {
  const words: Word[] = [];
  let phase = SPACES;
  let word = "";
  let quote = "";
  let blankOK = false;
  let wordStart = start;
  for (let pos = start; pos <= end; ) {
    let ch = pos < end ? line[pos]! : "";
    if (phase === SPACES) {
      if (pos === end) break;
      if (isGoSpaceCode(line.charCodeAt(pos))) {
        pos++;
        continue;
      }
      phase = WORD;
      wordStart = pos;
    }
    if (pos === end) {
      if (blankOK || word.length > 0) words.push({ value: word, start: wordStart, end: pos });
      break;
    }
    if (phase === WORD) {
      if (isGoSpaceCode(line.charCodeAt(pos))) {
        phase = SPACES;
        if (blankOK || word.length > 0) words.push({ value: word, start: wordStart, end: pos });
        word = "";
        blankOK = false;
        pos++;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = QUOTE;
      }
      if (ch === esc) {
        if (pos + 1 === end) {
          pos++;
          continue; // an escape token at the very end is dropped
        }
        word += ch;
        pos++;
        ch = line[pos]!;
      }
      word += ch;
      pos++;
      continue;
    }
    if (ch === quote) phase = WORD;
    if (ch === esc && quote !== "'") {
      if (pos + 1 === end) {
        phase = WORD;
        pos++;
        continue;
      }
      pos++;
      word += ch;
      ch = line[pos]!;
    }
    word += ch;
    pos++;
  }
  return words;
}

/**
 * parseNameVal (ENV, LABEL): `k=v k2="v 2"` gives triples (k, v, "="); the legacy `ENV k v w`
 * gives one triple (k, "v w", "") where the value is the raw rest of the line.
 */
function parseNameVal(line: string, start: number, end: number, key: string, esc: string): Word[] {
  const words = parseWords(line, start, end, esc);
  if (words.length === 0) return [];
  const out: Word[] = [];
  if (!words[0]!.value.includes("=")) {
    let i = start;
    while (i < end && !isAsciiBlank(line.charCodeAt(i))) i++;
    let j = i;
    while (j < end && isAsciiBlank(line.charCodeAt(j))) j++;
    if (i >= end) throw new LineParseError(`${key} must have two arguments`, start);
    out.push({ value: line.slice(start, i), start, end: i });
    out.push({ value: line.slice(j, end), start: j, end });
    out.push({ value: "", start: i, end: i });
    return out;
  }
  for (const w of words) {
    const eq = w.value.indexOf("=");
    if (eq < 0) {
      throw new LineParseError(`Syntax error - can't find = in ${JSON.stringify(w.value)}. Must be of the form: name=value`, w.start);
    }
    const eqAt = w.start + eq;
    out.push({ value: w.value.slice(0, eq), start: w.start, end: eqAt });
    out.push({ value: w.value.slice(eq + 1), start: eqAt + 1, end: w.end });
    out.push({ value: "=", start: eqAt, end: eqAt + 1 });
  }
  return out;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function toWellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, "\ufffd");
}
