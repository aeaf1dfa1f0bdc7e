/**
 * The nearley grammar's postprocessors: they keep the tokens the AST builder needs.
 * nearley passes each rule's matched symbols as an untyped array; the casts name what the
 * grammar rule guarantees at that index.
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

export interface DirectiveItem {
  readonly kind: "directive";
  readonly token: DockerfileToken;
}

export type BodyItem = InstructionItem | TriviaItem | DirectiveItem;

export function triviaItem(d: unknown[]): TriviaItem {
  return { kind: "trivia", token: d[0] as DockerfileToken };
}

export function directiveItem(d: unknown[]): DirectiveItem {
  return { kind: "directive", token: d[0] as DockerfileToken };
}

export function fileItems(d: unknown[]): BodyItem[] {
  return [...(d[0] as DirectiveItem[]), ...(d[1] as BodyItem[])];
}

/** An instruction, from its last line (which carries the logical line) and heredoc bodies. */
export function lastLineItem(d: unknown[]): InstructionItem {
  return { kind: "instruction", end: d[0] as DockerfileToken, heredocs: d[1] as DockerfileToken | undefined };
}

export function firstItem(d: unknown[]): BodyItem[] {
  return [d[0] as BodyItem];
}

/**
 * Appends in place: every rule of this grammar completes on its last token, so a completed
 * `chunk` state is never discarded and no other parse shares the list.
 */
export function appendItem(d: unknown[]): BodyItem[] {
  const items = d[0] as BodyItem[];
  items.push(d[1] as BodyItem);
  return items;
}
