import type { FlagNode, InstructionNode } from "../parser/index.js";

/** The last value of `--name` (Docker keeps the last of repeated single-value flags). */
export function flagValue(node: InstructionNode, name: string): string | undefined {
  let v: string | undefined;
  for (const f of node.flags) if (f.name === name) v = f.value ?? "";
  return v;
}

export function flagValues(node: InstructionNode, name: string): string[] {
  return node.flags.filter((f) => f.name === name).map((f) => f.value ?? "");
}

/** A boolean flag: `--link`, `--link=true`, `--link=false`. */
export function flagBool(node: InstructionNode, name: string): boolean {
  const f: FlagNode | undefined = [...node.flags].reverse().find((x) => x.name === name);
  if (f === undefined) return false;
  return f.value === undefined || f.value === "" || f.value.toLowerCase() === "true" || f.value === "1";
}

export function findFlag(node: InstructionNode, name: string): FlagNode | undefined {
  return [...node.flags].reverse().find((x) => x.name === name);
}
