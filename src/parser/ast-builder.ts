/**
 * Turns the grammar's items into the AST: each instruction's logical line goes through
 * BuildKit's line parsing (split_command.go, line_parsers.go), and every word keeps a source range.
 */
import type { ArgumentNode, FlagNode, HeredocNode, InstructionNode, ParseWarning } from "./ast.js";
import type { BodyItem } from "./grammar-actions.js";
import { positionInLogical, spanInLogical, type LogicalLine, type SourceText } from "./lexer.js";
import { Span } from "./span.js";
import { LineParseError, parseArguments, splitCommand, type Word } from "./line-parser.js";
import { goTrimSpace, skipGoSpace } from "./text.js";

const NO_COMMENTS: readonly string[] = Object.freeze([]);
const NO_HEREDOCS: readonly HeredocNode[] = Object.freeze([]);
const NO_FLAGS: readonly FlagNode[] = Object.freeze([]);

/**
 * Keywords as written and lower-cased, shared: a large Dockerfile would otherwise keep two
 * new strings per instruction alive (garbage collection is the parser's main cost).
 */
const KEYWORDS = new Map<string, { keyword: string; name: string }>();
function internKeyword(keyword: string): { keyword: string; name: string } {
  let k = KEYWORDS.get(keyword);
  if (k === undefined) {
    k = { keyword, name: keyword.toLowerCase() };
    if (KEYWORDS.size < 256) KEYWORDS.set(keyword, k);
  }
  return k;
}

export interface BuildContext {
  readonly source: SourceText;
  readonly escapeToken: string;
  readonly warnings: ParseWarning[];
}

/** Builds the instruction nodes item by item, as the grammar recognises them. */
export class AstBuilder {
  readonly instructions: InstructionNode[] = [];
  private comments: string[] = [];

  constructor(private readonly ctx: BuildContext) {}

  add(item: BodyItem): void {
    if (item.kind === "directive") return;
    if (item.kind === "trivia") {
      collectComments(item.token.text, this.comments);
      return;
    }
    const logical = item.end.logical!;
    const heredocs: readonly HeredocNode[] = item.heredocs?.heredocs ?? NO_HEREDOCS;
    const node = buildNode(logical, 0, logical.text.length, this.ctx, heredocs, this.comments);
    if (logical.emptyContinuationLine) {
      this.ctx.warnings.push({ message: `Empty continuation line found in: ${logical.text}`, range: node.range });
    }
    this.instructions.push(node);
    if (this.comments.length > 0) this.comments = [];
  }
}

/** BuildKit's PrevComment: `# text` lines before an instruction; an empty `#` clears them. */
function collectComments(trivia: string, comments: string[]): void {
  let start = 0;
  while (start < trivia.length) {
    const nl = trivia.indexOf("\n", start);
    const end = nl < 0 ? trivia.length : nl;
    const lead = skipGoSpace(trivia, start);
    if (lead < end && trivia[lead] === "#") {
      // Like BuildKit, drop the line's first character (not necessarily the `#`) and trim.
      const comment = goTrimSpace(trivia.slice(start + 1, end));
      if (comment === "") comments.length = 0;
      else comments.push(comment);
    }
    start = end + 1;
  }
}

function rangeOf(logical: LogicalLine, start: number, end: number): Span {
  return spanInLogical(logical, start, end);
}

function buildNode(
  logical: LogicalLine,
  from: number,
  to: number,
  ctx: BuildContext,
  heredocs: readonly HeredocNode[],
  comments: readonly string[],
): InstructionNode {
  const text = logical.text;
  const split = splitCommand(text, from, to);
  const { keyword, name } = internKeyword(split.keyword.value);
  let parsed;
  try {
    parsed = parseArguments(name, text, split.argsStart, split.argsEnd, ctx.escapeToken);
  } catch (err) {
    if (err instanceof LineParseError) {
      const at = positionInLogical(logical, err.offset);
      throw ctx.source.error(err.message, at.line, at.column);
    }
    throw err;
  }
  const child =
    parsed.subCommand === undefined
      ? undefined
      : buildNode(logical, parsed.subCommand.start, parsed.subCommand.end, ctx, heredocs, []);
  const flags: readonly FlagNode[] = split.flags.length === 0 ? NO_FLAGS : split.flags.map((w) => flagNode(logical, w));
  const args: ArgumentNode[] = parsed.args.map((w: Word) => ({ value: w.value, range: rangeOf(logical, w.start, w.end) }));
  // A single argument spanning the whole argument text (shell form, WORKDIR …) shares its string.
  const only = parsed.args.length === 1 ? parsed.args[0]! : undefined;
  const argsText = only !== undefined && only.start === split.argsStart && only.end === split.argsEnd ? only.value : text.slice(split.argsStart, split.argsEnd);
  const keywordRange = rangeOf(logical, split.keyword.start, split.keyword.end);
  const lastHeredoc = heredocs[heredocs.length - 1];
  const isTop = from === 0 && to === text.length;
  const end = isTop ? (lastHeredoc?.range.end ?? logical.end) : positionInLogical(logical, to, to > from);
  const range = new Span(keywordRange.startLine, keywordRange.startColumn, keywordRange.startOffset, end.line, end.column, end.offset);
  return {
    keyword,
    name,
    flags,
    args,
    json: parsed.json,
    original: isTop ? text : text.slice(from, to),
    argsText,
    argsRange: rangeOf(logical, split.argsStart, split.argsEnd),
    keywordRange,
    child,
    heredocs,
    comments: comments.length === 0 ? NO_COMMENTS : comments.slice(),
    range,
    startLine: keywordRange.startLine,
    endLine: end.line,
  };
}

function flagNode(logical: LogicalLine, w: Word): FlagNode {
  const body = w.value.startsWith("--") ? w.value.slice(2) : w.value;
  const eq = body.indexOf("=");
  return {
    text: w.value,
    name: eq < 0 ? body : body.slice(0, eq),
    value: eq < 0 ? undefined : body.slice(eq + 1),
    range: rangeOf(logical, w.start, w.end),
  };
}
