/**
 * Turns the grammar's items into the AST: each instruction's logical line goes through
 * BuildKit's line parsing (split_command.go, line_parsers.go), and every word keeps a source range.
 */
import type { ArgumentNode, FlagNode, HeredocNode, InstructionNode, ParseWarning, SourceRange } from "./ast.js";
import type { BodyItem } from "./grammar-actions.js";
import { positionInLogical, type LogicalLine, type SourceText } from "./lexer.js";
import { LineParseError, parseArguments, splitCommand, type Word } from "./line-parser.js";
import { goTrimSpace, skipGoSpace } from "./text.js";

export interface BuildContext {
  readonly source: SourceText;
  readonly escapeToken: string;
  readonly warnings: ParseWarning[];
}

export function buildInstructions(items: readonly BodyItem[], ctx: BuildContext): InstructionNode[] {
  const out: InstructionNode[] = [];
  let comments: string[] = [];
  for (const item of items) {
    if (item.kind === "trivia") {
      collectComments(item.token.text, comments);
      continue;
    }
    const logical = item.end.logical!;
    const heredocs: HeredocNode[] = item.heredocs?.heredocs ?? [];
    const node = buildNode(logical, 0, logical.text.length, ctx, heredocs, comments);
    if (logical.emptyContinuationLine) {
      ctx.warnings.push({ message: `Empty continuation line found in: ${logical.text}`, range: node.range });
    }
    out.push(node);
    comments = [];
  }
  return out;
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

function rangeOf(logical: LogicalLine, start: number, end: number): SourceRange {
  return { start: positionInLogical(logical, start), end: positionInLogical(logical, end, end > start) };
}

function buildNode(
  logical: LogicalLine,
  from: number,
  to: number,
  ctx: BuildContext,
  heredocs: HeredocNode[],
  comments: string[],
): InstructionNode {
  const text = logical.text;
  const split = splitCommand(text, from, to);
  const name = split.keyword.value.toLowerCase();
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
  const flags: FlagNode[] = split.flags.map((w) => flagNode(logical, w));
  const args: ArgumentNode[] = parsed.args.map((w: Word) => ({ value: w.value, range: rangeOf(logical, w.start, w.end) }));
  const keywordRange = rangeOf(logical, split.keyword.start, split.keyword.end);
  const lastHeredoc = heredocs[heredocs.length - 1];
  const isTop = from === 0 && to === text.length;
  const end = isTop ? (lastHeredoc?.range.end ?? logical.end) : positionInLogical(logical, to, to > from);
  return {
    keyword: split.keyword.value,
    name,
    flags,
    args,
    json: parsed.json,
    original: isTop ? text : text.slice(from, to),
    argsText: text.slice(split.argsStart, split.argsEnd),
    argsRange: rangeOf(logical, split.argsStart, split.argsEnd),
    keywordRange,
    child,
    heredocs,
    comments: comments.slice(),
    range: { start: keywordRange.start, end },
    startLine: keywordRange.start.line,
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
