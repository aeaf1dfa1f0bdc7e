/** Typed, validated Dockerfile instructions on top of the parser's syntax tree. */
import type { DockerfileAst } from "../parser/ast.js";
import { parse, type ParseOptions } from "../parser/parse.js";
import { InstructionContext } from "./context.js";
import { toInstruction } from "./convert.js";
import type { Instruction } from "./types.js";

export type * from "./types.js";
export { INSTRUCTION_NAMES } from "./convert.js";
export { assertNever } from "./assert-never.js";
export { expandMount, parseMountSpec, MountSpecError } from "./mount.js";
export { parseGoDuration } from "./values.js";

/** A parsed Dockerfile: the syntax tree and its instructions, typed and validated. */
export interface ParsedDockerfile {
  readonly ast: DockerfileAst;
  readonly instructions: readonly Instruction[];
}

/**
 * Type and validate every instruction of a parsed Dockerfile. Pass the source text to get
 * code frames in errors. Throws DockerfileSyntaxError on the first invalid instruction.
 */
export function toInstructions(ast: DockerfileAst, source?: string): Instruction[] {
  const ctx = new InstructionContext(ast.file, source, ast.escapeToken);
  return ast.instructions.map((node) => toInstruction(node, ctx));
}

/** Parse and validate a Dockerfile: `parse` followed by `toInstructions`. */
export function parseInstructions(text: string, options: ParseOptions = {}): ParsedDockerfile {
  const ast = parse(text, options);
  return { ast, instructions: toInstructions(ast, text) };
}
