import { toInstructions, type Instruction } from "../instructions/index.js";
import { parse } from "../parser/index.js";

/**
 * The base image's ONBUILD triggers as instructions to run first in the child stage. Each
 * trigger is parsed and validated on its own (BuildKit: one expression per trigger); ranges
 * point into the trigger text, so errors name the trigger.
 */
export function onbuildSteps(triggers: readonly string[] | null | undefined, file = "ONBUILD"): Instruction[] {
  const out: Instruction[] = [];
  for (const t of triggers ?? []) {
    const ast = parse(t, { file });
    out.push(...toInstructions({ ...ast, instructions: ast.instructions.filter((n) => n.name !== "") }, t));
  }
  return out;
}
