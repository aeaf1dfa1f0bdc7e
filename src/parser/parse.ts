import nearley from "nearley";
import type { DockerfileAst, ParseWarning } from "./ast.js";
import { AstBuilder } from "./ast-builder.js";
import { DockerfileSyntaxError } from "./errors.js";
import type { BodyItem } from "./grammar-actions.js";
import grammar from "./grammar.generated.js";
import { DockerfileTokenStream, SourceText, type DockerfileToken } from "./lexer.js";

export interface ParseOptions {
  /** The name errors and ranges report (default `Dockerfile`). */
  readonly file?: string;
}

const compiledGrammar = nearley.Grammar.fromCompiled(grammar as unknown as nearley.CompiledRules);

/** Items per nearley run: see grammar/dockerfile.ne. */
const CHUNK_ITEMS = 256;

const LEXER_STATE = Object.freeze({ line: 0, col: 0, state: "" });

/**
 * Hands nearley the tokens of one chunk of items. It also drops each column of the chart that
 * nearley is done with (as its keepHistory: false would, but without `delete`, which turns the
 * table into a slow dictionary): a long instruction has a token per word, and a chart kept
 * whole until the chunk ends made garbage collection the main cost of such a line.
 */
class ItemLexer {
  private tokens: DockerfileToken[] = [];
  private index = 0;
  private parser: nearley.Parser | undefined;
  load(tokens: DockerfileToken[], parser: nearley.Parser): void {
    this.tokens = tokens;
    this.index = 0;
    this.parser = parser;
  }
  reset(): this {
    return this;
  }
  next(): DockerfileToken | undefined {
    const parser = this.parser as unknown as { current: number; table: unknown[] };
    if (parser.current > 0) parser.table[parser.current - 1] = undefined;
    return this.tokens[this.index++];
  }
  save(): { line: number; col: number; state: string } {
    return LEXER_STATE;
  }
  has(_name: string): boolean {
    return true;
  }
  formatError(token: DockerfileToken | undefined, message?: string): string {
    return `${message ?? "syntax error"}${token === undefined ? "" : ` at line ${token.line}`}`;
  }
}

/**
 * Parse Dockerfile text into its syntax tree, exactly as BuildKit's parser reads it (directives,
 * escape character, continuations, comments, heredocs, exec vs shell form). Throws
 * DockerfileSyntaxError, and nothing else, for any input that BuildKit's parser rejects.
 */
export function parse(text: string, options: ParseOptions = {}): DockerfileAst {
  const file = options.file ?? "Dockerfile";
  try {
    return parseSource(text, file);
  } catch (err) {
    if (err instanceof DockerfileSyntaxError) throw err;
    const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new DockerfileSyntaxError(`internal parser error: ${message}`, { file, line: 1, column: 1 }, { cause: err });
  }
}

function parseSource(input: string, file: string): DockerfileAst {
  // A UTF-8 byte order mark on the first line is ignored.
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const source = new SourceText(text, file);
  const stream = new DockerfileTokenStream(source);
  stream.reset(text);
  const warnings: ParseWarning[] = [];
  const builder = new AstBuilder({ source, escapeToken: stream.escapeToken, warnings });
  const itemLexer = new ItemLexer();
  const lexer = itemLexer as unknown as nearley.Lexer;
  let chunk: DockerfileToken[] = [];
  let itemStart = 0;
  let items = 0;
  const parseChunk = (): void => {
    // keepHistory: see ItemLexer.
    const parser = new nearley.Parser(compiledGrammar, { lexer, keepHistory: true });
    itemLexer.load(chunk, parser);
    parser.feed("");
    if (parser.results.length !== 1) throw new Error(`grammar produced ${parser.results.length} parses at line ${chunk[0]!.line}`);
    for (const item of parser.results[0] as BodyItem[]) builder.add(item);
    chunk = [];
    itemStart = 0;
    items = 0;
  };
  for (let tok = stream.next(); tok !== undefined; tok = stream.next()) {
    if (tok.type === "directive") continue;
    chunk.push(tok);
    // An item ends with a trivia run, an instruction's last line, or its heredocs.
    const ends = tok.type === "endLine" || tok.type === "heredocs" || tok.type === "trivia";
    if (!ends) continue;
    itemStart = chunk.length;
    if (++items === CHUNK_ITEMS) parseChunk();
  }
  if (itemStart !== chunk.length) throw new Error("token stream ended inside an instruction");
  if (chunk.length > 0) parseChunk();
  const instructions = builder.instructions;
  if (instructions.length === 0) {
    const lines = text.length === 0 ? 1 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    throw source.error("file with no instructions", Math.max(1, lines), 1);
  }
  return { file, directives: stream.directives, escapeToken: stream.escapeToken, instructions, warnings };
}
