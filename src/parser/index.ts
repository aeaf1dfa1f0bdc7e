/** The Dockerfile parser: text → syntax tree with source ranges (no instruction semantics). */
export { parse, type ParseOptions } from "./parse.js";
export { dumpAst, dumpInstruction } from "./dump.js";
export { DockerfileSyntaxError, type SyntaxErrorLocation } from "./errors.js";
export { goQuote } from "./text.js";
export type {
  ArgumentNode,
  Directive,
  DirectiveName,
  DockerfileAst,
  EscapeToken,
  FlagNode,
  HeredocNode,
  InstructionNode,
  ParseWarning,
  Position,
  SourceRange,
} from "./ast.js";
