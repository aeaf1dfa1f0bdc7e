/**
 * The nearley grammar's postprocessors: they turn an instruction's tokens into its syntax
 * (keyword, flags, arguments with offsets in the logical line). nearley passes each rule's
 * matched symbols as an untyped array; the casts name what the grammar rule guarantees at that
 * index.
 */
import type { DockerfileToken } from "./lexer.js";
import type { LineToken } from "./line-lexer.js";
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
  /** The token ending the line (`endLine`/`heredocLine`: it carries the logical line). */
  readonly end: DockerfileToken;
  /** The `heredocs` token, when the line opens heredocs. */
  readonly heredocs?: DockerfileToken | undefined;
}

/** The end of a line that may open heredocs. */
interface LineEnd {
  readonly kind: "lineEnd";
  readonly end: DockerfileToken;
  readonly heredocs: DockerfileToken | undefined;
}

export interface CommandSyntax {
  readonly keyword: LineToken;
  readonly flags: readonly LineToken[];
  readonly args: ArgsSyntax;
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

/** The end of an argument form: an `endLine` token, or a LineEnd. */
function ended(args: readonly Word[], json: boolean, start: number, last: unknown, error?: ArgsError): ArgsSyntax {
  const e = last as DockerfileToken | LineEnd;
  const end = "kind" in e ? e.end : e;
  const heredocs = "kind" in e ? e.heredocs : undefined;
  if (error !== undefined) return { args, json, start, end, heredocs, error };
  return { args, json, start, end, heredocs };
}

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
  return [...(d[0] as DirectiveItem[]), ...((d[1] as BodyItem[] | null) ?? [])];
}

function trivia(t: unknown): TriviaItem {
  return { kind: "trivia", token: t as DockerfileToken };
}

function instruction(c: unknown): InstructionItem {
  const command = c as CommandSyntax;
  return { kind: "instruction", command, end: command.args.end, heredocs: command.args.heredocs };
}

function emptyInstruction(t: unknown): InstructionItem {
  return { kind: "instruction", command: undefined, end: t as DockerfileToken, heredocs: undefined };
}

export function firstTrivia(d: unknown[]): BodyItem[] {
  return [trivia(d[0])];
}

export function firstInstruction(d: unknown[]): BodyItem[] {
  return [instruction(d[0])];
}

export function firstEmptyInstruction(d: unknown[]): BodyItem[] {
  return [emptyInstruction(d[0])];
}

// Appends in place: see grammar/dockerfile.ne.

export function appendTrivia(d: unknown[]): BodyItem[] {
  const items = d[0] as BodyItem[];
  items.push(trivia(d[1]));
  return items;
}

export function appendInstruction(d: unknown[]): BodyItem[] {
  const items = d[0] as BodyItem[];
  items.push(instruction(d[1]));
  return items;
}

export function appendEmptyInstruction(d: unknown[]): BodyItem[] {
  const items = d[0] as BodyItem[];
  items.push(emptyInstruction(d[1]));
  return items;
}

// ---- lists

export function emptyList(): unknown[] {
  return [];
}

export function firstToken(d: unknown[]): unknown[] {
  return [d[0]];
}

export function appendToken(d: unknown[]): unknown[] {
  const list = d[0] as unknown[];
  list.push(d[1]);
  return list;
}

// ---- instructions

export function command(d: unknown[]): CommandSyntax {
  return { keyword: d[0] as LineToken, flags: d[1] as LineToken[], args: d[2] as ArgsSyntax };
}

export function lineEnd(d: unknown[]): LineEnd {
  return { kind: "lineEnd", end: d[0] as DockerfileToken, heredocs: d[1] as DockerfileToken | undefined };
}

export function noArgs(d: unknown[]): ArgsSyntax {
  return ended(NO_WORDS, false, -1, d[0]);
}

/** No arguments, though the argument text starts at this token. */
export function noArgsFrom(d: unknown[]): ArgsSyntax {
  return ended(NO_WORDS, false, (d[0] as LineToken).offset, d[1]);
}

/** An argument form followed by the end of the line. */
export function withEnd(d: unknown[]): ArgsSyntax {
  const x = d[0] as ArgsSyntax;
  return ended(x.args, x.json, x.start, d[1]);
}

/** A shell form, or a one-text argument (USER …). */
export function oneText(d: unknown[]): ArgsSyntax {
  const t = d[0] as LineToken;
  return ended([tokenWord(t)], false, t.offset, d[1]);
}

export function notStrings(d: unknown[]): ArgsSyntax {
  const t = d[0] as LineToken;
  return ended(NO_WORDS, false, t.offset, d[1], { message: NOT_STRING_ARRAY, offset: t.offset });
}

/** An exec form, without its line end (see withEnd). */
type ExecForm = Pick<ArgsSyntax, "args" | "json" | "start">;

export function emptyExecForm(d: unknown[]): ExecForm {
  return { args: NO_WORDS, json: true, start: (d[0] as LineToken).offset };
}

export function execForm(d: unknown[]): ExecForm {
  return { args: d[1] as Word[], json: true, start: (d[0] as LineToken).offset };
}
// Argument lists are built as words, token by token: nearley runs a rule's postprocessor at
// every completion, and a list completes after each of its tokens.

export function firstWord(d: unknown[]): Word[] {
  return [tokenWord(d[0] as LineToken)];
}

export function appendWord(d: unknown[]): Word[] {
  const list = d[0] as Word[];
  list.push(tokenWord(d[d.length - 1] as LineToken));
  return list;
}

export function firstSplit(d: unknown[]): Word[] {
  const t = d[0] as LineToken;
  const list: Word[] = [];
  splitBlanks(t.text, t.offset, list);
  return list;
}

export function appendSplit(d: unknown[]): Word[] {
  const list = d[0] as Word[];
  const t = d[1] as LineToken;
  splitBlanks(t.text, t.offset, list);
  return list;
}

/** RUN's shell form read as shell words: still one argument, the whole text. */
export function shellWordsText(d: unknown[]): ArgsSyntax {
  const ts = d[0] as LineToken[];
  const last = ts[ts.length - 1]!;
  return ended([{ value: undefined, start: ts[0]!.offset, end: last.offset + last.text.length }], false, ts[0]!.offset, d[1]);
}

/** A bracketed text that is not JSON, split on blanks. */
export function listText(d: unknown[]): ArgsSyntax {
  const t = d[0] as LineToken;
  const args: Word[] = [];
  splitBlanks(t.text, t.offset, args);
  return ended(args, false, t.offset, d[1]);
}

/** A list of words (split on blanks, quoted words, COPY's shell words split on blanks). */
export function words(d: unknown[]): ArgsSyntax {
  const args = d[0] as Word[];
  return ended(args, false, args[0]!.start, d[1]);
}

/** `ENV key value…`: one triple (key, the rest of the line, no separator). */
export function legacyNameVal(d: unknown[]): ArgsSyntax {
  const key = d[0] as LineToken;
  const value = d[1] as LineToken;
  const keyEnd = key.offset + key.text.length;
  return ended([tokenWord(key), tokenWord(value), { value: "", start: keyEnd, end: keyEnd }], false, key.offset, d[2]);
}

export function legacyKeyOnly(d: unknown[]): ArgsSyntax {
  const key = d[0] as LineToken;
  return ended(NO_WORDS, false, key.offset, d[1], { message: "must have two arguments", offset: key.offset, named: true });
}

/** `k=v k2="v 2"`, as it is read: triples (key, value, `=`), and the first word without `=`. */
interface PairList {
  readonly start: number;
  readonly args: Word[];
  error: ArgsError | undefined;
}

function addPair(list: PairList, t: LineToken): PairList {
  if (list.error !== undefined) return list;
  const v = t.value;
  const eq = v.indexOf("=");
  if (eq < 0) {
    list.error = { message: `Syntax error - can't find = in ${JSON.stringify(v)}. Must be of the form: name=value`, offset: t.offset };
    return list;
  }
  const eqAt = t.offset + eq;
  list.args.push({ value: v.slice(0, eq), start: t.offset, end: eqAt });
  list.args.push({ value: v.slice(eq + 1), start: eqAt + 1, end: t.offset + t.text.length });
  list.args.push({ value: "=", start: eqAt, end: eqAt + 1 });
  return list;
}

export function firstPair(d: unknown[]): PairList {
  const t = d[0] as LineToken;
  return addPair({ start: t.offset, args: [], error: undefined }, t);
}

export function appendPair(d: unknown[]): PairList {
  return addPair(d[0] as PairList, d[1] as LineToken);
}

export function pairs(d: unknown[]): ArgsSyntax {
  const list = d[0] as PairList;
  return ended(list.error === undefined ? list.args : NO_WORDS, false, list.start, d[1], list.error);
}

export function healthArgs(d: unknown[]): ArgsSyntax {
  const typ = d[0] as LineToken;
  const cmd = d[1] as ArgsSyntax;
  return { ...cmd, args: [tokenWord(typ), ...cmd.args], start: typ.offset };
}

export function subCommand(d: unknown[]): ArgsSyntax {
  const child = d[0] as CommandSyntax;
  return { args: NO_WORDS, json: false, start: child.keyword.offset, child, end: child.args.end, heredocs: child.args.heredocs };
}

export function ignored(d: unknown[]): ArgsSyntax {
  return ended(NO_WORDS, false, (d[0] as LineToken).offset, d[1]);
}
