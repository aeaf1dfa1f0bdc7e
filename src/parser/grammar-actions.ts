/**
 * The nearley grammar's postprocessors. They keep the tokens the AST builder needs, in order;
 * the body list is appended to in place (the grammar is unambiguous, so no parse shares it).
 */
import type { DockerfileToken } from "./lexer.js";

/** An instruction: the token ending its logical line and its heredoc bodies. */
export interface InstructionItem {
  readonly kind: "instruction";
  readonly end: DockerfileToken;
  /** The `heredocs` token, when the instruction opens heredocs. */
  readonly heredocs: DockerfileToken | undefined;
}

/** A run of blank/comment lines at the top level (their comments precede the next instruction). */
export interface TriviaItem {
  readonly kind: "trivia";
  readonly token: DockerfileToken;
}

export type BodyItem = InstructionItem | TriviaItem;

export function emptyItems(): BodyItem[] {
  return [];
}

// nearley passes each rule's matched symbols as an untyped array: the casts name what the
// grammar rule guarantees at that index.
export function appendItem(d: unknown[]): BodyItem[] {
  const items = d[0] as BodyItem[];
  const item = d[1] as DockerfileToken | InstructionItem;
  items.push("kind" in item ? item : { kind: "trivia", token: item });
  return items;
}

export function instructionItem(d: unknown[]): InstructionItem {
  return { kind: "instruction", end: d[1] as DockerfileToken, heredocs: d[2] as DockerfileToken | undefined };
}

export function fileItems(d: unknown[]): BodyItem[] {
  return d[1] as BodyItem[];
}
