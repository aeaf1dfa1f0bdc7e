/**
 * Builder flags (`--chown=1:1`, `--link`), checked against what each instruction accepts, with
 * BuildKit's rules (bflag.go): unknown flags and repeated single flags are errors, a string
 * flag needs `=value`, a bool flag takes no value or `=true`/`=false`.
 */
import type { FlagNode, InstructionNode } from "../parser/ast.js";
import { nearest } from "./suggest.js";
import type { InstructionContext } from "./context.js";

export type FlagType = "string" | "bool" | "list";

export type FlagSpec = Readonly<Record<string, FlagType>>;

export class ParsedFlags {
  constructor(
    private readonly strings: ReadonlyMap<string, FlagNode>,
    private readonly bools: ReadonlyMap<string, { value: boolean; flag: FlagNode }>,
    private readonly lists: ReadonlyMap<string, FlagNode[]>,
  ) {}

  string(name: string): FlagNode | undefined {
    return this.strings.get(name);
  }

  bool(name: string): boolean {
    return this.bools.get(name)?.value ?? false;
  }

  /** A bool flag's value, or undefined when it was not given. */
  optionalBool(name: string): boolean | undefined {
    return this.bools.get(name)?.value;
  }

  list(name: string): readonly FlagNode[] {
    return this.lists.get(name) ?? [];
  }
}

/**
 * `elsewhere`: instructions that do accept a flag this one does not, for the hint
 * (`--checksum` on COPY: "--checksum is a flag of ADD").
 */
export function parseFlags(
  node: InstructionNode,
  spec: FlagSpec,
  ctx: InstructionContext,
  elsewhere: (flag: string) => string | undefined = () => undefined,
): ParsedFlags {
  const strings = new Map<string, FlagNode>();
  const bools = new Map<string, { value: boolean; flag: FlagNode }>();
  const lists = new Map<string, FlagNode[]>();
  const seen = new Set<string>();
  const keyword = node.name.toUpperCase();
  for (const flag of node.flags) {
    const type = Object.hasOwn(spec, flag.name) ? spec[flag.name] : undefined;
    if (type === undefined) {
      const known = Object.keys(spec);
      const guess = nearest(flag.name, known);
      const other = elsewhere(flag.name);
      const hint =
        guess !== undefined
          ? ` (did you mean --${guess}?)`
          : other !== undefined
            ? ` (--${flag.name} is a flag of ${other})`
            : known.length === 0
              ? ` (${keyword} takes no flags)`
              : "";
      throw ctx.error(`unknown flag --${flag.name} for ${keyword}${hint}`, flag.range);
    }
    if (type !== "list") {
      if (seen.has(flag.name)) throw ctx.error(`duplicate flag specified: --${flag.name}`, flag.range);
      seen.add(flag.name);
    }
    switch (type) {
      case "string":
        if (flag.value === undefined) throw ctx.error(`missing a value on flag: --${flag.name}`, flag.range);
        strings.set(flag.name, flag);
        break;
      case "list": {
        if (flag.value === undefined) throw ctx.error(`missing a value on flag: --${flag.name}`, flag.range);
        const all = lists.get(flag.name) ?? [];
        all.push(flag);
        lists.set(flag.name, all);
        break;
      }
      case "bool": {
        let value = true;
        if (flag.value !== undefined) {
          const v = flag.value.toLowerCase();
          if (v !== "true" && v !== "false") {
            throw ctx.error(`expecting boolean value for flag --${flag.name}, not: ${flag.value}`, flag.range);
          }
          value = v === "true";
        }
        bools.set(flag.name, { value, flag });
        break;
      }
    }
  }
  return new ParsedFlags(strings, bools, lists);
}
