import { parse, type InstructionNode } from "../parser/index.js";

/**
 * The base image's ONBUILD triggers as instructions to run first in the child stage. Each
 * trigger is parsed on its own (BuildKit: one expression per trigger); ranges point into the
 * trigger text, so errors name the trigger.
 */
export function onbuildSteps(triggers: readonly string[] | null | undefined, file = "ONBUILD"): InstructionNode[] {
  const out: InstructionNode[] = [];
  for (const t of triggers ?? []) {
    const ast = parse(t, { file });
    for (const n of ast.instructions) if (n.name !== "") out.push(n);
  }
  return out;
}
