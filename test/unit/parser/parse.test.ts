import { describe, expect, it } from "vitest";
import { DockerfileSyntaxError, dumpAst, parse } from "../../../src/parser/index.js";

const sexp = (text: string): string => dumpAst(parse(text));

// input Dockerfile → BuildKit's AST dump
const table: [string, string, string][] = [
  ["examples from the issue", 'COPY --chown=1:1 a b /dst/\nCMD ["x", "y"]\nENV a=1 b="2 3"\nENV a 1\nHEALTHCHECK --interval=5s CMD ["c"]\nONBUILD RUN x\n',
    '(copy ["--chown=1:1"] "a" "b" "/dst/")\n(cmd "x" "y")\n(env "a" "1" "=" "b" "\\"2 3\\"" "=")\n(env "a" "1" "")\n(healthcheck ["--interval=5s"] "CMD" "c")\n(onbuild (run "x"))\n'],
  ["keywords are case-insensitive", "from alpine\nRuN echo hi\n", '(from "alpine")\n(run "echo hi")\n'],
  ["FROM with platform and stage name", "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n", '(from ["--platform=$BUILDPLATFORM"] "golang:1.22" "AS" "build")\n'],
  ["continued shell-form RUN is joined", "RUN apt-get update && \\\n    apt-get install -y curl\n", '(run "apt-get update &&     apt-get install -y curl")\n'],
  ["continuation after a comment line", "RUN a \\\n# note\n  b\n", '(run "a   b")\n'],
  ["empty continuation lines are skipped", "RUN a \\\n\n   \n  b\n", '(run "a   b")\n'],
  ["trailing escape at end of file", "FROM x\nRUN a \\", '(from "x")\n(run "a")\n'],
  ["escaped escape does not continue", "RUN echo a\\\\\nRUN b\n", '(run "echo a\\\\\\\\")\n(run "b")\n'],
  // Read by the lexer's moo states (their multiline `$` matches before a CR), not by hand.
  ["a CR inside a line ends a continued piece", "RUN a \\\rb\nRUN c\n", '(run "a \\rb")\n(run "c")\n'],
  ["backtick escape directive", "# escape=`\nFROM x\nRUN dir c:\\ `\n  /b\n", '(from "x")\n(run "dir c:\\\\   /b")\n'],
  ["backslash is literal with backtick escape", "# escape=`\nCOPY a\\ b\\ c:\\\n", '(copy "a\\\\" "b\\\\" "c:\\\\")\n'],
  ["JSON with unicode escapes", 'CMD ["\\u00e9t\\u00e9", "\\ud83d\\ude00", "a\\u0000b"]\n', '(cmd "été" "😀" "a\\x00b")\n'],
  ["invalid JSON falls back to shell form", "CMD [\"a\", 'b']\nRUN [oops\nENTRYPOINT [\"x\"] trailing\n",
    "(cmd \"[\\\"a\\\", 'b']\")\n(run \"[oops\")\n(entrypoint \"[\\\"x\\\"] trailing\")\n"],
  ["invalid JSON in COPY splits on whitespace", 'COPY ["a" "b"]\n', '(copy "[\\"a\\"" "\\"b\\"]")\n'],
  ["flags: quotes removed, -- ends flags", 'COPY --chown="a b" -- --notaflag /x\n', '(copy ["--chown=a b"] "--notaflag" "/x")\n'],
  ["RUN flags", "RUN --mount=type=cache,target=/root/.cache --network=none pip install x\n", '(run ["--mount=type=cache,target=/root/.cache" "--network=none"] "pip install x")\n'],
  ["ENV quotes and escapes kept", 'ENV a="x y" b=c\\ d c=\'e f\'\n', '(env "a" "\\"x y\\"" "=" "b" "c\\\\ d" "=" "c" "\'e f\'" "=")\n'],
  ["LABEL", 'LABEL "com.example.a"="1" b=2\n', '(label "\\"com.example.a\\"" "\\"1\\"" "=" "b" "2" "=")\n'],
  ["ARG several with defaults", "ARG A B=2 C=\"x y\"\n", '(arg "A" "B=2" "C=\\"x y\\"")\n'],
  ["VOLUME words and JSON", 'VOLUME /a /b\nVOLUME ["/c", "/d"]\n', '(volume "/a" "/b")\n(volume "/c" "/d")\n'],
  ["SHELL, STOPSIGNAL, USER, WORKDIR, EXPOSE, MAINTAINER", 'SHELL ["powershell", "-Command"]\nSTOPSIGNAL SIGTERM\nUSER app:app\nWORKDIR /my dir\nEXPOSE 80/tcp 443\nMAINTAINER Me <me@example.com>\n',
    '(shell "powershell" "-Command")\n(stopsignal "SIGTERM")\n(user "app:app")\n(workdir "/my dir")\n(expose "80/tcp" "443")\n(maintainer "Me <me@example.com>")\n'],
  ["HEALTHCHECK NONE and shell form", "HEALTHCHECK NONE\nHEALTHCHECK --retries=3 CMD curl -f http://localhost/ || exit 1\n", '(healthcheck "NONE")\n(healthcheck ["--retries=3"] "CMD" "curl -f http://localhost/ || exit 1")\n'],
  ["ONBUILD with flags in the nested instruction", "ONBUILD COPY --from=build /a /b\n", '(onbuild (copy ["--from=build"] "/a" "/b"))\n'],
  ["unknown instructions are kept for the next layer", "RUNN x\n", '(runn "")\n'],
  ["comments inside arguments are text", "RUN echo a # not a comment\n", '(run "echo a # not a comment")\n'],
  ["CRLF line endings", "FROM x\r\nRUN a \\\r\n  b\r\n", '(from "x")\n(run "a   b")\n'],
  ["BOM is ignored", "\ufeffFROM x\n", '(from "x")\n'],
  ["printable unicode kept, control characters quoted", "MAINTAINER é\u0001\u00a0z\u00a0\n", '(maintainer "é\\x01\\u00a0z")\n'],
  ["heredoc bodies are not instructions", "RUN <<EOF\nFROM not-an-instruction\nEOF\nRUN b\n", '(run "<<EOF")\n(run "b")\n'],
  ["heredocs only for RUN, COPY, ADD in shell form", 'RUN ["<<EOF"]\nUSER <<X\nX\n', '(run "<<EOF")\n(user "<<X")\n(x "")\n'],
];

describe("parse → BuildKit AST dump", () => {
  for (const [name, input, want] of table) {
    it(name, () => {
      expect(sexp(input)).toBe(want);
    });
  }
});

describe("directives", () => {
  it("reads syntax, escape and check at the top, case-insensitively", () => {
    const ast = parse("# syntax=docker/dockerfile:1\n#  ESCAPE = `\n# check=skip=all\nFROM x\n");
    expect(ast.directives.map((d) => [d.name, d.value])).toEqual([
      ["syntax", "docker/dockerfile:1"],
      ["escape", "`"],
      ["check", "skip=all"],
    ]);
    expect(ast.escapeToken).toBe("`");
    expect(ast.directives[1]!.range.start).toEqual({ line: 2, column: 1, offset: 29 });
  });
  it("stops at the first line that is not a directive (comment, blank line, unknown name)", () => {
    expect(parse("# hello\n# escape=`\nFROM x\n").escapeToken).toBe("\\");
    expect(parse("\n# escape=`\nFROM x\n").escapeToken).toBe("\\");
    expect(parse("# foo=bar\n# escape=`\nFROM x\n").escapeToken).toBe("\\");
    expect(parse("FROM x\n# escape=`\n").directives).toEqual([]);
  });
  it("rejects a repeated directive and a bad escape token", () => {
    expect(() => parse("# escape=`\n# escape=\\\nFROM x\n")).toThrow("only one escape parser directive can be used");
    expect(() => parse("# escape=x\nFROM x\n")).toThrow(/invalid escape token 'x'/);
  });
});

describe("heredocs", () => {
  it("reads bodies, several on one line, in order", () => {
    const ast = parse("FROM x\nCOPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\nRUN true\n");
    const copy = ast.instructions[1]!;
    expect(copy.heredocs.map((h) => [h.name, h.content])).toEqual([
      ["FILE1", "content 1\n"],
      ["FILE2", "content 2\n"],
    ]);
    expect(copy.range.end.line).toBe(6);
    expect(ast.instructions[2]!.name).toBe("run");
  });
  it("<<- allows an indented terminator; content keeps its tabs until instructions strip them", () => {
    const h = parse("RUN <<-EOT\n\tbaz\n\tquux\n\tEOT\n").instructions[0]!.heredocs[0]!;
    expect(h).toMatchObject({ name: "EOT", chomp: true, expand: true, content: "\tbaz\n\tquux\n" });
  });
  it("quoted delimiters disable expansion; fd prefixes are kept", () => {
    const run = parse("RUN <<'A' 3<<\"B\" <<C\na\nA\nb\nB\nc\nC\n").instructions[0]!;
    expect(run.heredocs.map((h) => [h.name, h.expand, h.fileDescriptor])).toEqual([
      ["A", false, 0],
      ["B", false, 3],
      ["C", true, 0],
    ]);
  });
  it("comments and blank lines inside a body are content", () => {
    const h = parse("RUN <<EOF\n# internal\n\necho hi\nEOF\n").instructions[0]!.heredocs[0]!;
    expect(h.content).toBe("# internal\n\necho hi\n");
  });
  it("reports an unterminated heredoc with its position", () => {
    expect(() => parse("FROM x\nRUN cat <<EOF\nhello\n")).toThrow("Dockerfile:2:9: unterminated heredoc EOF");
  });
});

describe("ranges", () => {
  it("points at the instruction, its flags and arguments across continuation lines", () => {
    const ast = parse("FROM x\n  COPY --chown=1:1 \\\n     a b\n");
    const copy = ast.instructions[1]!;
    expect(copy.range.start).toEqual({ line: 2, column: 3, offset: 9 });
    expect(copy.flags[0]).toMatchObject({ text: "--chown=1:1", name: "chown", value: "1:1" });
    expect(copy.flags[0]!.range.start).toMatchObject({ line: 2, column: 8 });
    expect(copy.args.map((a) => [a.value, a.range.start.line, a.range.start.column])).toEqual([
      ["a", 3, 6],
      ["b", 3, 8],
    ]);
    expect(copy.startLine).toBe(2);
    expect(copy.endLine).toBe(3);
  });
  it("gives ENV keys and values their own ranges", () => {
    const env = parse('ENV a=1 bb="x y"\n').instructions[0]!;
    expect(env.args.map((a) => [a.value, a.range.start.column, a.range.end.column])).toEqual([
      ["a", 5, 6],
      ["1", 7, 8],
      ["=", 6, 7],
      ["bb", 9, 11],
      ['"x y"', 12, 17],
      ["=", 11, 12],
    ]);
  });
  it("keeps preceding comments", () => {
    const ast = parse("# first\n# second\nFROM x\n#\n# after reset\nRUN y\n");
    expect(ast.instructions[0]!.comments).toEqual(["first", "second"]);
    expect(ast.instructions[1]!.comments).toEqual(["after reset"]);
  });
});

describe("errors", () => {
  it("rejects an empty file", () => {
    expect(() => parse("")).toThrow("file with no instructions");
    expect(() => parse("# just a comment\n\n")).toThrow(DockerfileSyntaxError);
  });
  it("rejects non-string JSON arrays with file:line:column and a code frame", () => {
    try {
      parse("FROM x\nCMD [\"a\", 1]\n", { file: "app.Dockerfile" });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DockerfileSyntaxError);
      const e = err as DockerfileSyntaxError;
      expect(e.message).toBe("app.Dockerfile:2:5: when using JSON array syntax, arrays must be comprised of strings only");
      expect(e.render()).toBe(`${e.message}\n 2 | CMD ["a", 1]\n   |     ^`);
    }
  });
  it("rejects ENV without a value and ENV pairs without =", () => {
    expect(() => parse("ENV a\n")).toThrow("ENV must have two arguments");
    expect(() => parse("ENV a=1 b\n")).toThrow(`Syntax error - can't find = in "b". Must be of the form: name=value`);
  });
  it("warns about empty continuation lines", () => {
    const ast = parse("RUN a \\\n\n  b\n");
    expect(ast.warnings[0]!.message).toContain("Empty continuation line");
  });
});

describe("BuildKit's line length limit", () => {
  it("rejects a line longer than 64 KiB, as BuildKit's scanner does", () => {
    const label = "a".repeat(65536);
    expect(() => parse(`FROM image\nLABEL test=${label}\n`)).toThrow("Dockerfile:2:1: dockerfile line greater than max allowed size of 65535");
    expect(parse(`FROM image\nLABEL t=${"a".repeat(65000)}\n`).instructions).toHaveLength(2);
  });
});
