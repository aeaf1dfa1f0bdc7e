import type { DockerfileAst, InstructionNode } from "./ast.js";
import { goQuote } from "./text.js";

/** Instructions whose arguments BuildKit parses; any other is dumped with one empty argument. */
const PARSED_INSTRUCTIONS: ReadonlySet<string> = new Set([
  "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
  "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
]);

/**
 * BuildKit's AST dump (parser.Node.Dump): one s-expression per instruction, e.g.
 * `(copy ["--chown=1:1"] "a" "b" "/dst/")`, so results compare with BuildKit's parser tests.
 */
export function dumpInstruction(node: InstructionNode): string {
  let s = node.name;
  if (node.flags.length > 0) s += ` [${node.flags.map((f) => goQuote(f.text)).join(" ")}]`;
  if (node.child !== undefined) {
    s += ` (${dumpInstruction(node.child)})`;
  } else if (!PARSED_INSTRUCTIONS.has(node.name)) {
    // BuildKit keeps an unknown instruction with one empty argument node.
    s += ' ""';
  } else {
    for (const a of node.args) s += ` ${goQuote(a.value)}`;
  }
  return s.trim();
}

export function dumpAst(ast: DockerfileAst): string {
  let out = "";
  for (const node of ast.instructions) out += `(${dumpInstruction(node)})\n`;
  return out;
}
