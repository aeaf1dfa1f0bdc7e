import { BerthError } from "../errors.js";

/** Where a syntax error points, plus the text of that line for the code frame. */
export interface SyntaxErrorLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The source line the error points into (without its line break), for the code frame. */
  readonly sourceLine?: string | undefined;
}

/**
 * Any problem with a Dockerfile's text or with an instruction's arguments and flags. `message`
 * is the one-line form `Dockerfile:12:5: unknown instruction: RUNN (did you mean RUN?)`;
 * `render()` adds a code frame (the line and a caret under the column).
 */
export class DockerfileSyntaxError extends BerthError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The message without the location prefix. */
  readonly detail: string;
  readonly sourceLine: string | undefined;

  constructor(detail: string, location: SyntaxErrorLocation, options: { cause?: unknown } = {}) {
    super(`${location.file}:${location.line}:${location.column}: ${detail}`, { exitCode: 1, cause: options.cause });
    this.file = location.file;
    this.line = location.line;
    this.column = location.column;
    this.detail = detail;
    this.sourceLine = location.sourceLine;
  }

  override render(options: { color: boolean } = { color: false }): string {
    if (this.sourceLine === undefined) return this.message;
    const gutter = String(this.line);
    const pad = " ".repeat(gutter.length);
    // Tabs keep their width in the caret line so the caret stays under the column.
    const before = this.sourceLine.slice(0, Math.max(0, this.column - 1)).replace(/[^\t]/g, " ");
    const caret = options.color ? "\u001b[31m^\u001b[39m" : "^";
    return `${this.message}\n ${gutter} | ${this.sourceLine}\n ${pad} | ${before}${caret}`;
  }
}
