/**
 * The tokenizer behind the nearley grammar: physical lines (one token per line, or per run of
 * blank/comment lines, as `physicalStates` reads them) in a stream that
 * - reads the parser directives at the top first (they choose the escape character, and so
 *   which lexers read the rest),
 * - joins continued lines into the logical instruction line (BuildKit's rules: a trailing escape
 *   continues the line unless it is itself escaped; comment and blank lines inside a
 *   continuation are skipped; the continuation lines keep their leading whitespace),
 * - hands nearley the tokens of each logical line (line-lexer.ts), then `endLine`,
 * - reads heredoc bodies after a line whose tokens open heredocs, and hands them over as one
 *   `heredocs` token, before the `endLine`.
 */
import moo from "moo";
import type { Directive, DirectiveName, EscapeToken, HeredocNode, Position } from "./ast.js";
import { DockerfileSyntaxError } from "./errors.js";
import { heredocSpec, heredocWordKind, isShellSpace, unterminatedHeredocMessage, type HeredocSpec } from "./heredoc.js";
import { groupRuns, lineTokens, SHELL_WORD, type LineToken } from "./line-lexer.js";
import { compileStates, type States } from "./moo-states.js";
import { Span } from "./span.js";
import { GO_SPACE_NO_NL, isGoSpaceCode, skipGoSpace, trimGoSpaceEnd } from "./text.js";

/** A piece of the logical line: where its text came from. */
export interface LineSegment {
  /** Offset of the piece in the logical line. */
  readonly joinedStart: number;
  /** Absolute source offset of the piece's first character. */
  readonly offset: number;
  readonly line: number;
  /** Absolute source offset of the start of that line. */
  readonly lineStart: number;
}

/** An instruction's lines joined, as BuildKit hands them to newNodeFromLine. */
export interface LogicalLine {
  readonly text: string;
  readonly segments: readonly LineSegment[];
  readonly startLine: number;
  readonly endLine: number;
  /** Position just after the last character of the last line (before its line break). */
  readonly end: Position;
  readonly emptyContinuationLine: boolean;
}

/**
 * - `directive`: a parser directive line at the top;
 * - `trivia`: a run of blank and comment lines between instructions;
 * - the tokens of an instruction line (line-lexer.ts), then, when the line opens heredocs,
 *   `heredocs` (the bodies, in one token), then `endLine`.
 */
export type DockerfileTokenType = "directive" | "trivia" | "endLine" | "heredocs";

/** What nearley receives: moo's token fields (positions absolute), plus what the stream found. */
export interface DockerfileToken {
  type: DockerfileTokenType;
  value: string;
  text: string;
  offset: number;
  line: number;
  col: number;
  lineBreaks: number;
  /** Set on `endLine`: the whole instruction line. */
  logical?: LogicalLine;
  /** Set on `heredocs`: the bodies of the heredocs the instruction opens, in order. */
  heredocs?: HeredocNode[];
  /** Set on `directive`. */
  directive?: Directive;
}

const WS = `[${GO_SPACE_NO_NL}]`;

/** The physical lexer's states for an escape character (`main` first). */
export function physicalStates(esc: EscapeToken): States {
  const e = esc === "\\" ? "\\\\" : "`";
  return {
    main: {
      // Blank and comment lines, several at once: they never change the structure.
      trivia: { match: `(?:${WS}*(?:#[^\\n]*)?\\n)+|${WS}*#[^\\n]*|${WS}+$`, lineBreaks: true },
      // A line ending in the escape character (not itself escaped), spaces/tabs, then the break.
      contLine: { match: `(?:[^\\n]*[^${e}\\n])?${e}[ \\t]*\\r*(?:\\n|$)`, lineBreaks: true },
      endLine: { match: "[^\\n]*\\n|[^\\n]+", lineBreaks: true },
      error: moo.error,
    },
  };
}

/** Each escape character's lexer, compiled at its first use. */
const LEXERS: Partial<Record<EscapeToken, moo.Lexer>> = {};

function physicalLexer(esc: EscapeToken): moo.Lexer {
  return (LEXERS[esc] ??= compileStates(physicalStates(esc), "main"));
}

const SHELL_WORD_AT = new RegExp(SHELL_WORD, "y");
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$/;
const KNOWN_DIRECTIVES: ReadonlySet<string> = new Set(["syntax", "escape", "check"]);

function trimNewlineEnd(s: string): string {
  let end = s.length;
  while (end > 0 && (s.charCodeAt(end - 1) === 10 || s.charCodeAt(end - 1) === 13)) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** A token of physicalStates' main state, its offset absolute. */
interface PhysicalToken {
  type: "trivia" | "contLine" | "endLine" | "error";
  value: string;
  text: string;
  offset: number;
  line: number;
  col: number;
  lineBreaks: number;
}

function physicalToken(type: PhysicalToken["type"], text: string, offset: number): PhysicalToken {
  return { type, value: text, text, offset, line: 0, col: 0, lineBreaks: 0 };
}


function indexOrEnd(text: string, s: string, from: number): number {
  const i = text.indexOf(s, from);
  return i < 0 ? text.length : i;
}

/** A blank or comment line (`trivia`: Go spaces, then `#…` or nothing). */
function isTriviaLine(text: string, start: number, end: number): boolean {
  let i = start;
  while (i < end && isGoSpaceCode(text.charCodeAt(i))) i++;
  return i === end || text.charCodeAt(i) === 35;
}

/** `contLine`: the line (CRs ending it aside) ends in the escape character, not itself escaped, then spaces/tabs. */
function continues(text: string, start: number, end: number, esc: string): boolean {
  let i = end;
  while (i > start && text.charCodeAt(i - 1) === 13) i--;
  while (i > start && (text.charCodeAt(i - 1) === 32 || text.charCodeAt(i - 1) === 9)) i--;
  return i > start && text[i - 1] === esc && (i - 1 === start || text[i - 2] !== esc);
}

/** The source, with helpers to point into it. */
export class SourceText {
  constructor(
    readonly text: string,
    readonly file: string,
  ) {}

  /** The text of a 1-based line, without its line break. */
  lineText(line: number): string {
    let start = 0;
    for (let l = 1; l < line; l++) {
      const nl = this.text.indexOf("\n", start);
      if (nl < 0) return "";
      start = nl + 1;
    }
    const nl = this.text.indexOf("\n", start);
    return trimNewlineEnd(this.text.slice(start, nl < 0 ? this.text.length : nl));
  }

  error(message: string, line: number, column: number): DockerfileSyntaxError {
    return new DockerfileSyntaxError(message, { file: this.file, line, column, sourceLine: this.lineText(line) });
  }
}

export class DockerfileTokenStream {
  escapeToken: EscapeToken = "\\";
  readonly directives: Directive[] = [];
  /** Where the next physical line starts. */
  private pos = 0;
  private nextCR = -1;
  private nextLS = -1;
  private nextPS = -1;
  private line = 1;
  private lineStart = 0;
  /** The instruction being read: its text so far and where each piece came from. */
  private joined = "";
  private segments: LineSegment[] = [];
  private emptyContinuation = false;
  /** Tokens to hand out, from `queueIndex` on: directives, then one item's at a time. */
  private queue: (DockerfileToken | LineToken)[] = [];
  private queueIndex = 0;
  private done = false;

  constructor(private readonly source: SourceText) {}

  /** Start reading `chunk`, which must be the source text. */
  reset(chunk: string): this {
    if (chunk !== this.source.text) throw new Error("DockerfileTokenStream: read the whole source");
    this.readDirectives();
    return this;
  }

  /**
   * The next token, or undefined at the end. Throws DockerfileSyntaxError (unterminated heredoc …).
   * Line tokens are typed as DockerfileToken for nearley: it reads only `type`.
   */
  next(): DockerfileToken | undefined {
    if (this.queueIndex < this.queue.length || this.read()) return this.queue[this.queueIndex++] as DockerfileToken;
    return undefined;
  }

  /**
   * The tokens of the next item after the directives: a run of blank/comment lines, or an
   * instruction up to its `endLine`; undefined at the end.
   */
  nextItem(): DockerfileToken[] | undefined {
    if (!this.read()) return undefined;
    this.queueIndex = this.queue.length;
    return this.queue as DockerfileToken[];
  }

  /** Reads the next item into a new queue; false at the end. */
  private read(): boolean {
    this.queue = [];
    this.queueIndex = 0;
    for (;;) {
      if (this.done) return false;
      const t = this.physicalLine();
      if (t === undefined) {
        this.done = true;
        // A continuation running into the end of the file ends the instruction there.
        if (this.segments.length === 0) return false;
        this.endInstruction(this.token("endLine", "", this.source.text.length, 0));
        return true;
      }
      const offset = t.offset;
      switch (t.type) {
        case "trivia": {
          const inContinuation = this.segments.length > 0;
          if (inContinuation && !this.emptyContinuation) this.emptyContinuation = hasBlankLine(t.text);
          const tok = this.reuse(t, offset);
          this.advanceLines(t.text, offset);
          // Blank and comment lines inside a continuation are skipped.
          if (inContinuation) continue;
          this.queue.push(tok);
          return true;
        }
        case "contLine": {
          this.checkLineLength(t.text);
          const content = t.text.slice(0, t.text.lastIndexOf(this.escapeToken));
          this.addPiece(content, offset);
          this.advanceLines(t.text, offset);
          continue;
        }
        case "endLine": {
          const tok = this.reuse(t, offset);
          this.addPiece(trimNewlineEnd(t.text), offset);
          this.advanceLines(t.text, offset);
          this.endInstruction(tok);
          return true;
        }
        default:
          throw this.source.error(`unexpected input ${JSON.stringify(t.text.slice(0, 20))}`, this.line, offset - this.lineStart + 1);
      }
    }
  }

  /**
   * The next physical token (`physicalStates`' main state): a run of blank and comment lines,
   * a line continued by the escape character, or any other line. Most lines are read here by
   * hand, as the states would read them; a line holding a line terminator other than its
   * break (a CR before other text, U+2028, U+2029), where the states' `$` matches inside it,
   * is read by the states themselves.
   */
  private physicalLine(): PhysicalToken | undefined {
    const text = this.source.text;
    const pos = this.pos;
    if (pos >= text.length) return undefined;
    const nl = text.indexOf("\n", pos);
    const end = nl < 0 ? text.length : nl;
    let t: PhysicalToken;
    if (!this.plainLine(pos, end)) {
      const lexer = physicalLexer(this.escapeToken);
      lexer.reset(text.slice(pos));
      const m = lexer.next()!;
      t = { type: m.type as PhysicalToken["type"], value: m.text, text: m.text, offset: pos, line: 0, col: 0, lineBreaks: 0 };
    } else if (isTriviaLine(text, pos, end)) {
      // As many whole blank/comment lines as follow; at the end of the text, the last line.
      let stop = nl < 0 ? text.length : nl + 1;
      while (nl >= 0 && stop < text.length) {
        const next = text.indexOf("\n", stop);
        if (next < 0 || !isTriviaLine(text, stop, next)) break;
        stop = next + 1;
      }
      t = physicalToken("trivia", text.slice(pos, stop), pos);
    } else {
      const line = text.slice(pos, nl < 0 ? text.length : nl + 1);
      t = physicalToken(continues(text, pos, end, this.escapeToken) ? "contLine" : "endLine", line, pos);
    }
    this.pos = pos + t.text.length;
    return t;
  }

  /**
   * No line terminator in [start, end) but CRs ending it: JavaScript's multiline `$` matches
   * only at its end. (Where the next CR, U+2028 and U+2029 are is kept: most files have none.)
   */
  private plainLine(start: number, end: number): boolean {
    const text = this.source.text;
    if (this.nextCR < start) this.nextCR = indexOrEnd(text, "\r", start);
    if (this.nextLS < start) this.nextLS = indexOrEnd(text, "\u2028", start);
    if (this.nextPS < start) this.nextPS = indexOrEnd(text, "\u2029", start);
    if (this.nextLS < end || this.nextPS < end) return false;
    let i = this.nextCR;
    while (i < end && text.charCodeAt(i) === 13) i++;
    return i >= end;
  }

  /** The next line with its line break (heredoc bodies). */
  private rawLine(): { text: string; offset: number } | undefined {
    const text = this.source.text;
    const pos = this.pos;
    if (pos >= text.length) return undefined;
    const nl = text.indexOf("\n", pos);
    this.pos = nl < 0 ? text.length : nl + 1;
    return { text: text.slice(pos, this.pos), offset: pos };
  }

  /**
   * BuildKit reads lines with a bufio.Scanner, whose token limit makes any line longer than
   * 64 KiB (line break included) an error. A line of at most 21845 UTF-16 units is at most
   * 65535 UTF-8 bytes, so only long tokens are measured.
   */
  private checkLineLength(text: string): void {
    if (text.length <= 21845) return;
    let start = 0;
    while (start < text.length) {
      const nl = text.indexOf("\n", start);
      const end = nl < 0 ? text.length : nl + 1;
      if (end - start > 21845 && Buffer.byteLength(text.slice(start, end), "utf8") > 65536) {
        const line = this.line + countNewlines(text, 0, start);
        throw this.source.error("dockerfile line greater than max allowed size of 65535", line, 1);
      }
      start = end;
    }
  }

  /** The physical token as the stream's token: one object less per line. */
  private reuse(t: PhysicalToken, offset: number): DockerfileToken {
    this.checkLineLength(t.text);
    const tok = t as unknown as DockerfileToken;
    tok.offset = offset;
    tok.line = this.line;
    tok.col = offset - this.lineStart + 1;
    return tok;
  }

  private token(type: DockerfileTokenType, text: string, offset: number, lineBreaks: number): DockerfileToken {
    return { type, value: text, text, offset, line: this.line, col: offset - this.lineStart + 1, lineBreaks };
  }

  private advanceLines(text: string, offset: number): void {
    let i = text.indexOf("\n");
    while (i >= 0) {
      this.line++;
      this.lineStart = offset + i + 1;
      i = text.indexOf("\n", i + 1);
    }
  }

  private addPiece(content: string, offset: number): void {
    if (this.segments.length === 0) {
      // The first line of an instruction loses its leading whitespace; continuation lines keep it.
      const skip = skipGoSpace(content);
      this.segments.push({ joinedStart: 0, offset: offset + skip, line: this.line, lineStart: this.lineStart });
      this.joined = skip === 0 ? content : content.slice(skip);
    } else {
      this.segments.push({ joinedStart: this.joined.length, offset, line: this.line, lineStart: this.lineStart });
      this.joined += content;
    }
  }

  private endInstruction(tok: DockerfileToken): DockerfileToken {
    const segments = this.segments;
    const text = this.joined;
    const last = segments[segments.length - 1]!;
    const endOffset = last.offset + (text.length - last.joinedStart);
    tok.logical = {
      text,
      segments,
      startLine: segments[0]!.line,
      endLine: last.line,
      end: { line: last.line, column: endOffset - last.lineStart + 1, offset: endOffset },
      emptyContinuationLine: this.emptyContinuation,
    };
    this.segments = [];
    this.joined = "";
    this.emptyContinuation = false;
    const first = this.queue.length;
    const trimmed = trimGoSpaceEnd(text);
    lineTokens(trimmed === text.length ? text : text.slice(0, trimmed), this.escapeToken, this.queue);
    if (trimmed < text.length && this.queue.length > first) this.glueTrailingSpaces(text, trimmed, this.queue[this.queue.length - 1]!);
    // Heredoc openers are tokens of a line holding `<<`; their bodies come before the line's end.
    let specs: HeredocSpec[] | undefined;
    const openers = text.includes("<<");
    for (let i = first; openers && i < this.queue.length; i++) {
      const t = this.queue[i]!;
      if (t.type === "heredoc") {
        (specs ??= []).push(heredocSpec(t.heredocWord ?? t.text, t.offset));
      } else if (t.type === "heredocUnterminated") {
        const at = positionInLogical(tok.logical, t.offset);
        throw this.source.error(unterminatedHeredocMessage(t.heredocWord ?? t.text), at.line, at.column);
      }
    }
    groupRuns(this.queue as LineToken[], first);
    if (specs !== undefined) this.readHeredocs(specs, tok.logical);
    tok.type = "endLine";
    this.queue.push(tok);
    return tok;
  }

  /**
   * The line lexer reads the line without its trailing spaces, but BuildKit looks for heredoc
   * openers in the whole line, split into shell words on ASCII blanks: the last word runs on
   * into trailing non-ASCII or escaped spaces (`<<EOF\u00a0` opens a heredoc named `EOF\u00a0`).
   */
  private glueTrailingSpaces(text: string, trimmed: number, last: LineToken): void {
    if (last.type !== "shellWord" && last.type !== "heredoc" && last.type !== "heredocUnterminated") return;
    if (last.offset + last.text.length !== trimmed) return;
    if (last.offset > 0 && !isShellSpace(text[last.offset - 1]!)) return;
    SHELL_WORD_AT.lastIndex = last.offset;
    const end = SHELL_WORD_AT.exec(text) === null ? trimmed : SHELL_WORD_AT.lastIndex;
    if (end <= trimmed) return;
    const word = text.slice(last.offset, end);
    last.type = heredocWordKind(word);
    last.heredocWord = word;
  }

  /** Read each heredoc's body: the lines up to one equal to its name (tabs stripped for `<<-`). */
  private readHeredocs(specs: HeredocSpec[], logical: LogicalLine): void {
    const bodies: HeredocNode[] = [];
    const first: Position = { line: this.line, column: 1, offset: this.lineStart };
    for (const spec of specs) {
      let content = "";
      const start: Position = { line: this.line, column: 1, offset: this.lineStart };
      let terminated = false;
      for (let t = this.rawLine(); t !== undefined; t = this.rawLine()) {
        const offset = t.offset;
        this.checkLineLength(t.text);
        const lineNo = this.line;
        this.advanceLines(t.text, offset);
        const body = trimNewlineEnd(t.text);
        const candidate = spec.chomp ? body.replace(/^\t+/, "") : body;
        if (candidate === spec.name) {
          terminated = true;
          const end: Position = { line: lineNo, column: body.length + 1, offset: offset + body.length };
          bodies.push({
            name: spec.name,
            fileDescriptor: spec.fileDescriptor,
            expand: spec.expand,
            chomp: spec.chomp,
            content,
            range: Span.between(start, end),
          });
          break;
        }
        content += t.text;
      }
      if (!terminated) {
        const at = positionInLogical(logical, spec.start);
        throw this.source.error(`unterminated heredoc ${spec.name}`, at.line, at.column);
      }
    }
    const text = this.source.text.slice(first.offset, bodies[bodies.length - 1]!.range.end.offset);
    this.queue.push({ type: "heredocs", value: text, text, offset: first.offset, line: first.line, col: 1, lineBreaks: 0, heredocs: bodies });
  }

  /** Parser directives: leading comment lines of the form `# name=value` with a known name. */
  private readDirectives(): void {
    const text = this.source.text;
    let pos = 0;
    let line = 1;
    const seen = new Set<string>();
    while (pos < text.length) {
      const nl = text.indexOf("\n", pos);
      const lineEnd = nl < 0 ? text.length : nl;
      const raw = trimNewlineEnd(text.slice(pos, lineEnd));
      const lead = skipGoSpace(raw);
      if (raw[lead] !== "#") break;
      const afterHash = skipGoSpace(raw, lead + 1);
      const m = DIRECTIVE.exec(raw.slice(afterHash));
      if (m === null) break;
      const name = m[1]!.toLowerCase();
      if (!KNOWN_DIRECTIVES.has(name)) break;
      if (seen.has(name)) throw this.source.error(`only one ${name} parser directive can be used`, line, lead + 1);
      seen.add(name);
      const value = m[2]!;
      if (name === "escape") {
        if (value !== "\\" && value !== "`") {
          throw this.source.error(`invalid escape token '${value}' does not match \` or \\`, line, lead + 1);
        }
        this.escapeToken = value;
      }
      const range = new Span(line, lead + 1, pos + lead, line, raw.length + 1, pos + raw.length);
      const directive: Directive = { name: name as DirectiveName, value, range };
      this.directives.push(directive);
      const tok: DockerfileToken = { type: "directive", value: raw, text: raw, offset: pos, line, col: 1, lineBreaks: nl < 0 ? 0 : 1, directive };
      this.queue.push(tok);
      line++;
      pos = nl < 0 ? text.length : nl + 1;
    }
    this.pos = pos;
    this.line = line;
    this.lineStart = pos;
  }
}

function countNewlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf("\n", from); i >= 0 && i < to; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

function hasBlankLine(trivia: string): boolean {
  let start = 0;
  while (start < trivia.length) {
    const nl = trivia.indexOf("\n", start);
    const end = nl < 0 ? trivia.length : nl;
    const i = skipGoSpace(trivia.slice(start, end));
    if (trivia[start + i] !== "#") return true;
    start = end + 1;
  }
  return false;
}

/** Index of the segment holding joined offset `joined` (for an end offset, the segment it ends). */
function segmentIndex(segs: readonly LineSegment[], joined: number, preferEnd: boolean): number {
  let lo = 0;
  let hi = segs.length - 1;
  // Last segment starting at or before `joined` (strictly before, for an end position, so that
  // the end of one line's text does not jump to the start of the next line).
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    const s = segs[mid]!.joinedStart;
    if (preferEnd ? s < joined : s <= joined) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The source position of an offset in a logical line. */
export function positionInLogical(logical: LogicalLine, joined: number, preferEnd = false): Position {
  const seg = logical.segments[segmentIndex(logical.segments, joined, preferEnd)]!;
  const offset = seg.offset + (joined - seg.joinedStart);
  return { line: seg.line, column: offset - seg.lineStart + 1, offset };
}

/** The source span of [start, end) of a logical line. */
export function spanInLogical(logical: LogicalLine, start: number, end: number): Span {
  const segs = logical.segments;
  const s = segs.length === 1 ? segs[0]! : segs[segmentIndex(segs, start, false)]!;
  const e = segs.length === 1 ? s : segs[segmentIndex(segs, end, end > start)]!;
  const so = s.offset + (start - s.joinedStart);
  const eo = e.offset + (end - e.joinedStart);
  return new Span(s.line, so - s.lineStart + 1, so, e.line, eo - e.lineStart + 1, eo);
}

/**
 * The lexer object the compiled grammar refers to: nearley asks it only `has(tokenType)` when
 * the grammar is loaded. Parsing hands each nearley parser its own token list (parse.ts).
 */
export const placeholderLexer = {
  has: (_name: string): boolean => true,
  reset(): never {
    throw new Error("parse with a DockerfileTokenStream");
  },
  next: (): undefined => undefined,
  save: (): moo.LexerState => ({ line: 1, col: 1, state: "main" }),
  formatError: (_token: unknown, message?: string): string => message ?? "syntax error",
};
