/**
 * The tokens of one instruction line (continuations already joined, trailing spaces trimmed):
 * a moo lexer whose states follow BuildKit's split of a line (split_command.go,
 * line_parsers.go). The keyword picks the instruction family's state; every family reads
 * builder flags first, then its argument form:
 *
 * - CMD, ENTRYPOINT, SHELL: a JSON array of strings, else one shell text;
 * - RUN: the same, but a shell text holding `<<` is read as shell words, so that heredoc
 *   openers are tokens (BuildKit looks for them on RUN, COPY and ADD, also under ONBUILD, but
 *   not under ONBUILD's ONBUILD);
 * - COPY, ADD: a JSON array, else words split on blanks (shell words when the text holds `<<`);
 * - VOLUME: a JSON array, else words split on blanks; FROM, EXPOSE: words split on blanks;
 * - ARG: shell-quoted words; ENV, LABEL: `key=value` words, or the legacy `key value`;
 * - HEALTHCHECK: a type word, then as CMD;
 * - USER, WORKDIR, STOPSIGNAL, MAINTAINER: one text; ONBUILD: another instruction;
 * - any other keyword: one text, which BuildKit ignores.
 *
 * The grammar (grammar/dockerfile.ne) states how these tokens make an instruction. Where a
 * choice depends on the whole rest of the line (is it a JSON array of strings? does the first
 * ENV word hold a `=`?), a rule looks ahead; BuildKit tries one form and falls back to the other.
 * Blank tokens (`blank`, `jsonBlank`) are left out here: nearley never sees them.
 */
import moo from "moo";
import type { EscapeToken } from "./ast.js";
import { heredocWordKind } from "./heredoc.js";
import { GO_SPACE_NO_NL } from "./text.js";

/** A token of an instruction line: moo's fields, `offset` counted in the logical line. */
export interface LineToken {
  type: string;
  /** The token's meaning (flag and word quoting resolved, JSON strings decoded). */
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

/** A keyword, any case, ending where the first word does. */
function keywords(...words: string[]): RegExp {
  const alts = words.map((w) => [...w].map((c) => `[${c}${c.toUpperCase()}]`).join(""));
  return new RegExp(`(?:${alts.join("|")})(?!${NOT_AB})`);
}

/** A builder flag: `--` and a word in which quotes group and a backslash escapes (whatever the escape directive). */
const FLAG = `--(?:[^${GO_SPACE_NO_NL}\\n"'\\\\]|\\\\[^\\n]|\\\\${END}|"(?:[^"\\n\\\\]|\\\\[^\\n]|\\\\${END})*(?:"|${END})|'(?:[^'\\n\\\\]|\\\\[^\\n]|\\\\${END})*(?:'|${END}))*`;
/** A flag word that reads `--` once its quotes are removed: the end of the flags. */
const FLAGS_END = `--(?:""|'')*(?:${SP}+|(?:\\\\|["']\\\\?)?${END})`;

const JSON_BLANK = "[ \\t\\r]"; // JSON also allows a line feed, which a logical line never holds
const JSON_STRING = '"(?:[^"\\\\\\x00-\\x1f]|\\\\["\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4})*"';
/** `[` opening a JSON array of strings that runs to the end of the line (json.Unmarshal into []string). */
const JSON_OPEN = new RegExp(
  `\\[(?=${JSON_BLANK}*(?:${JSON_STRING}(?:${JSON_BLANK}*,${JSON_BLANK}*${JSON_STRING})*${JSON_BLANK}*)?\\]${END})`,
);

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

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** A JSON string's value; Go's decoder turns unpaired surrogate escapes into U+FFFD. */
function jsonStringValue(text: string): string {
  // The lexer's pattern admits no control characters, so a string without escapes is its text.
  if (!text.includes("\\")) return text.slice(1, -1);
  const s = JSON.parse(text) as string;
  return /[\ud800-\udfff]/.test(s) ? s.replace(LONE_SURROGATE, "\ufffd") : s;
}

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

type Rules = Record<string, moo.Rule | moo.Rule[] | { include: string }>;

function compileLineLexer(esc: EscapeToken): moo.Lexer {
  const e = esc === "\\" ? "\\\\" : "`";
  const blank = { match: new RegExp(`${SP}+`) };
  const asciiBlank = { match: new RegExp(`${AB}+`), type: () => "blank" };
  const shellBlank = { match: /[ \t\r\v\f]+/, type: () => "blank" };
  const rest = /[^\n]+/;
  /** The state after an instruction's keyword: flags, then what `args` starts with. */
  const withFlags = (args: string): Rules => ({
    blank,
    flagsEnd: { match: new RegExp(FLAGS_END), next: args },
    flag: { match: new RegExp(FLAG), value: flagValue },
    include: args as never,
  });
  const jsonOpen = { match: JSON_OPEN, next: "json" };
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
  // A state's first argument token leaves the flags state (`next`): later words starting
  // with `--` are arguments.
  const listWord = { match: new RegExp(`${NOT_AB}+`), type: () => "listWord", next: "list" };
  const wordValueFn = (raw: string): string => wordValue(raw, esc);
  // An escape character ending the line, alone, is no word (parseWords drops it); as the
  // first token it still marks where the arguments start.
  const danglingEscape = { match: new RegExp(`${e}${END}`) };
  const laterDanglingEscape = { ...danglingEscape, type: () => "blank" };
  const noEqWord = quotedWord(e, true);
  const legacyAhead = `(?=${noEqWord}(?:${SP}|${END}))`;
  /**
   * The keywords: each leads to its family's state. `heredocs` is false for the instruction
   * inside ONBUILD's ONBUILD: BuildKit looks for heredocs on RUN, COPY and ADD, also right
   * under ONBUILD, but no deeper, so there they read as CMD and VOLUME do.
   */
  const keywordRules = (heredocs: boolean, onbuild: string): Rules => ({
    blank,
    kwShell: { match: keywords("cmd", "entrypoint", "shell"), next: "shellFlags" },
    kwRun: { match: keywords("run"), next: heredocs ? "runFlags" : "shellFlags" },
    kwCopy: { match: keywords("copy", "add"), next: heredocs ? "copyFlags" : "volumeFlags" },
    kwVolume: { match: keywords("volume"), next: "volumeFlags" },
    kwList: { match: keywords("from", "expose"), next: "listFlags" },
    kwArg: { match: keywords("arg"), next: "argFlags" },
    kwNameVal: { match: keywords("env", "label"), next: "nameValFlags" },
    kwHealth: { match: keywords("healthcheck"), next: "healthFlags" },
    kwString: { match: keywords("maintainer", "stopsignal", "user", "workdir"), next: "stringFlags" },
    kwOnbuild: { match: keywords("onbuild"), next: onbuild },
    kwOther: { match: new RegExp(`${NOT_AB}+`), next: "otherFlags" },
  });
  return moo.states({
    keyword: keywordRules(true, "onbuildFlags"),
    onbuildFlags: withFlags("onbuildKeyword"),
    onbuildKeyword: keywordRules(true, "nestedOnbuildFlags"),
    nestedOnbuildFlags: withFlags("nestedOnbuildKeyword"),
    nestedOnbuildKeyword: keywordRules(false, "nestedOnbuildFlags"),
    // CMD, ENTRYPOINT, SHELL; HEALTHCHECK's command.
    shellFlags: withFlags("shell"),
    shell: { blank, jsonOpen, bracket: bracket("shellText"), shellText: rest },
    json: {
      jsonBlank: new RegExp(`${JSON_BLANK}+`),
      jsonString: { match: new RegExp(JSON_STRING), value: jsonStringValue },
      comma: ",",
      rbracket: "]",
    },
    runFlags: withFlags("run"),
    run: {
      blank,
      jsonOpen,
      bracket: bracket("shellText", "runWords"),
      // A text without `<<`: anything but `<`, then single `<`s each followed by the same.
      shellText: new RegExp(`(?=[^\\n])[^\\n<]*(?:<(?!<)[^\\n<]*)*${END}`),
      heredocWord: heredocWord("runWords"),
      shellWord: shellWord("runWords"),
    },
    runWords: { shellBlank, heredocWord: heredocWord("runWords"), shellWord: shellWord("runWords") },
    copyFlags: withFlags("copy"),
    copy: {
      blank,
      jsonOpen,
      bracket: bracket("listText", "copyWords"),
      // The first word decides: a text without `<<` is split on blanks, one with `<<` into shell words.
      listWord: { match: new RegExp(`(?![^\\n]*<<)${NOT_AB}+`), type: () => "listWord", next: "list" },
      heredocWord: heredocWord("copyWords"),
      shellWord: shellWord("copyWords"),
    },
    copyWords: { shellBlank, heredocWord: heredocWord("copyWords"), shellWord: shellWord("copyWords") },
    volumeFlags: withFlags("volume"),
    volume: { blank, jsonOpen, bracket: bracket("listText"), listWord },
    listFlags: withFlags("list"),
    list: { asciiBlank, listWord },
    argFlags: withFlags("argStart"),
    argStart: { blank, danglingEscape, word: { match: new RegExp(quotedWord(e, false)), value: wordValueFn, next: "arg" } },
    arg: { blank, laterDanglingEscape, word: { match: new RegExp(quotedWord(e, false)), value: wordValueFn, next: "arg" } },
    nameValFlags: withFlags("nameVal"),
    nameVal: {
      blank,
      danglingEscape,
      legacyKeyOnly: new RegExp(`${legacyAhead}${NOT_AB}+${END}`),
      legacyKey: { match: new RegExp(`${legacyAhead}${NOT_AB}+`), next: "legacy" },
      word: { match: new RegExp(quotedWord(e, false)), type: (t: string) => (t.includes("=") ? "pair" : "word"), value: wordValueFn, next: "pairs" },
    },
    legacy: { asciiBlank, legacyValue: rest },
    pairs: {
      blank,
      laterDanglingEscape,
      word: { match: new RegExp(quotedWord(e, false)), type: (t: string) => (t.includes("=") ? "pair" : "word"), value: wordValueFn },
    },
    healthFlags: withFlags("health"),
    health: { blank, healthType: { match: new RegExp(`${NOT_SP}+`), next: "shell" } },
    stringFlags: withFlags("string"),
    string: { blank, stringArg: rest },
    otherFlags: withFlags("other"),
    other: { blank, ignored: rest },
  } as unknown as { [state: string]: moo.Rules });
}

const LINE_START = Object.freeze({ line: 1, col: 1, state: "keyword" }) as moo.LexerState;

const LINE_LEXERS: Record<EscapeToken, moo.Lexer> = { "\\": compileLineLexer("\\"), "`": compileLineLexer("`") };

/** The tokens of an instruction line (trimmed at its end), blanks left out. */
export function lineTokens(text: string, esc: EscapeToken, out: LineToken[]): void {
  const lexer = LINE_LEXERS[esc];
  lexer.reset(text, LINE_START);
  let base = 0;
  for (let t = lexer.next(); t !== undefined; t = lexer.next()) {
    if (t.type === "blank" || t.type === "jsonBlank") continue;
    if (t.type === "error") throw new Error(`line lexer: no rule for ${JSON.stringify(t.text.slice(0, 20))}`);
    if (t.type!.startsWith(BRACKET_WORDS)) {
      // Not JSON after all: BuildKit falls back to the shell form, whose words may open
      // heredocs. The bracketed text runs to the end of the line: read it again as words.
      base = t.offset;
      lexer.reset(t.text, { line: 1, col: 1, state: t.type!.slice(BRACKET_WORDS.length) } as moo.LexerState);
      continue;
    }
    if (base !== 0) t.offset += base;
    out.push(t as unknown as LineToken);
  }
}
