import type { SourceRange } from "../parser/ast.js";
import { DockerfileSyntaxError } from "../parser/errors.js";

/** What the conversion needs to report errors that point into the source. */
export class InstructionContext {
  private lines: string[] | undefined;

  constructor(
    readonly file: string,
    private readonly source: string | undefined,
    readonly escapeToken: string,
  ) {}

  error(message: string, range: SourceRange): DockerfileSyntaxError {
    const { line, column } = range.start;
    return new DockerfileSyntaxError(message, { file: this.file, line, column, sourceLine: this.lineText(line) });
  }

  private lineText(line: number): string | undefined {
    if (this.source === undefined) return undefined;
    this.lines ??= this.source.replace(/^\ufeff/, "").split("\n");
    return this.lines[line - 1]?.replace(/\r+$/, "");
  }
}
