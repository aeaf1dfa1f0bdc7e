import nearley from "nearley";
import { describe, expect, it } from "vitest";
import type { BodyItem, CommandSyntax, InstructionItem } from "../../../src/parser/grammar-actions.js";
import grammar from "../../../src/parser/grammar.generated.js";
import { parse } from "../../../src/parser/index.js";
import { DockerfileTokenStream, SourceText, type DockerfileToken } from "../../../src/parser/lexer.js";

function tokensOf(text: string): DockerfileToken[] {
  const stream = new DockerfileTokenStream(new SourceText(text, "Dockerfile"));
  stream.reset(text);
  const tokens: DockerfileToken[] = [];
  for (let t = stream.next(); t !== undefined; t = stream.next()) tokens.push(t);
  return tokens;
}

// parse.ts runs the grammar chunk by chunk; the `dockerfile` rule describes the whole file.
// Both must accept the same token stream the same way.
function wholeFile(text: string): BodyItem[] {
  const tokens = tokensOf(text);
  let i = 0;
  const lexer = { reset: () => lexer, next: () => tokens[i++], save: () => ({}), has: () => true, formatError: () => "" };
  const compiled = nearley.Grammar.fromCompiled({ ...(grammar as unknown as nearley.CompiledRules), ParserStart: "dockerfile" });
  const parser = new nearley.Parser(compiled, { lexer: lexer as unknown as nearley.Lexer });
  parser.feed("");
  expect(parser.results).toHaveLength(1);
  return parser.results[0] as BodyItem[];
}

/** The one instruction of `line`, as the grammar reads it: keyword, flags, argument values. */
function syntax(line: string): { keyword: string; flags: string[]; args: (string | undefined)[]; json: boolean; child?: unknown } {
  const items = wholeFile(`${line}\n`).filter((it): it is InstructionItem => it.kind === "instruction");
  expect(items).toHaveLength(1);
  const show = (c: CommandSyntax): { keyword: string; flags: string[]; args: (string | undefined)[]; json: boolean; child?: unknown } => ({
    keyword: c.keyword.type,
    flags: c.flags.map((f) => f.value),
    args: c.args.args.map((w) => w.value),
    json: c.args.json,
    ...(c.args.child === undefined ? {} : { child: show(c.args.child) }),
  });
  return show(items[0]!.command!);
}

describe("grammar", () => {
  it("parses a whole file unambiguously: directives, trivia, continued instructions, heredocs", () => {
    const items = wholeFile("# syntax=x\n# escape=\\\n\nFROM a\n# c\nRUN b \\\n# inside\n  c\nCOPY <<A <<B /\na\nA\nb\nB\nRUN d \\");
    expect(items.map((it) => it.kind)).toEqual(["directive", "directive", "trivia", "instruction", "trivia", "instruction", "instruction", "instruction"]);
    const copy = items[6]!;
    expect(copy.kind === "instruction" && copy.end.type).toBe("endLine");
    expect(copy.kind === "instruction" && copy.heredocs?.heredocs?.map((h) => h.name)).toEqual(["A", "B"]);
  });

  it("reads the keyword's family, then flags, then the family's argument form", () => {
    expect(syntax("RUN --mount=type=cache,target=/c --network=none make")).toEqual({ keyword: "kwRun", flags: ["--mount=type=cache,target=/c", "--network=none"], args: ["make"], json: false });
    expect(syntax(`copy --chown="1:1" a "b c" /d/`)).toEqual({ keyword: "kwCopy", flags: ["--chown=1:1"], args: ["a", '"b', 'c"', "/d/"], json: false });
    expect(syntax(`CMD ["a", "b\\u0041"]`)).toEqual({ keyword: "kwShell", flags: [], args: ["a", "bA"], json: true });
    expect(syntax(`CMD [ "a", 'b' ]`)).toEqual({ keyword: "kwShell", flags: [], args: [`[ "a", 'b' ]`], json: false });
    expect(syntax("ENV a=1 b=\"2 3\"")).toEqual({ keyword: "kwNameVal", flags: [], args: ["a", "1", "=", "b", '"2 3"', "="], json: false });
    expect(syntax("ENV a 1 2")).toEqual({ keyword: "kwNameVal", flags: [], args: ["a", "1 2", ""], json: false });
    expect(syntax("ARG a b=c")).toEqual({ keyword: "kwArg", flags: [], args: ["a", "b=c"], json: false });
    expect(syntax("HEALTHCHECK --interval=5s CMD [\"true\"]")).toEqual({ keyword: "kwHealth", flags: ["--interval=5s"], args: ["CMD", "true"], json: true });
    expect(syntax("ONBUILD RUN x")).toEqual({ keyword: "kwOnbuild", flags: [], args: [], json: false, child: { keyword: "kwRun", flags: [], args: ["x"], json: false } });
    expect(syntax("FROM a AS b")).toEqual({ keyword: "kwList", flags: [], args: ["a", "AS", "b"], json: false });
    expect(syntax("WORKDIR /a b")).toEqual({ keyword: "kwString", flags: [], args: ["/a b"], json: false });
    expect(syntax("FOO bar")).toEqual({ keyword: "kwOther", flags: [], args: [], json: false });
  });

  it("ends the flags at the first word without `--`, or at a lone `--`", () => {
    expect(syntax("RUN --a -- --b")).toEqual({ keyword: "kwRun", flags: ["--a"], args: ["--b"], json: false });
    expect(syntax("FROM --platform=x a --b")).toEqual({ keyword: "kwList", flags: ["--platform=x"], args: ["a", "--b"], json: false });
    expect(syntax("ARG a --b")).toEqual({ keyword: "kwArg", flags: [], args: ["a", "--b"], json: false });
  });

  it("reads a run of flags, of words, of shell words between heredoc openers as one token", () => {
    const types = (line: string): string[] => tokensOf(`${line}\n`).map((t) => t.type);
    expect(types("RUN --a --b=c -- --d")).toEqual(["kwRun", "flags", "flagsEnd", "shellText", "endLine"]);
    expect(types(`ARG a "b c"=d \\`)).toEqual(["kwArg", "words", "endLine"]);
    expect(types("ENV a=b c d=e")).toEqual(["kwNameVal", "words", "endLine"]);
    expect(types("RUN a b <<X c d <<Y\nX\nY")).toEqual(["kwRun", "shellWords", "heredoc", "shellWords", "heredoc", "heredocs", "endLine"]);
    expect(syntax(`ARG a "b c"=d \\`)).toEqual({ keyword: "kwArg", flags: [], args: ["a", '"b c"=d'], json: false });
  });

  it("gives each line of the same token types its own values (one derivation, run per line)", () => {
    const ast = parse("FROM a\nENV a=1 b=2\nENV c=3\nCOPY --x=1 --y a b\nCOPY --z c d\nRUN x <<A y\nhello\nA\nRUN z <<B\nbye\nB\n");
    expect(ast.instructions.map((i) => [i.flags.map((f) => f.text), i.args.map((w) => w.value)])).toEqual([
      [[], ["a"]],
      [[], ["a", "1", "=", "b", "2", "="]],
      [[], ["c", "3", "="]],
      [["--x=1", "--y"], ["a", "b"]],
      [["--z"], ["c", "d"]],
      [[], ["x <<A y"]],
      [[], ["z <<B"]],
    ]);
    expect(ast.instructions.slice(5).map((i) => i.heredocs.map((h) => h.content))).toEqual([["hello\n"], ["bye\n"]]);
  });

  it("makes heredoc openers tokens of RUN, COPY and ADD shell forms only", () => {
    const types = (line: string): string[] => tokensOf(`${line}\nx\nEOF\n`).map((t) => t.type);
    expect(types("RUN cat <<EOF >f")).toEqual(["kwRun", "shellWords", "heredoc", "shellWords", "heredocs", "endLine"]);
    expect(types("COPY <<EOF /f")).toEqual(["kwCopy", "heredoc", "shellWords", "heredocs", "endLine"]);
    expect(types("ONBUILD RUN <<EOF")).toEqual(["kwOnbuild", "kwRun", "heredoc", "heredocs", "endLine"]);
    // Not heredocs: exec form, CMD, a quoted opener, an opener glued to a word.
    expect(types(`RUN ["<<EOF"]`).slice(0, 3)).toEqual(["kwRun", "json", "endLine"]);
    expect(types("CMD cat <<EOF").slice(0, 3)).toEqual(["kwShell", "shellText", "endLine"]);
    expect(types(`RUN echo "<<EOF" a<<EOF`).slice(0, 3)).toEqual(["kwRun", "shellWords", "endLine"]);
    // BuildKit looks one ONBUILD deep, no further.
    expect(types("ONBUILD ONBUILD RUN <<EOF").slice(0, 5)).toEqual(["kwOnbuild", "kwOnbuild", "kwRun", "shellText", "endLine"]);
  });
});

describe("errors the grammar recognises point at file, line and column", () => {
  const at = (text: string): string => {
    try {
      parse(text, { file: "df" });
    } catch (err) {
      return (err as Error).message;
    }
    return "no error";
  };
  it("names the argument that is wrong", () => {
    expect(at("FROM a\nRUN   [1, 2]\n")).toBe("df:2:7: when using JSON array syntax, arrays must be comprised of strings only");
    expect(at(`FROM a\nCOPY ["<<EOF", 1]\n`)).toBe("df:2:6: when using JSON array syntax, arrays must be comprised of strings only");
    expect(at("FROM a\nLABEL \\\n  k\n")).toBe("df:3:3: LABEL must have two arguments");
    expect(at("FROM a\nENV a=1 \\\n b c=2\n")).toBe(`df:3:2: Syntax error - can't find = in "b". Must be of the form: name=value`);
    expect(at("FROM a\nONBUILD ENV x\n")).toBe("df:2:13: ENV must have two arguments");
    expect(at("FROM a\nRUN <<'EOF\n")).toBe("df:2:5: unexpected end of statement while looking for matching single-quote");
  });
});
