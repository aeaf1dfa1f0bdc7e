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

/** Splits a CSV field list (`type=cache,target="/a,b"`) as encoding/csv does for --mount. */
export function splitCsv(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '"') {
      if (quoted && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (ch === "," && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== "");
}
