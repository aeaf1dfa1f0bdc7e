import type { Position, SourceRange } from "./ast.js";

/**
 * A SourceRange stored as six numbers in one object: a large Dockerfile has hundreds of
 * thousands of ranges, and three objects per range made garbage collection the parser's main
 * cost. `start`/`end` are built on access; JSON output has the plain shape.
 */
export class Span implements SourceRange {
  constructor(
    readonly startLine: number,
    readonly startColumn: number,
    readonly startOffset: number,
    readonly endLine: number,
    readonly endColumn: number,
    readonly endOffset: number,
  ) {}

  get start(): Position {
    return { line: this.startLine, column: this.startColumn, offset: this.startOffset };
  }

  get end(): Position {
    return { line: this.endLine, column: this.endColumn, offset: this.endOffset };
  }

  toJSON(): { start: Position; end: Position } {
    return { start: this.start, end: this.end };
  }

  static between(start: Position, end: Position): Span {
    return new Span(start.line, start.column, start.offset, end.line, end.column, end.offset);
  }
}
