import nearley from "nearley";
import type { DockerfileAst, ParseWarning } from "./ast.js";
import { buildInstructions } from "./ast-builder.js";
import { DockerfileSyntaxError } from "./errors.js";
import type { BodyItem } from "./grammar-actions.js";
import grammar from "./grammar.generated.js";
import { DockerfileTokenStream, SourceText } from "./lexer.js";

export interface ParseOptions {
  /** The name errors and ranges report (default `Dockerfile`). */
  readonly file?: string;
}

const compiledGrammar = nearley.Grammar.fromCompiled(grammar as unknown as nearley.CompiledRules);

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
  const parser = new nearley.Parser(compiledGrammar, { lexer: stream as unknown as nearley.Lexer });
  parser.feed(text);
  if (parser.results.length !== 1) {
    throw new Error(`grammar produced ${parser.results.length} parses`);
  }
  const items = parser.results[0] as BodyItem[];
  const warnings: ParseWarning[] = [];
  const instructions = buildInstructions(items, { source, escapeToken: stream.escapeToken, warnings });
  if (instructions.length === 0) {
    const lines = text.length === 0 ? 1 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    throw source.error("file with no instructions", Math.max(1, lines), 1);
  }
  return { file, directives: stream.directives, escapeToken: stream.escapeToken, instructions, warnings };
}
