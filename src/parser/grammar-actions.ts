/**
 * The nearley grammar's postprocessors: they turn an instruction's tokens into its syntax
 * (keyword, flags, arguments with offsets in the logical line). nearley passes each rule's
 * matched symbols as an untyped array; the casts name what the grammar rule guarantees at that
 * index.
 */
import type { DockerfileToken } from "./lexer.js";
import { JSON_STRINGS, type LineToken } from "./line-lexer.js";
import { isAsciiBlank } from "./text.js";

/** An argument: its value and the [start, end) of its text in the logical line. */
export interface Word {
  /** undefined: the source text of [start, end) (the stream drops blanks, so a span of several tokens is read back from the line). */
  readonly value: string | undefined;
  readonly start: number;
  readonly end: number;
}

/** An error the grammar recognised (an argument form BuildKit rejects), at an offset of the logical line. */
export interface ArgsError {
  readonly message: string;
  readonly offset: number;
  /** The message follows the instruction's upper-case name (`ENV must have two arguments`). */
  readonly named?: boolean;
}

/** An instruction's arguments as its line parser splits them. */
export interface ArgsSyntax {
  readonly args: readonly Word[];
  readonly json: boolean;
  /** Offset of the argument text; -1 when there is none. */
  readonly start: number;
  readonly error?: ArgsError;
  /** ONBUILD's instruction. */
  readonly child?: CommandSyntax;
  /** The `heredocs` token, when the line opens heredocs. */
  readonly heredocs?: DockerfileToken;
}

/** What follows an instruction's keyword: its flags and arguments. */
export interface LineSyntax {
  readonly flags: readonly LineToken[];
  readonly args: ArgsSyntax;
}

export interface CommandSyntax extends LineSyntax {
  readonly keyword: LineToken;
}

/** An instruction: its syntax, the token ending its line (which carries the logical line) and its heredoc bodies. */
export interface InstructionItem {
  readonly kind: "instruction";
  /** undefined for a line of nothing but escapes and blanks. */
  readonly command: CommandSyntax | undefined;
  readonly end: DockerfileToken;
  /** The `heredocs` token, when the instruction opens heredocs. */
  readonly heredocs: DockerfileToken | undefined;
}

/** A run of blank/comment lines at the top level (their comments precede the next instruction). */
export interface TriviaItem {
  readonly kind: "trivia";
  readonly token: DockerfileToken;
}

export interface DirectiveItem {
  readonly kind: "directive";
  readonly token: DockerfileToken;
}

export type BodyItem = InstructionItem | TriviaItem | DirectiveItem;

export const NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only";

const NO_WORDS: readonly Word[] = Object.freeze([]);
const NO_FLAGS: readonly LineToken[] = Object.freeze([]);

function tokenWord(t: LineToken): Word {
  return { value: t.value, start: t.offset, end: t.offset + t.text.length };
}

/** A text split on BuildKit's `[\t\v\f\r ]+`, appended to `out`. */
function splitBlanks(text: string, offset: number, out: Word[]): void {
  let i = 0;
  while (i < text.length) {
    while (i < text.length && isAsciiBlank(text.charCodeAt(i))) i++;
    if (i === text.length) break;
    const s = i;
    while (i < text.length && !isAsciiBlank(text.charCodeAt(i))) i++;
    out.push({ value: text.slice(s, i), start: offset + s, end: offset + i });
  }
}

// ---- items

export function directiveItem(d: unknown[]): DirectiveItem {
  return { kind: "directive", token: d[0] as DockerfileToken };
}

export function fileItems(d: unknown[]): BodyItem[] {
  return [...(d[0] as DirectiveItem[]), ...(d[1] as BodyItem[])];
}

export function trivia(d: unknown[]): TriviaItem {
  return { kind: "trivia", token: d[0] as DockerfileToken };
}

export function instruction(d: unknown[]): InstructionItem {
  const command = d[0] as CommandSyntax;
  return { kind: "instruction", command, end: d[1] as DockerfileToken, heredocs: command.args.heredocs };
}

export function emptyInstruction(d: unknown[]): InstructionItem {
  return { kind: "instruction", command: undefined, end: d[0] as DockerfileToken, heredocs: undefined };
}

// ---- instructions

export function command(d: unknown[]): CommandSyntax {
  const rest = d[1] as LineSyntax;
  return { keyword: d[0] as LineToken, flags: rest.flags, args: rest.args };
}

export function line(d: unknown[]): LineSyntax {
  return { flags: (d[0] as LineToken[] | null) ?? NO_FLAGS, args: d[1] as ArgsSyntax };
}

export function noFlags(): LineToken[] | null {
  return null;
}

/** A run's tokens (line-lexer.ts, groupRuns). */
function parts(d: unknown[]): LineToken[] {
  return (d[0] as LineToken).parts!;
}

export function flags(d: unknown[]): LineToken[] {
  return parts(d);
}

const NO_ARGS: ArgsSyntax = Object.freeze({ args: NO_WORDS, json: false, start: -1 });

export function noArgs(): ArgsSyntax {
  return NO_ARGS;
}

/** No arguments, though the argument text starts at this token. */
export function noArgsFrom(d: unknown[]): ArgsSyntax {
  return { args: NO_WORDS, json: false, start: (d[0] as LineToken).offset };
}

/** A shell form, or a one-text argument (USER …). */
export function oneText(d: unknown[]): ArgsSyntax {
  const t = d[0] as LineToken;
  return { args: [tokenWord(t)], json: false, start: t.offset };
}

export function notStrings(d: unknown[]): ArgsSyntax {
  const t = d[0] as LineToken;
  return { args: NO_WORDS, json: false, start: t.offset, error: { message: NOT_STRING_ARRAY, offset: t.offset } };
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** A JSON string's value; Go's decoder turns unpaired surrogate escapes into U+FFFD. */
function jsonStringValue(text: string): string {
  // The lexer's pattern admits no control characters, so a string without escapes is its text.
  if (!text.includes("\\")) return text.slice(1, -1);
  const s = JSON.parse(text) as string;
  return /[\ud800-\udfff]/.test(s) ? s.replace(LONE_SURROGATE, "\ufffd") : s;
}

/** An exec form: the strings of a `json` token (a JSON array of strings). */
export function execForm(d: unknown[]): ArgsSyntax {
  const t = d[0] as LineToken;
  const args: Word[] = [];
  JSON_STRINGS.lastIndex = 0;
  for (let m = JSON_STRINGS.exec(t.text); m !== null; m = JSON_STRINGS.exec(t.text)) {
    const start = t.offset + m.index;
    args.push({ value: jsonStringValue(m[0]), start, end: start + m[0].length });
  }
  return { args, json: true, start: t.offset };
}

/** A `list` token: words split on blanks. */
export function list(d: unknown[]): ArgsSyntax {
  const t = d[0] as LineToken;
  const args: Word[] = [];
  splitBlanks(t.text, t.offset, args);
  return { args, json: false, start: t.offset };
}

// Lists are built in place: parse.ts runs each rule's postprocessor once per item, on the
// derivation nearley found.

export function firstToken(d: unknown[]): unknown[] {
  return [d[0]];
}

export function appendToken(d: unknown[]): unknown[] {
  const list = d[0] as unknown[];
  list.push(d[1]);
  return list;
}

/** RUN's shell form read as shell words (and the heredoc bodies they open): still one argument, the whole text. */
export function shellWordsText(d: unknown[]): ArgsSyntax {
  const ts = d[0] as LineToken[];
  const lastToken = ts[ts.length - 1]!;
  const last = lastToken.parts?.[lastToken.parts.length - 1] ?? lastToken;
  const start = ts[0]!.offset;
  const args = [{ value: undefined, start, end: last.offset + last.text.length }];
  return d[1] === undefined ? { args, json: false, start } : { args, json: false, start, heredocs: d[1] as DockerfileToken };
}

/** COPY's shell words split on blanks (and the heredoc bodies they open). */
export function shellWordsList(d: unknown[]): ArgsSyntax {
  const args = d[0] as Word[];
  const start = args[0]!.start;
  return d[1] === undefined ? { args, json: false, start } : { args, json: false, start, heredocs: d[1] as DockerfileToken };
}

/** A token's text split on blanks (a run's, each of its tokens'), appended to `list`. */
function split(t: LineToken, list: Word[]): Word[] {
  if (t.parts === undefined) splitBlanks(t.text, t.offset, list);
  else for (const p of t.parts) splitBlanks(p.text, p.offset, list);
  return list;
}

export function firstSplit(d: unknown[]): Word[] {
  return split(d[0] as LineToken, []);
}

export function appendSplit(d: unknown[]): Word[] {
  return split(d[1] as LineToken, d[0] as Word[]);
}

/** Quoted words (ARG). */
export function words(d: unknown[]): ArgsSyntax {
  return { args: parts(d).map(tokenWord), json: false, start: (d[0] as LineToken).offset };
}

/** `ENV key value…`: one triple (key, the rest of the line, no separator). */
export function legacyNameVal(d: unknown[]): ArgsSyntax {
  const key = d[0] as LineToken;
  const value = d[1] as LineToken;
  const keyEnd = key.offset + key.text.length;
  return { args: [tokenWord(key), tokenWord(value), { value: "", start: keyEnd, end: keyEnd }], json: false, start: key.offset };
}

export function legacyKeyOnly(d: unknown[]): ArgsSyntax {
  const key = d[0] as LineToken;
  return { args: NO_WORDS, json: false, start: key.offset, error: { message: "must have two arguments", offset: key.offset, named: true } };
}

/**
 * `k=v k2="v 2"`, as it is read: triples (key, value, `=`); a word without `=` is an error
 * (the first holds one: the lexer reads the line as the legacy form otherwise).
 */
export function pairs(d: unknown[]): ArgsSyntax {
  const start = (d[0] as LineToken).offset;
  const args: Word[] = [];
  for (const t of parts(d)) {
    const v = t.value;
    const eq = v.indexOf("=");
    if (eq < 0) {
      const error = { message: `Syntax error - can't find = in ${JSON.stringify(v)}. Must be of the form: name=value`, offset: t.offset };
      return { args: NO_WORDS, json: false, start, error };
    }
    const eqAt = t.offset + eq;
    args.push({ value: v.slice(0, eq), start: t.offset, end: eqAt }, { value: v.slice(eq + 1), start: eqAt + 1, end: t.offset + t.text.length }, { value: "=", start: eqAt, end: eqAt + 1 });
  }
  return { args, json: false, start };
}

export function healthArgs(d: unknown[]): ArgsSyntax {
  const typ = d[0] as LineToken;
  const cmd = d[1] as ArgsSyntax;
  return { ...cmd, args: [tokenWord(typ), ...cmd.args], start: typ.offset };
}

export function subCommand(d: unknown[]): ArgsSyntax {
  const child = d[0] as CommandSyntax;
  return { args: NO_WORDS, json: false, start: child.keyword.offset, child, heredocs: child.args.heredocs };
}

export function ignored(d: unknown[]): ArgsSyntax {
  return { args: NO_WORDS, json: false, start: (d[0] as LineToken).offset };
}
