import nearley from "nearley";
import { describe, expect, it } from "vitest";
import type { BodyItem } from "../../../src/parser/grammar-actions.js";
import grammar from "../../../src/parser/grammar.generated.js";
import { DockerfileTokenStream, SourceText, type DockerfileToken } from "../../../src/parser/lexer.js";

// parse.ts runs the grammar chunk by chunk; the `dockerfile` rule describes the whole file.
// Both must accept the same token stream the same way.
function wholeFile(text: string): BodyItem[] {
  const stream = new DockerfileTokenStream(new SourceText(text, "Dockerfile"));
  stream.reset(text);
  const tokens: DockerfileToken[] = [];
  for (let t = stream.next(); t !== undefined; t = stream.next()) tokens.push(t);
  let i = 0;
  const lexer = { reset: () => lexer, next: () => tokens[i++], save: () => ({}), has: () => true, formatError: () => "" };
  const compiled = nearley.Grammar.fromCompiled({ ...(grammar as unknown as nearley.CompiledRules), ParserStart: "dockerfile" });
  const parser = new nearley.Parser(compiled, { lexer: lexer as unknown as nearley.Lexer });
  parser.feed("");
  expect(parser.results).toHaveLength(1);
  return parser.results[0] as BodyItem[];
}

describe("grammar", () => {
  it("parses a whole file unambiguously: directives, trivia, continued instructions, heredocs", () => {
    const items = wholeFile("# syntax=x\n# escape=\\\n\nFROM a\n# c\nRUN b \\\n# inside\n  c\nCOPY <<A <<B /\na\nA\nb\nB\nRUN d \\");
    expect(items.map((it) => it.kind)).toEqual(["directive", "directive", "trivia", "instruction", "trivia", "instruction", "instruction", "instruction"]);
    const copy = items[6]!;
    expect(copy.kind === "instruction" && copy.end.type).toBe("heredocLine");
    expect(copy.kind === "instruction" && copy.heredocs?.heredocs?.map((h) => h.name)).toEqual(["A", "B"]);
  });
});
