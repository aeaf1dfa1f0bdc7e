/**
 * Turns the grammar's items into the AST: offsets in the logical line become source ranges,
 * and the errors the grammar recognised become DockerfileSyntaxErrors at their position.
 */
import type { ArgumentNode, FlagNode, HeredocNode, InstructionNode, ParseWarning } from "./ast.js";
import type { ArgsSyntax, BodyItem, CommandSyntax, Word } from "./grammar-actions.js";
import { positionInLogical, spanInLogical, type LogicalLine, type SourceText } from "./lexer.js";
import type { LineToken } from "./line-lexer.js";
import { Span } from "./span.js";
import { goTrimSpace, skipGoSpace, trimGoSpaceEnd } from "./text.js";

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
    const text = logical.text;
    const node = buildNode(logical, item.command, 0, trimGoSpaceEnd(text), this.ctx, heredocs, this.comments);
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

const NO_ARGS: Pick<ArgsSyntax, "args" | "json" | "start" | "error" | "child"> = { args: [], json: false, start: -1 };

/**
 * The node of the instruction in [from, to) of the logical line (`to`: its end, trailing
 * blanks left out; ONBUILD's instruction starts after ONBUILD's flags).
 */
function buildNode(
  logical: LogicalLine,
  cmd: CommandSyntax | undefined,
  from: number,
  to: number,
  ctx: BuildContext,
  heredocs: readonly HeredocNode[],
  comments: readonly string[],
): InstructionNode {
  const text = logical.text;
  const kwStart = cmd === undefined ? skipGoSpace(text, from) : cmd.keyword.offset;
  const kwEnd = cmd === undefined ? kwStart : kwStart + cmd.keyword.value.length;
  const { keyword, name } = internKeyword(cmd === undefined ? "" : cmd.keyword.value);
  const parsed: Pick<ArgsSyntax, "args" | "json" | "start" | "error" | "child"> = cmd === undefined ? NO_ARGS : cmd.args;
  if (parsed.error !== undefined) {
    const at = positionInLogical(logical, parsed.error.offset);
    const message = parsed.error.named === true ? `${name.toUpperCase()} ${parsed.error.message}` : parsed.error.message;
    throw ctx.source.error(message, at.line, at.column);
  }
  const argsStart = parsed.start < 0 ? Math.max(kwStart, to) : parsed.start;
  const argsEnd = to;
  const child = parsed.child === undefined ? undefined : buildNode(logical, parsed.child, argsStart, argsEnd, ctx, heredocs, []);
  const flags: readonly FlagNode[] = cmd === undefined || cmd.flags.length === 0 ? NO_FLAGS : cmd.flags.map((t) => flagNode(logical, t));
  const args: ArgumentNode[] = parsed.args.map((w: Word) => ({ value: w.value ?? text.slice(w.start, w.end), range: rangeOf(logical, w.start, w.end) }));
  // A single argument spanning the whole argument text (shell form, WORKDIR …) shares its string.
  const only = args.length === 1 ? parsed.args[0]! : undefined;
  const argsText = only !== undefined && only.start === argsStart && only.end === argsEnd ? args[0]!.value : text.slice(argsStart, argsEnd);
  const keywordRange = rangeOf(logical, kwStart, kwEnd);
  const lastHeredoc = heredocs[heredocs.length - 1];
  const isTop = from === 0;
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
    argsRange: rangeOf(logical, argsStart, argsEnd),
    keywordRange,
    child,
    heredocs,
    comments: comments.length === 0 ? NO_COMMENTS : comments.slice(),
    range,
    startLine: keywordRange.startLine,
    endLine: end.line,
  };
}

/** A flag: its text as BuildKit reports it (quotes removed), split at the first `=`. */
function flagNode(logical: LogicalLine, t: LineToken): FlagNode {
  const text = t.value;
  const body = text.startsWith("--") ? text.slice(2) : text;
  const eq = body.indexOf("=");
  return {
    text,
    name: eq < 0 ? body : body.slice(0, eq),
    value: eq < 0 ? undefined : body.slice(eq + 1),
    range: rangeOf(logical, t.offset, t.offset + t.text.length),
  };
}
