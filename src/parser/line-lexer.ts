/**
 * The tokens of one instruction line (continuations already joined, trailing spaces trimmed):
 * a moo lexer whose states follow BuildKit's split of a line (split_command.go,
 * line_parsers.go). The keyword's family picks the state that reads its arguments, after the
 * builder flags (one `flags` state, shared by the families):
 *
 * - CMD, ENTRYPOINT, SHELL: a JSON array of strings, else one shell text;
 * - RUN: the same, but a shell text holding `<<` is read as shell words, so that heredoc
 *   openers are tokens (BuildKit looks for them on RUN, COPY and ADD, also under ONBUILD, but
 *   not under ONBUILD's ONBUILD);
 * - COPY, ADD: a JSON array, else a list split on blanks (shell words when the text holds `<<`);
 * - VOLUME: a JSON array, else a list split on blanks; FROM, EXPOSE: a list split on blanks;
 * - ARG: shell-quoted words; ENV, LABEL: `key=value` words, or the legacy `key value`;
 * - HEALTHCHECK: a type word, then as CMD;
 * - USER, WORKDIR, STOPSIGNAL, MAINTAINER: one text; ONBUILD: another instruction;
 * - any other keyword: one text, which BuildKit ignores.
 *
 * A JSON array and a blank-split list are one token each (`json`, `list`; grammar-actions.ts
 * reads their items), and so is a run of flags, of ARG/ENV/LABEL words or of shell words
 * between heredoc openers (`groupRuns`): nearley's work grows with the tokens of a line. The grammar
 * (grammar/dockerfile.ne) states how these tokens make an instruction. Where a choice depends
 * on the whole rest of the line (is it a JSON array of strings? does the first ENV word hold a
 * `=`?), a rule looks ahead; BuildKit tries one form and falls back to the other. Blank tokens
 * are left out here: nearley never sees them.
 */
import type moo from "moo";
import type { EscapeToken } from "./ast.js";
import { heredocWordKind } from "./heredoc.js";
import { compileStates, type Rule, type States } from "./moo-states.js";
import { GO_SPACE_NO_NL, isAsciiBlank } from "./text.js";

/** A token of an instruction line: moo's fields, `offset` counted in the logical line. */
export interface LineToken {
  type: string;
  /** The token's meaning (a keyword without the blanks after it; flag and word quoting resolved). */
  value: string;
  /** The text as written. */
  text: string;
  offset: number;
  /** A heredoc opener's word, when it runs on into spaces the lexer did not read (see lexer.ts). */
  heredocWord?: string;
  /** A run's tokens (`groupRuns`). */
  parts?: LineToken[];
}

/** Go's unicode.IsSpace (no line feed: a logical line has none). */
const SP = `[${GO_SPACE_NO_NL}]`;
const NOT_SP = `[^${GO_SPACE_NO_NL}\\n]`;
/** BuildKit's `[\t\v\f\r ]`: keywords, whitespace-delimited lists and the legacy ENV form split on these. */
const AB = "[\\t\\v\\f\\r ]";
const NOT_AB = "[^\\t\\v\\f\\r \\n]";
/** The end of the line (moo compiles with the `m` flag, where `$` also matches before a CR). */
const END = "(?![^\\n])";
const REST = "[^\\n]+";

/** A builder flag: `--` and a word in which quotes group and a backslash escapes (whatever the escape directive). */
const FLAG = `--(?:[^${GO_SPACE_NO_NL}\\n"'\\\\]|\\\\[^\\n]|\\\\${END}|"(?:[^"\\n\\\\]|\\\\[^\\n]|\\\\${END})*(?:"|${END})|'(?:[^'\\n\\\\]|\\\\[^\\n]|\\\\${END})*(?:'|${END}))*`;
/** A flag word that reads `--` once its quotes are removed: the end of the flags. */
const FLAGS_END = `--(?:""|'')*(?:${SP}+|(?:\\\\|["']\\\\?)?${END})`;

const JSON_STRING = '"(?:[^"\\\\\\x00-\\x1f]|\\\\["\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4})*"';
/** The string literals of a `json` token, in order. */
export const JSON_STRINGS = new RegExp(JSON_STRING, "g");

/** A word as the shell splits it for heredoc detection: quotes and backslash escapes kept. */
export const SHELL_WORD = `(?:[^ \\t\\n\\r\\v\\f\\\\'"]|\\\\[^\\n]|\\\\${END}|'[^'\\n]*(?:'|${END})|"(?:[^"\\n\\\\]|\\\\[^\\n]|\\\\${END})*(?:"|${END}))+`;

/** BuildKit's parseWords word (ARG, ENV, LABEL): quotes and escapes kept. */
function quotedWord(e: string): string {
  return `(?:[^${GO_SPACE_NO_NL}\\n"'${e}]|${e}[^\\n]|${e}${END}|"(?:[^"\\n${e}]|${e}[^\\n]|${e}${END})*(?:"|${END})|'[^'\\n]*(?:'|${END}))+`;
}

const JSON_START = /^\[[ \t\r]*(?:["[{\]\d-]|true|false|null)/;

/** `json` for a JSON array of strings, `notStrings` for another JSON array (BuildKit's parseJSON). */
function bracketKind(text: string): "json" | "notStrings" | undefined {
  // What cannot start a JSON value fails here, sparing JSON.parse's exception.
  if (!JSON_START.test(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  for (const v of value) if (typeof v !== "string") return "notStrings";
  return "json";
}

/** The type of a token whose text to the end of the line is read again, in the state named after `~`. */
const AGAIN = 126; // ~
const SHELL_WORDS = "~shellWords";
const LEGACY = "~legacy";

/**
 * A flag's value as extractBuilderFlags reads it: quotes removed, a backslash takes the next
 * character literally (one at the very end is dropped).
 */
function flagValue(raw: string): string {
  if (!/["'\\]/.test(raw)) return raw;
  let out = "";
  let quote = "";
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === "\\") {
      if (i + 1 < raw.length) out += raw[++i];
    } else if (quote === "" && (ch === "'" || ch === '"')) {
      quote = ch;
    } else if (ch === quote) {
      quote = "";
    } else {
      out += ch;
    }
  }
  return out;
}

/** A parseWords word's value: as written, but an escape character ending the line is dropped. */
function wordValue(raw: string, esc: string): string {
  if (!raw.endsWith(esc)) return raw;
  let quote = "";
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (quote === "") {
      if (ch === "'" || ch === '"') quote = ch;
      else if (ch === esc) {
        if (i + 1 === raw.length) return raw.slice(0, -1);
        i++;
      }
    } else if (ch === quote) {
      quote = "";
    } else if (ch === esc && quote !== "'") {
      if (i + 1 === raw.length) return raw.slice(0, -1);
      i++;
    }
  }
  return raw;
}

/**
 * The keywords (any case), by family: the token type, the state that reads the family's
 * arguments, and that state one ONBUILD deeper than heredocs are looked for (RUN then reads as
 * CMD, COPY and ADD as VOLUME). BuildKit's dispatch table (parser.go).
 */
interface Family {
  readonly type: string;
  readonly state: string;
  readonly nested: string;
}

const FAMILIES = new Map<string, Family>();
function family(type: string, state: string, nested: string, ...keywords: string[]): void {
  const f = { type, state, nested };
  for (const k of keywords) FAMILIES.set(k, f).set(k.toUpperCase(), f);
}
family("kwShell", "shell", "shell", "cmd", "entrypoint", "shell");
family("kwRun", "run", "shell", "run");
family("kwCopy", "copy", "volume", "copy", "add");
family("kwVolume", "volume", "volume", "volume");
family("kwList", "list", "list", "from", "expose");
family("kwArg", "arg", "arg", "arg");
family("kwNameVal", "nameVal", "nameVal", "env", "label");
family("kwHealth", "health", "health", "healthcheck");
family("kwString", "string", "string", "maintainer", "stopsignal", "user", "workdir");
family("kwOnbuild", "keyword", "keyword", "onbuild");
const OTHER: Family = { type: "kwOther", state: "other", nested: "other" };
const ONBUILD = FAMILIES.get("onbuild");

/** A keyword token's word: up to the first ASCII blank. */
function keywordValue(text: string): string {
  let i = 0;
  while (i < text.length && !isAsciiBlank(text.charCodeAt(i))) i++;
  return i === text.length ? text : text.slice(0, i);
}

/** The line lexer's states for an escape character (`keyword` first). */
export function lineStates(esc: EscapeToken): States {
  const e = esc === "\\" ? "\\\\" : "`";
  const blank = { match: `${SP}+` };
  /**
   * A bracketed text running to the end of the line: an exec form if it is a JSON array of
   * strings (json.Unmarshal), an error if it is any other JSON array, else `other` (for RUN,
   * COPY and ADD, shell words when the text holds `<<`).
   */
  const bracket = (other: string, words = false): Rule => ({
    match: `\\[[^\\n]*\\]${END}`,
    type: (text: string) => bracketKind(text) ?? (words && text.includes("<<") ? SHELL_WORDS : other),
  });
  const word = { match: quotedWord(e), value: (raw: string): string => wordValue(raw, esc) };
  const pairOrWord = { ...word, type: (t: string) => (t.includes("=") ? "pair" : "word") };
  // An escape character ending the line, alone, is no word (parseWords drops it); as the
  // first token it still marks where the arguments start.
  const danglingEscape = { match: `${e}${END}` };
  const laterDanglingEscape = { ...danglingEscape, type: () => "blank" };
  return {
    // The keyword and the blanks after it (blanks before it start a continued line); lineTokens
    // moves on to the family's state after the keyword and its flags.
    keyword: { blank, keyword: { match: `${NOT_AB}+${SP}*`, value: keywordValue } },
    flags: {
      blank,
      flagsEnd: FLAGS_END,
      flag: { match: FLAG, value: flagValue },
    },
    // CMD, ENTRYPOINT, SHELL; HEALTHCHECK's command.
    shell: { blank, bracket: bracket("shellText"), shellText: REST },
    // RUN, COPY and ADD: a text holding `<<` is read again as shell words, heredoc openers
    // among them.
    run: { blank, bracket: bracket("shellText", true), shellText: { match: REST, type: (t: string) => (t.includes("<<") ? SHELL_WORDS : "shellText") } },
    copy: { blank, bracket: bracket("list", true), list: { match: REST, type: (t: string) => (t.includes("<<") ? SHELL_WORDS : "list") } },
    // BuildKit looks for heredoc openers among the shell words of the whole line, split on
    // ASCII blanks only: a word that follows a non-ASCII space is glued to what precedes it.
    shellWords: {
      blank: "[ \\t\\r\\v\\f]+",
      heredocWord: { match: `(?<=[ \\t\\r\\v\\f])(?=\\d*<<)${SHELL_WORD}`, type: heredocWordKind },
      // A word with the blanks after it (one moo token less per word; the line has no blanks
      // at its end, and heredocWord's look-behind reads the text, not the tokens).
      shellWord: `${SHELL_WORD}[ \\t\\r\\v\\f]*`,
    },
    volume: { blank, bracket: bracket("list"), list: REST },
    list: { list: REST },
    // ARG, ENV, LABEL: quoted words, `pair`s when they hold `=`. For ENV and LABEL, a first
    // word without `=` makes the line the legacy `key value`, read again.
    arg: { blank, danglingEscape, word: { ...pairOrWord, next: "words" } },
    nameVal: { blank, danglingEscape, word: { ...word, type: (t: string) => (t.includes("=") ? "pair" : LEGACY), next: "words" } },
    words: { blank, laterDanglingEscape, word: pairOrWord },
    legacy: { legacyKey: { match: `${NOT_AB}+`, next: "legacyValue" } },
    legacyValue: { blank: { match: `${AB}+` }, legacyValue: REST },
    health: { blank, healthType: { match: `${NOT_SP}+`, next: "shell" } },
    string: { text: REST },
    other: { ignored: REST },
  };
}

const LINE_START = Object.freeze({ line: 1, col: 1, state: "keyword" }) as moo.LexerState;

/** Each escape character's lexer, compiled at its first use. */
const LINE_LEXERS: Partial<Record<EscapeToken, moo.Lexer>> = {};

/** The tokens of an instruction line (trimmed at its end), blanks left out. */
export function lineTokens(text: string, esc: EscapeToken, out: LineToken[]): void {
  const lexer = (LINE_LEXERS[esc] ??= compileStates(lineStates(esc), "keyword"));
  lexer.reset(text, LINE_START);
  // The text the lexer reads, from `base` on.
  let rest = text;
  let base = 0;
  // After a keyword: the state of its family's arguments, once the flags are read.
  let args: string | undefined;
  let depth = 0;
  for (let t = lexer.next(); t !== undefined; t = lexer.next()) {
    const type = t.type!;
    if (type === "blank") {
      if (args !== undefined) args = flagsOrArgs(lexer, rest, t.offset + t.text.length, args);
      continue;
    }
    if (type === "keyword") {
      const f = FAMILIES.get(t.value) ?? FAMILIES.get(t.value.toLowerCase()) ?? OTHER;
      t.type = f.type;
      if (f === ONBUILD) depth++;
      args = flagsOrArgs(lexer, rest, t.offset + t.text.length, depth < 2 ? f.state : f.nested);
    } else if (type === "flagsEnd") {
      lexer.setState(args!);
      args = undefined;
    } else if (type.charCodeAt(0) === AGAIN) {
      // BuildKit tries one form and falls back to another: a bracketed text that is not JSON
      // is shell words when it holds `<<`; an ENV word without `=` makes the legacy form.
      // Shell words start at the blank before them, which heredocWord's look-behind reads.
      const from = type === SHELL_WORDS && t.offset > 0 && isAsciiBlank(rest.charCodeAt(t.offset - 1)) ? t.offset - 1 : t.offset;
      base += from;
      rest = rest.slice(from);
      lexer.reset(rest, { line: 1, col: 1, state: type.slice(1) } as moo.LexerState);
      continue;
    }
    if (base !== 0) t.offset += base;
    out.push(t as unknown as LineToken);
  }
}

/**
 * After a keyword or a flag, at `at`: BuildKit's extractBuilderFlags reads words starting with
 * `--` as flags, up to the first other word. Returns the arguments' state while it is pending.
 */
function flagsOrArgs(lexer: moo.Lexer, text: string, at: number, args: string): string | undefined {
  if (text.charCodeAt(at) === 45 && text.charCodeAt(at + 1) === 45) {
    lexer.setState("flags");
    return args;
  }
  lexer.setState(args);
  return undefined;
}

/** The type of a run of tokens of these types. */
const RUNS: Readonly<Record<string, string>> = { flag: "flags", word: "words", pair: "words", shellWord: "shellWords" };

/**
 * Each run of flags (`flags`), of ARG, ENV or LABEL words (`words`) or of shell words between
 * heredoc openers (`shellWords`) in `tokens` from `from` on made one token, whose `parts` are
 * the run's tokens: the grammar reads a run as one token (nearley's work per token is far
 * more than moo's).
 */
export function groupRuns(tokens: LineToken[], from: number): void {
  let to = from;
  let run: LineToken | undefined;
  for (let i = from; i < tokens.length; i++) {
    const t = tokens[i]!;
    const type = RUNS[t.type];
    if (type === undefined) {
      run = undefined;
      tokens[to++] = t;
    } else if (run !== undefined && run.type === type) {
      run.parts!.push(t);
    } else {
      run = { type, value: "", text: "", offset: t.offset, parts: [t] };
      tokens[to++] = run;
    }
  }
  tokens.length = to;
}
