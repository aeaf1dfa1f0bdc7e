/**
 * moo.states without its checks of each rule (moo compiles and runs every rule's RegExp three
 * times to check it: most of what loading the parser cost). The states compile to the same
 * RegExps and token groups as moo.states' (test/unit/parser/moo-states.test.ts compares them,
 * and so checks the rules), and moo's Lexer reads with them.
 */
import moo from "moo";

/**
 * A rule: the source of its RegExp, or options with one (`error: true`: moo.error). Sources,
 * not RegExps (whose construction parses them), since only each state's union is needed.
 */
export type Rule =
  | string
  | { readonly match?: string; readonly type?: (text: string) => string; readonly value?: (text: string) => string; readonly next?: string; readonly lineBreaks?: boolean; readonly error?: boolean };

export type States = Readonly<Record<string, Readonly<Record<string, Rule>>>>;

/** moo's options of a rule (its ruleOptions). */
interface Group {
  defaultType: string;
  lineBreaks: boolean;
  pop: boolean;
  next: string | null;
  push: string | null;
  error: boolean;
  fallback: boolean;
  value: ((text: string) => string) | null;
  type: ((text: string) => string) | null;
  shouldThrow: boolean;
  match: string[];
}

function group(type: string, rule: Rule): Group {
  const o = typeof rule === "string" ? { match: rule } : rule;
  const g: Group = { defaultType: type, lineBreaks: o.error === true, pop: false, next: null, push: null, error: false, fallback: false, value: null, type: null, shouldThrow: false, match: [] };
  Object.assign(g, o);
  g.match = o.match === undefined ? [] : [o.match];
  return g;
}

const DEFAULT_ERROR: Group = { ...group("error", { lineBreaks: true }), shouldThrow: true };

type LexerClass = new (states: Record<string, CompiledState>, start: string) => moo.Lexer;
let lexerClass: LexerClass | undefined;

/** moo's compiled state; its RegExp is made when the lexer first enters the state. */
class CompiledState {
  readonly fast: Record<number, Group> = Object.create(null);
  constructor(
    private readonly source: string,
    readonly groups: Group[],
    readonly error: Group,
  ) {}
  get regexp(): RegExp {
    const regexp = new RegExp(this.source, "ym");
    Object.defineProperty(this, "regexp", { value: regexp });
    return regexp;
  }
}

/** A moo lexer of these states, starting in `start`. */
export function compileStates(states: States, start: string): moo.Lexer {
  const map: Record<string, CompiledState> = Object.create(null);
  for (const name of Object.keys(states)) {
    const groups: Group[] = [];
    let error = DEFAULT_ERROR;
    let source = "";
    for (const [type, rule] of Object.entries(states[name]!)) {
      const g = group(type, rule);
      if (g.error) error = g;
      if (g.match.length === 0) continue;
      groups.push(g);
      source += `${source === "" ? "" : "|"}(?:((?:(?:${g.match[0]!}))))`;
    }
    map[name] = new CompiledState(`(?:${source})`, groups, error);
  }
  lexerClass ??= moo.compile({}).constructor as LexerClass;
  return new lexerClass(map, start);
}
