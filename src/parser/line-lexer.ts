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
 * reads their items): nearley's work grows with the tokens of a line. The grammar
 * (grammar/dockerfile.ne) states how these tokens make an instruction. Where a choice depends
 * on the whole rest of the line (is it a JSON array of strings? does the first ENV word hold a
 * `=`?), a rule looks ahead; BuildKit tries one form and falls back to the other. Blank tokens
 * are left out here: nearley never sees them.
 */
import moo from "moo";
import type { EscapeToken } from "./ast.js";
import { heredocWordKind } from "./heredoc.js";
import { GO_SPACE_NO_NL } from "./text.js";

/** A token of an instruction line: moo's fields, `offset` counted in the logical line. */
export interface LineToken {
  type: string;
  /** The token's meaning (flag and word quoting resolved). */
  value: string;
  /** The text as written. */
  text: string;
  offset: number;
  /** A heredoc opener's word, when it runs on into spaces the lexer did not read (see lexer.ts). */
  heredocWord?: string;
}

/** Go's unicode.IsSpace (no line feed: a logical line has none). */
const SP = `[${GO_SPACE_NO_NL}]`;
const NOT_SP = `[^${GO_SPACE_NO_NL}\\n]`;
/** BuildKit's `[\t\v\f\r ]`: keywords, whitespace-delimited lists and the legacy ENV form split on these. */
const AB = "[\\t\\v\\f\\r ]";
const NOT_AB = "[^\\t\\v\\f\\r \\n]";
/** The end of the line (moo compiles with the `m` flag, where `$` also matches before a CR). */
const END = "(?![^\\n])";
const REST = /[^\n]+/;

/** A builder flag: `--` and a word in which quotes group and a backslash escapes (whatever the escape directive). */
const FLAG = `--(?:[^${GO_SPACE_NO_NL}\\n"'\\\\]|\\\\[^\\n]|\\\\${END}|"(?:[^"\\n\\\\]|\\\\[^\\n]|\\\\${END})*(?:"|${END})|'(?:[^'\\n\\\\]|\\\\[^\\n]|\\\\${END})*(?:'|${END}))*`;
/** A flag word that reads `--` once its quotes are removed: the end of the flags. */
const FLAGS_END = `--(?:""|'')*(?:${SP}+|(?:\\\\|["']\\\\?)?${END})`;

const JSON_BLANK = "[ \\t\\r]"; // JSON also allows a line feed, which a logical line never holds
const JSON_STRING = '"(?:[^"\\\\\\x00-\\x1f]|\\\\["\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4})*"';
/** A JSON array of strings that runs to the end of the line (json.Unmarshal into []string). */
const JSON_ARRAY = `\\[${JSON_BLANK}*(?:${JSON_STRING}(?:${JSON_BLANK}*,${JSON_BLANK}*${JSON_STRING})*${JSON_BLANK}*)?\\]${END}`;
/** The string literals of a `json` token, in order. */
export const JSON_STRINGS = new RegExp(JSON_STRING, "g");

/** A word as the shell splits it for heredoc detection: quotes and backslash escapes kept. */
export const SHELL_WORD = `(?:[^ \\t\\n\\r\\v\\f\\\\'"]|\\\\[^\\n]|\\\\${END}|'[^'\\n]*(?:'|${END})|"(?:[^"\\n\\\\]|\\\\[^\\n]|\\\\${END})*(?:"|${END}))+`;

/** BuildKit's parseWords word (ARG, ENV, LABEL): quotes and escapes kept; `noEq` leaves out `=`. */
function quotedWord(e: string, noEq: boolean): string {
  const x = noEq ? "=" : "";
  const any = noEq ? "[^=\\n]" : "[^\\n]";
  return `(?:[^${GO_SPACE_NO_NL}\\n"'${e}${x}]|${e}${any}|${e}${END}|"(?:[^"\\n${e}${x}]|${e}${any}|${e}${END})*(?:"|${END})|'[^'\\n${x}]*(?:'|${END}))+`;
}

function isJSONArray(text: string): boolean {
  try {
    return Array.isArray(JSON.parse(text));
  } catch {
    return false;
  }
}

/** The type prefix of a bracketed text to read again in a words state. */
const BRACKET_WORDS = "bracketWords:";

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
 * The keywords, by family: the token type, the state that reads the family's arguments, and
 * that state one ONBUILD deeper than heredocs are looked for (RUN then reads as CMD, COPY and
 * ADD as VOLUME). BuildKit's dispatch table (parser.go).
 */
const FAMILIES: ReadonlyMap<string, readonly [type: string, state: string, nested: string]> = new Map([
  ...(["cmd", "entrypoint", "shell"].map((k) => [k, ["kwShell", "shell", "shell"]]) as [string, [string, string, string]][]),
  ["run", ["kwRun", "run", "shell"]],
  ["copy", ["kwCopy", "copy", "volume"]],
  ["add", ["kwCopy", "copy", "volume"]],
  ["volume", ["kwVolume", "volume", "volume"]],
  ["from", ["kwList", "list", "list"]],
  ["expose", ["kwList", "list", "list"]],
  ["arg", ["kwArg", "arg", "arg"]],
  ["env", ["kwNameVal", "nameVal", "nameVal"]],
  ["label", ["kwNameVal", "nameVal", "nameVal"]],
  ["healthcheck", ["kwHealth", "health", "health"]],
  ...(["maintainer", "stopsignal", "user", "workdir"].map((k) => [k, ["kwString", "string", "string"]]) as [string, [string, string, string]][]),
  ["onbuild", ["kwOnbuild", "keyword", "keyword"]],
]);
const OTHER = ["kwOther", "other", "other"] as const;

function family(keyword: string): readonly [string, string, string] {
  return FAMILIES.get(keyword) ?? FAMILIES.get(keyword.toLowerCase()) ?? OTHER;
}

function compileLineLexer(esc: EscapeToken): moo.Lexer {
  const e = esc === "\\" ? "\\\\" : "`";
  const blank = { match: new RegExp(`${SP}+`) };
  const shellBlank = { match: /[ \t\r\v\f]+/, type: () => "blank" };
  const json = { match: new RegExp(JSON_ARRAY) };
  /**
   * A bracketed text that is not an array of strings: an error if it is JSON, else `other`
   * (for RUN, COPY and ADD: a `words` state when the text holds `<<`, see lineTokens).
   */
  const bracket = (other: string, words?: string): moo.Rule => ({
    match: new RegExp(`\\[[^\\n]*\\]${END}`),
    type: (text: string) => (isJSONArray(text) ? "notStrings" : words !== undefined && text.includes("<<") ? `${BRACKET_WORDS}${words}` : other),
  });
  // BuildKit looks for heredoc openers among the shell words of the whole line, split on
  // ASCII blanks only: a word that follows a non-ASCII space is glued to what precedes it.
  const heredocWord = (next: string): moo.Rule => ({ match: new RegExp(`(?<=[ \\t\\r\\v\\f])(?=\\d*<<)${SHELL_WORD}`), type: heredocWordKind, next });
  const shellWord = (next: string): moo.Rule => ({ match: new RegExp(SHELL_WORD), next });
  const word = { match: new RegExp(quotedWord(e, false)), value: (raw: string): string => wordValue(raw, esc) };
  const pairOrWord = { ...word, type: (t: string) => (t.includes("=") ? "pair" : "word") };
  // An escape character ending the line, alone, is no word (parseWords drops it); as the
  // first token it still marks where the arguments start.
  const danglingEscape = { match: new RegExp(`${e}${END}`) };
  const laterDanglingEscape = { ...danglingEscape, type: () => "blank" };
  const legacyAhead = `(?=${quotedWord(e, true)}(?:${SP}|${END}))`;
  return moo.states({
    // lineTokens moves on to the family's state after the keyword and its flags.
    keyword: { blank, keyword: new RegExp(`${NOT_AB}+`) },
    flags: {
      blank,
      flagsEnd: new RegExp(FLAGS_END),
      flag: { match: new RegExp(FLAG), value: flagValue },
    },
    // CMD, ENTRYPOINT, SHELL; HEALTHCHECK's command.
    shell: { blank, json, bracket: bracket("shellText"), shellText: REST },
    run: {
      blank,
      json,
      bracket: bracket("shellText", "runWords"),
      // A text without `<<`: anything but `<`, then single `<`s each followed by the same.
      shellText: new RegExp(`(?=[^\\n])[^\\n<]*(?:<(?!<)[^\\n<]*)*${END}`),
      heredocWord: heredocWord("runWords"),
      shellWord: shellWord("runWords"),
    },
    runWords: { shellBlank, heredocWord: heredocWord("runWords"), shellWord: shellWord("runWords") },
    copy: {
      blank,
      json,
      bracket: bracket("list", "copyWords"),
      // A text without `<<` is split on blanks, one with `<<` into shell words.
      list: new RegExp(`(?![^\\n]*<<)[^\\n]+`),
      heredocWord: heredocWord("copyWords"),
      shellWord: shellWord("copyWords"),
    },
    copyWords: { shellBlank, heredocWord: heredocWord("copyWords"), shellWord: shellWord("copyWords") },
    volume: { blank, json, bracket: bracket("list"), list: REST },
    list: { list: REST },
    arg: { blank, danglingEscape, word: { ...word, next: "words" } },
    words: { blank, laterDanglingEscape, word },
    nameVal: {
      blank,
      danglingEscape,
      legacyKeyOnly: new RegExp(`${legacyAhead}${NOT_AB}+${END}`),
      legacyKey: { match: new RegExp(`${legacyAhead}${NOT_AB}+`), next: "legacy" },
      word: { ...pairOrWord, next: "pairs" },
    },
    legacy: { blank: { match: new RegExp(`${AB}+`) }, legacyValue: REST },
    pairs: { blank, laterDanglingEscape, word: pairOrWord },
    health: { blank, healthType: { match: new RegExp(`${NOT_SP}+`), next: "shell" } },
    string: { text: REST },
    other: { ignored: REST },
  } as unknown as { [state: string]: moo.Rules });
}

const LINE_START = Object.freeze({ line: 1, col: 1, state: "keyword" }) as moo.LexerState;

/** Each escape character's lexer, compiled at its first use. */
const LINE_LEXERS: Partial<Record<EscapeToken, moo.Lexer>> = {};

/** The tokens of an instruction line (trimmed at its end), blanks left out. */
export function lineTokens(text: string, esc: EscapeToken, out: LineToken[]): void {
  const lexer = (LINE_LEXERS[esc] ??= compileLineLexer(esc));
  lexer.reset(text, LINE_START);
  let base = 0;
  // After a keyword: the state of its family's arguments, once the flags are read.
  let args: string | undefined;
  let depth = 0;
  for (let t = lexer.next(); t !== undefined; t = lexer.next()) {
    const type = t.type!;
    if (type === "blank") {
      // BuildKit's extractBuilderFlags: words starting with `--` are flags, up to the first other word.
      if (args !== undefined) {
        const at = t.offset + t.text.length;
        if (text.charCodeAt(at) === 45 && text.charCodeAt(at + 1) === 45) lexer.setState("flags");
        else {
          lexer.setState(args);
          args = undefined;
        }
      }
      continue;
    }
    if (type === "keyword") {
      const [kind, state, nested] = family(t.text);
      t.type = kind;
      args = depth < 2 ? state : nested;
      if (kind === "kwOnbuild") depth++;
    } else if (type === "flagsEnd") {
      lexer.setState(args!);
      args = undefined;
    } else if (type.startsWith(BRACKET_WORDS)) {
      // Not JSON after all: BuildKit falls back to the shell form, whose words may open
      // heredocs. The bracketed text runs to the end of the line: read it again as words.
      base = t.offset;
      lexer.reset(t.text, { line: 1, col: 1, state: type.slice(BRACKET_WORDS.length) } as moo.LexerState);
      continue;
    }
    if (base !== 0) t.offset += base;
    out.push(t as unknown as LineToken);
  }
}
