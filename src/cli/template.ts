import { BerthError } from "../errors.js";

/**
 * Go's text/template, the subset `docker … --format` templates use, over JSON-shaped values
 * (objects print as Go prints maps, `map[k:v]` with sorted keys; arrays as slices, `[a b]`):
 * actions `{{.A.B}}`, `{{$v.A}}`, `{{$x := …}}`, pipelines `a | f`, `(…)`, literals, `{{if}}`
 * `{{else if}}` `{{else}}` `{{end}}`, `{{range}}` (with `$i, $v :=`), `{{with}}`, comments, the
 * `{{-` `-}}` trim markers; functions: Go's builtins (and or not len index print printf
 * println eq ne lt le gt ge) and docker/cli's (json split join title lower upper pad truncate).
 * The data's objects are Docker's structs except those under the field names Docker's types
 * declare as maps (Labels, Options, Networks …: MAP_FIELDS): a field a struct lacks is an error,
 * as Go's "can't evaluate field"; a key a map lacks is Go's zero value (`<no value>`); a field
 * of nothing (nil, or a missing key) is an error, as Go's "nil pointer evaluating".
 */

/** A template that cannot be parsed or executed: Docker's "template parsing error: template: :1: …". */
export class TemplateError extends BerthError {
  constructor(
    readonly detail: string,
    options: { exitCode?: number } = {},
  ) {
    super(`template parsing error: template: ${detail}`, { exitCode: options.exitCode ?? 1 });
  }
}

/** Parse failures: a subclass so inspect can exit as Docker's does for them (64). */
export class TemplateParseError extends TemplateError {}

type Node =
  | { kind: "text"; text: string }
  | { kind: "action"; pipe: Pipeline; pos: number }
  | Control;

interface Control {
  kind: "if" | "with" | "range";
  pipe: Pipeline;
  list: Node[];
  elseList: Node[] | undefined;
  pos: number;
}

interface Pipeline {
  decl: string[];
  /** `=` rather than `:=` */
  assign: boolean;
  cmds: Operand[][];
  pos: number;
}

type Operand =
  | { kind: "field"; base: "dot" | { variable: string } | { sub: Pipeline }; path: string[]; text: string; pos: number }
  | { kind: "func"; name: string; pos: number }
  | { kind: "literal"; value: unknown; pos: number };

interface Token {
  kind: "field" | "var" | "ident" | "string" | "number" | "char" | "(" | ")" | "|" | ":=" | "=" | "," | "end";
  text: string;
  pos: number;
}

const FUNCS: ReadonlySet<string> = new Set(["and", "or", "not", "len", "index", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge", "json", "split", "join", "title", "lower", "upper", "pad", "truncate", "slice", "html", "js", "urlquery", "call"]);

const HEADER_FUNCS: ReadonlySet<string> = new Set(["json", "split", "join", "title", "lower", "upper", "truncate"]);

export interface Template {
  execute(data: unknown): string;
  /**
   * docker/cli's HeaderFunctions: a `table` format's header row, the template run over the
   * column titles with json, split, join, title, lower, upper and truncate leaving them as they are.
   */
  executeHeader(titles: Record<string, string>): string;
}

export function parseTemplate(source: string): Template {
  const nodes = new Parser(source).parseAll();
  return {
    execute: (data) => new Executor(source, data, false).run(nodes),
    executeHeader: (titles) => new Executor(source, titles, true).run(nodes),
  };
}

/** Parse and execute once. */
export function executeTemplate(source: string, data: unknown): string {
  return parseTemplate(source).execute(data);
}

class Parser {
  private i = 0;
  private actions: Array<{ tokens: Token[]; pos: number; keyword: string | undefined }> = [];
  private items: Array<{ kind: "text"; text: string } | { kind: "act"; index: number }> = [];
  private at = 0;

  constructor(private readonly src: string) {
    this.lex();
  }

  private line(pos: number): number {
    return this.src.slice(0, pos).split("\n").length;
  }

  private fail(pos: number, msg: string): never {
    throw new TemplateParseError(`:${this.line(pos)}: ${msg}`);
  }

  private lex(): void {
    const s = this.src;
    let text = "";
    while (this.i < s.length) {
      const open = s.indexOf("{{", this.i);
      if (open < 0) {
        text += s.slice(this.i);
        break;
      }
      text += s.slice(this.i, open);
      let p = open + 2;
      if (s.startsWith("- ", p) || s.startsWith("-\t", p) || s.startsWith("-\n", p)) {
        text = text.replace(/\s+$/, "");
        p += 1;
      }
      if (text !== "") this.items.push({ kind: "text", text });
      text = "";
      // a comment
      const ws = /^\s*/.exec(s.slice(p))![0].length;
      if (s.startsWith("/*", p + ws)) {
        const endComment = s.indexOf("*/", p + ws + 2);
        if (endComment < 0) this.fail(open, "unclosed comment");
        let q = endComment + 2;
        const rest = /^\s*(-?)\}\}/.exec(s.slice(q));
        if (rest === null) this.fail(open, "comment ends before closing delimiter");
        q += rest[0].length;
        if (rest[1] === "-") q += /^\s*/.exec(s.slice(q))![0].length;
        this.i = q;
        continue;
      }
      const tokens: Token[] = [];
      let trimRight = false;
      for (;;) {
        while (p < s.length && /\s/.test(s[p]!)) p++;
        if (p >= s.length) this.fail(open, "unclosed action");
        if (s.startsWith("}}", p)) {
          p += 2;
          break;
        }
        if (s.startsWith("-}}", p) && /\s/.test(s[p - 1] ?? "")) {
          trimRight = true;
          p += 3;
          break;
        }
        const rest = s.slice(p);
        let m: RegExpExecArray | null;
        if ((m = /^(\.[A-Za-z0-9_]*)+/.exec(rest)) !== null) tokens.push({ kind: "field", text: m[0], pos: p });
        else if ((m = /^\$[A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*/.exec(rest)) !== null) tokens.push({ kind: "var", text: m[0], pos: p });
        else if ((m = /^"(?:[^"\\\n]|\\.)*"/.exec(rest)) !== null || (m = /^`[^`]*`/.exec(rest)) !== null) tokens.push({ kind: "string", text: m[0], pos: p });
        else if ((m = /^'(?:[^'\\]|\\.)+'/.exec(rest)) !== null) tokens.push({ kind: "char", text: m[0], pos: p });
        else if ((m = /^[-+]?(0x[0-9a-fA-F]+|\d+(\.\d*)?([eE][-+]?\d+)?|\.\d+)/.exec(rest)) !== null) tokens.push({ kind: "number", text: m[0], pos: p });
        else if ((m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest)) !== null) tokens.push({ kind: "ident", text: m[0], pos: p });
        else if ((m = /^(:=|[()|=,])/.exec(rest)) !== null) tokens.push({ kind: m[0] as Token["kind"], text: m[0], pos: p });
        else if (rest.startsWith("}")) this.fail(p, `unexpected "}" in ${tokens.length === 0 ? "command" : "operand"}`);
        else this.fail(p, `unexpected bad character U+${rest.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")} '${[...rest][0]}' in command`);
        p += m[0].length;
      }
      if (trimRight) p += /^\s*/.exec(s.slice(p))![0].length;
      const first = tokens[0];
      const keyword = first?.kind === "ident" && ["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"].includes(first.text) ? first.text : undefined;
      if (tokens.length === 0) this.fail(open, "missing value for command");
      this.actions.push({ tokens, pos: first!.pos, keyword });
      this.items.push({ kind: "act", index: this.actions.length - 1 });
      this.i = p;
    }
    if (text !== "") this.items.push({ kind: "text", text });
  }

  parseAll(): Node[] {
    const { list, stop } = this.parseList();
    if (stop !== undefined) this.fail(stop.pos, `unexpected {{${stop.keyword}}}`);
    return list;
  }

  /** Nodes up to an `{{else}}` or `{{end}}` (returned as `stop`), or the end. */
  private parseList(): { list: Node[]; stop: { keyword: string; tokens: Token[]; pos: number } | undefined } {
    const list: Node[] = [];
    while (this.at < this.items.length) {
      const item = this.items[this.at++]!;
      if (item.kind === "text") {
        list.push({ kind: "text", text: item.text });
        continue;
      }
      const act = this.actions[item.index]!;
      switch (act.keyword) {
        case undefined:
          list.push({ kind: "action", pipe: this.pipeline(act.tokens, act.pos, "command"), pos: act.pos });
          break;
        case "end":
        case "else":
          return { list, stop: { keyword: act.keyword, tokens: act.tokens.slice(1), pos: act.pos } };
        case "if":
        case "with":
        case "range":
          list.push(this.control(act.keyword, act.tokens.slice(1), act.pos));
          break;
        default:
          this.fail(act.pos, `{{${act.keyword}}} is not supported by berth's templates`);
      }
    }
    return { list, stop: undefined };
  }

  private control(kind: "if" | "with" | "range", tokens: Token[], pos: number): Node {
    const pipe = this.pipeline(tokens, pos, kind);
    const body = this.parseList();
    if (body.stop === undefined) this.fail(this.src.length, "unexpected EOF");
    let elseList: Node[] | undefined;
    if (body.stop.keyword === "else") {
      const chained = body.stop.tokens[0];
      if (chained?.kind === "ident" && (chained.text === "if" || chained.text === "with") && kind !== "range") {
        // {{else if …}}: a nested if sharing this one's {{end}}
        elseList = [this.control(chained.text, body.stop.tokens.slice(1), body.stop.pos)];
      } else {
        if (body.stop.tokens.length > 0) this.fail(body.stop.pos, `unexpected ${JSON.stringify(body.stop.tokens[0]!.text)} in else`);
        const rest = this.parseList();
        if (rest.stop?.keyword !== "end") this.fail(rest.stop?.pos ?? this.src.length, rest.stop === undefined ? "unexpected EOF" : "expected end; found {{else}}");
        elseList = rest.list;
      }
    } else if (body.stop.tokens.length > 0) this.fail(body.stop.pos, `unexpected ${JSON.stringify(body.stop.tokens[0]!.text)} in end`);
    return { kind, pipe, list: body.list, elseList, pos };
  }

  private pipeline(tokens: Token[], pos: number, context: string): Pipeline {
    let t = 0;
    const decl: string[] = [];
    let assign = false;
    // `$x :=`, `$i, $v :=` (range only), `$x =`
    const declEnd = tokens.findIndex((tk) => tk.kind === ":=" || tk.kind === "=");
    if (declEnd > 0 && tokens.slice(0, declEnd).every((tk, i) => (i % 2 === 0 ? tk.kind === "var" && !tk.text.includes(".") : tk.kind === ","))) {
      for (let i = 0; i < declEnd; i += 2) decl.push(tokens[i]!.text);
      if (decl.length > (context === "range" ? 2 : 1)) this.fail(pos, `too many declarations in ${context}`);
      assign = tokens[declEnd]!.kind === "=";
      t = declEnd + 1;
    }
    const body = tokens.slice(t);
    const [pipe, used] = this.commands(body, 0, pos);
    if (used !== body.length) this.fail(body[used]!.pos, `unexpected ${JSON.stringify(body[used]!.text)} in operand`);
    if (pipe.length === 0) this.fail(pos, `missing value for ${context}`);
    return { decl, assign, cmds: pipe, pos };
  }

  /** Commands separated by `|`, from `tokens[start]` up to a `)` or the end; returns how many tokens were used. */
  private commands(tokens: Token[], start: number, pos: number): [Operand[][], number] {
    const cmds: Operand[][] = [];
    let cmd: Operand[] = [];
    let t = start;
    while (t < tokens.length) {
      const tk = tokens[t]!;
      if (tk.kind === ")") break;
      if (tk.kind === "|") {
        if (cmd.length === 0) this.fail(tk.pos, "missing command");
        cmds.push(cmd);
        cmd = [];
        t++;
        continue;
      }
      const [op, next] = this.operand(tokens, t);
      cmd.push(op);
      t = next;
    }
    if (cmd.length > 0) cmds.push(cmd);
    else if (cmds.length > 0) this.fail(pos, "missing command");
    return [cmds, t];
  }

  private operand(tokens: Token[], t: number): [Operand, number] {
    const tk = tokens[t]!;
    switch (tk.kind) {
      case "field":
        return [{ kind: "field", base: "dot", path: tk.text === "." ? [] : tk.text.slice(1).split("."), text: tk.text, pos: tk.pos }, t + 1];
      case "var": {
        const [name, ...path] = tk.text.split(".");
        return [{ kind: "field", base: { variable: name! }, path, text: tk.text, pos: tk.pos }, t + 1];
      }
      case "string":
        return [{ kind: "literal", value: tk.text.startsWith("`") ? tk.text.slice(1, -1) : unquoteGo(tk.text), pos: tk.pos }, t + 1];
      case "char":
        return [{ kind: "literal", value: (unquoteGo(`"${tk.text.slice(1, -1)}"`).codePointAt(0) ?? 0), pos: tk.pos }, t + 1];
      case "number":
        return [{ kind: "literal", value: Number(tk.text), pos: tk.pos }, t + 1];
      case "ident":
        if (tk.text === "true" || tk.text === "false") return [{ kind: "literal", value: tk.text === "true", pos: tk.pos }, t + 1];
        if (tk.text === "nil") return [{ kind: "literal", value: null, pos: tk.pos }, t + 1];
        if (!FUNCS.has(tk.text)) this.fail(tk.pos, `function ${JSON.stringify(tk.text)} not defined`);
        return [{ kind: "func", name: tk.text, pos: tk.pos }, t + 1];
      case "(": {
        const [cmds, end] = this.commands(tokens, t + 1, tk.pos);
        if (tokens[end]?.kind !== ")") this.fail(tk.pos, "unclosed left paren");
        if (cmds.length === 0) this.fail(tk.pos, "missing value for parenthesized pipeline");
        const sub: Pipeline = { decl: [], assign: false, cmds, pos: tk.pos };
        const after = tokens[end + 1];
        // `(pipeline).Field`: a field chain glued to the paren
        if (after?.kind === "field" && this.src[after.pos - 1] === ")") {
          return [{ kind: "field", base: { sub }, path: after.text.slice(1).split("."), text: `(…)${after.text}`, pos: tk.pos }, end + 2];
        }
        return [{ kind: "field", base: { sub }, path: [], text: "(…)", pos: tk.pos }, end + 1];
      }
      default:
        return this.fail(tk.pos, `unexpected ${JSON.stringify(tk.text)} in operand`);
    }
  }
}

function unquoteGo(quoted: string): string {
  try {
    return JSON.parse(quoted.replace(/\\x([0-9a-fA-F]{2})/g, "\\u00$1").replace(/\\a/g, "\\u0007").replace(/\\v/g, "\\u000b").replace(/\\'/g, "'")) as string;
  } catch {
    return quoted.slice(1, -1);
  }
}

/** Go's fmt %v of a JSON-shaped value. */
export function goString(v: unknown): string {
  if (v === undefined) return "<no value>";
  if (v === null) return "<nil>";
  if (Array.isArray(v)) return `[${v.map((e) => (e === undefined ? "<nil>" : goString(e))).join(" ")}]`;
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${k}:${goString(o[k])}`).join(" ")}]`;
  }
  return String(v);
}

function truth(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "string") return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

/**
 * A value whose JSON differs from what its fields show a template (Docker's events.Message:
 * Go field names to templates, json tags to `{{json .}}`) carries it under this key.
 */
export const JSON_VIEW = Symbol("json view");

/** docker/cli's `json` function: encoding/json's text, integers of any size (bigint) exact. */
function goJson(v: unknown): string {
  const text = JSON.stringify(v ?? null, function (this: unknown, _key: string, value: unknown) {
    const view = value !== null && typeof value === "object" ? (value as { [JSON_VIEW]?: unknown })[JSON_VIEW] : undefined;
    if (view !== undefined) return view;
    return typeof value === "bigint" ? `\u0000big:${value}` : value;
  });
  return text.replace(/"\\u0000big:(-?\d+)"/g, "$1");
}

function goType(v: unknown): string {
  if (v === undefined || v === null) return "<nil>";
  if (Array.isArray(v)) return "[]interface {}";
  if (typeof v === "object") return "map[string]interface {}";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  return typeof v === "boolean" ? "bool" : "string";
}

/**
 * The fields of Docker's API types that are Go maps (map[string]…): container and image
 * Config.Labels/ExposedPorts/Volumes, HostConfig's Sysctls/StorageOpt/Tmpfs, LogConfig.Config,
 * GraphDriver.Data, NetworkSettings.Ports/Networks, network Options/Containers/IPAM.Options,
 * volume Options/Status, events' Actor.Attributes, info's Runtimes and IndexConfigs.
 */
const MAP_FIELDS: ReadonlySet<string> = new Set([
  "Labels",
  "ExposedPorts",
  "Volumes",
  "Sysctls",
  "StorageOpt",
  "Tmpfs",
  "Data",
  "Ports",
  "Networks",
  "Options",
  "Containers",
  "Status",
  "Attributes",
  "Runtimes",
  "IndexConfigs",
  "DriverOpts",
  "Annotations",
]);

/** The objects of `data` that are Go maps: those under MAP_FIELDS (and LogConfig's Config). */
function goMaps(data: unknown): WeakSet<object> {
  const maps = new WeakSet<object>();
  const walk = (v: unknown, key: string | undefined, parent: string | undefined) => {
    if (v === null || typeof v !== "object") return;
    if (Array.isArray(v)) {
      for (const item of v) walk(item, undefined, key);
      return;
    }
    if (key !== undefined && (MAP_FIELDS.has(key) || (key === "Config" && parent === "LogConfig"))) maps.add(v);
    for (const [k, item] of Object.entries(v)) walk(item, k, key);
  };
  walk(data, undefined, undefined);
  return maps;
}

class Executor {
  private vars: Array<[string, unknown]>;
  private readonly maps: WeakSet<object>;
  private node = "";
  private nodePos = 0;

  constructor(
    private readonly src: string,
    data: unknown,
    private readonly header: boolean,
  ) {
    this.vars = [["$", data]];
    this.maps = header ? new WeakSet() : goMaps(data);
  }

  run(nodes: Node[]): string {
    return this.list(nodes, this.vars[0]![1]);
  }

  private fail(msg: string): never {
    const before = this.src.slice(0, this.nodePos);
    const nl = before.lastIndexOf("\n");
    const col = nl < 0 ? this.nodePos : this.nodePos - nl - 1;
    throw new TemplateError(`:${before.split("\n").length}:${col}: executing "" at <${this.node}>: ${msg}`);
  }

  private list(nodes: Node[], dot: unknown): string {
    let out = "";
    for (const n of nodes) {
      if (n.kind === "text") {
        out += n.text;
        continue;
      }
      const mark = this.vars.length;
      try {
        if (n.kind === "action") {
          const v = this.pipeline(n.pipe, dot);
          if (n.pipe.decl.length === 0) out += goString(v);
          continue;
        }
        const v = this.pipeline(n.pipe, dot, n.kind === "range");
        if (n.kind === "if") {
          out += truth(v) ? this.list(n.list, dot) : n.elseList !== undefined ? this.list(n.elseList, dot) : "";
        } else if (n.kind === "with") {
          out += truth(v) ? this.list(n.list, v) : n.elseList !== undefined ? this.list(n.elseList, dot) : "";
        } else {
          out += this.range(n, v, dot);
        }
      } finally {
        // a variable lives to the end of the control structure it was declared in
        if (n.kind !== "action") this.vars.length = mark;
      }
    }
    return out;
  }

  private range(n: Control, v: unknown, dot: unknown): string {
    let entries: Array<[unknown, unknown]>;
    if (v === undefined || v === null) entries = [];
    else if (Array.isArray(v)) entries = v.map((e, i) => [i, e]);
    else if (typeof v === "object") entries = Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]);
    else if (typeof v === "number" && Number.isInteger(v)) entries = Array.from({ length: Math.max(0, v) }, (_, i) => [i, i]);
    else this.fail(`range can't iterate over ${goString(v)}`);
    if (entries.length === 0) return n.elseList !== undefined ? this.list(n.elseList, dot) : "";
    let out = "";
    const mark = this.vars.length;
    for (const [k, e] of entries) {
      this.vars.length = mark;
      if (n.pipe.decl.length === 1) this.vars.push([n.pipe.decl[0]!, e]);
      if (n.pipe.decl.length === 2) this.vars.push([n.pipe.decl[0]!, k], [n.pipe.decl[1]!, e]);
      out += this.list(n.list, e);
    }
    return out;
  }

  private pipeline(p: Pipeline, dot: unknown, isRange = false): unknown {
    let value: unknown;
    let piped = false;
    for (const cmd of p.cmds) {
      value = this.command(cmd, dot, piped ? { value } : undefined);
      piped = true;
    }
    if (p.decl.length > 0 && !isRange) {
      const name = p.decl[0]!;
      if (p.assign) {
        const slot = [...this.vars].reverse().find(([n]) => n === name);
        if (slot === undefined) this.fail(`undefined variable: ${name}`);
        slot[1] = value;
      } else this.vars.push([name, value]);
    }
    return value;
  }

  private command(cmd: Operand[], dot: unknown, piped: { value: unknown } | undefined): unknown {
    const head = cmd[0]!;
    this.node = head.kind === "field" ? head.text : head.kind === "func" ? head.name : String(head.value);
    this.nodePos = head.pos;
    if (head.kind !== "func") {
      if (cmd.length > 1 || piped !== undefined) this.fail(`can't give argument to non-function ${this.node}`);
      return this.operand(head, dot);
    }
    const args = cmd.slice(1).map((a) => this.operand(a, dot));
    if (piped !== undefined) args.push(piped.value);
    this.node = head.name;
    this.nodePos = head.pos;
    return this.call(head.name, args);
  }

  private operand(op: Operand, dot: unknown): unknown {
    if (op.kind === "literal") return op.value;
    if (op.kind === "func") return this.call(op.name, []);
    let cur: unknown;
    if (op.base === "dot") cur = dot;
    else if ("variable" in op.base) {
      const name = op.base.variable;
      const slot = [...this.vars].reverse().find(([n]) => n === name);
      if (slot === undefined) {
        this.node = op.text;
        this.nodePos = op.pos;
        this.fail(`undefined variable: ${name}`);
      }
      cur = slot[1];
    } else cur = this.pipeline(op.base.sub, dot);
    for (const key of op.path) {
      if (cur === null || cur === undefined) {
        this.node = op.text;
        this.nodePos = op.pos;
        this.fail(`nil pointer evaluating interface {}.${key}`);
      }
      if (typeof cur !== "object" || Array.isArray(cur)) {
        this.node = op.text;
        this.nodePos = op.pos;
        this.fail(`can't evaluate field ${key} in type ${goType(cur)}`);
      }
      if (this.header && !(key in cur)) return key.toUpperCase();
      if (!(key in cur) && !this.maps.has(cur)) {
        this.node = op.text;
        this.nodePos = op.pos;
        this.fail(`can't evaluate field ${key} in type struct`);
      }
      cur = (cur as Record<string, unknown>)[key];
    }
    return cur;
  }

  private str(v: unknown, fn: string): string {
    if (typeof v !== "string") this.fail(`error calling ${fn}: wrong type for value; expected string; got ${goType(v)}`);
    return v;
  }

  private int(v: unknown, fn: string): number {
    if (typeof v !== "number" || !Number.isInteger(v)) this.fail(`error calling ${fn}: wrong type for value; expected int; got ${goType(v)}`);
    return v;
  }

  private arity(fn: string, args: unknown[], want: number, atLeast = false): void {
    if (atLeast ? args.length < want : args.length !== want) this.fail(`wrong number of args for ${fn}: want ${atLeast ? "at least " : ""}${want} got ${args.length}`);
  }

  private compare(fn: string, a: unknown, b: unknown): number {
    if (typeof a !== typeof b || (typeof a !== "number" && typeof a !== "string" && typeof a !== "boolean")) {
      if (fn === "eq" || fn === "ne") return a === b || (a == null && b == null) ? 0 : 1;
      this.fail(`error calling ${fn}: incompatible types for comparison`);
    }
    return a === b ? 0 : (a as number) < (b as number) ? -1 : 1;
  }

  private call(fn: string, args: unknown[]): unknown {
    if (this.header && HEADER_FUNCS.has(fn)) return args[0];
    switch (fn) {
      case "and": {
        this.arity(fn, args, 1, true);
        for (const a of args) if (!truth(a)) return a;
        return args[args.length - 1];
      }
      case "or": {
        this.arity(fn, args, 1, true);
        for (const a of args) if (truth(a)) return a;
        return args[args.length - 1];
      }
      case "not":
        this.arity(fn, args, 1);
        return !truth(args[0]);
      case "len": {
        this.arity(fn, args, 1);
        const v = args[0];
        if (typeof v === "string") return Buffer.byteLength(v);
        if (Array.isArray(v)) return v.length;
        if (v !== null && typeof v === "object") return Object.keys(v).length;
        return this.fail(`error calling len: len of type ${goType(v)}`);
      }
      case "index": {
        this.arity(fn, args, 1, true);
        let cur = args[0];
        for (const k of args.slice(1)) {
          if (cur === null || cur === undefined) this.fail("error calling index: index of untyped nil");
          if (Array.isArray(cur) || typeof cur === "string") {
            if (typeof k !== "number") this.fail(`error calling index: cannot index slice/array with type ${goType(k)}`);
            if (k < 0 || k >= cur.length) this.fail(`error calling index: index out of range: ${k}`);
            cur = Array.isArray(cur) ? cur[k] : Buffer.from(cur)[k];
          } else if (typeof cur === "object") {
            if (typeof k !== "string") this.fail(`error calling index: value has type ${goType(k)}; should be string`);
            cur = (cur as Record<string, unknown>)[k];
          } else this.fail(`error calling index: can't index item of type ${goType(cur)}`);
        }
        return cur;
      }
      case "print":
        return args.map((a, i) => (i > 0 && typeof a !== "string" && typeof args[i - 1] !== "string" ? " " : "") + goString(a)).join("");
      case "println":
        return `${args.map(goString).join(" ")}\n`;
      case "printf":
        this.arity(fn, args, 1, true);
        return sprintf(this.str(args[0], fn), args.slice(1));
      case "eq":
        this.arity(fn, args, 2, true);
        return args.slice(1).some((b) => this.compare(fn, args[0], b) === 0);
      case "ne":
        this.arity(fn, args, 2);
        return this.compare(fn, args[0], args[1]) !== 0;
      case "lt":
      case "le":
      case "gt":
      case "ge": {
        this.arity(fn, args, 2);
        const c = this.compare(fn, args[0], args[1]);
        return fn === "lt" ? c < 0 : fn === "le" ? c <= 0 : fn === "gt" ? c > 0 : c >= 0;
      }
      case "json":
        this.arity(fn, args, 1);
        return goJson(args[0]);
      case "split":
        this.arity(fn, args, 2);
        return this.str(args[0], fn).split(this.str(args[1], fn));
      case "join": {
        this.arity(fn, args, 2);
        const [v, sep] = [args[0], this.str(args[1], fn)];
        if (v === null || v === undefined) return "";
        if (Array.isArray(v)) return v.map(goString).join(sep);
        if (typeof v === "object") return Object.values(v).map(goString).sort().join(sep);
        return this.fail(`error calling join: expected slice, got ${goType(v)}`);
      }
      case "title":
        this.arity(fn, args, 1);
        return this.str(args[0], fn).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, sep: string, c: string) => sep + c.toUpperCase());
      case "lower":
        this.arity(fn, args, 1);
        return this.str(args[0], fn).toLowerCase();
      case "upper":
        this.arity(fn, args, 1);
        return this.str(args[0], fn).toUpperCase();
      case "pad": {
        this.arity(fn, args, 3);
        const s = this.str(args[0], fn);
        return s === "" ? s : " ".repeat(this.int(args[1], fn)) + s + " ".repeat(this.int(args[2], fn));
      }
      case "truncate": {
        this.arity(fn, args, 2);
        const s = this.str(args[0], fn);
        const n = this.int(args[1], fn);
        return Buffer.byteLength(s) < n ? s : Buffer.from(s).subarray(0, n).toString();
      }
      default:
        return this.fail(`function ${JSON.stringify(fn)} is not supported by berth's templates`);
    }
  }
}

/** fmt.Sprintf for the verbs templates use: %s %v %d %q %t %x %%, with widths. */
function sprintf(format: string, args: unknown[]): string {
  let i = 0;
  return format.replace(/%([-+ 0#]*)(\d*)(?:\.(\d+))?([a-zA-Z%])/g, (_m, flags: string, width: string, prec: string | undefined, verb: string) => {
    if (verb === "%") return "%";
    if (i >= args.length) return `%!${verb}(MISSING)`;
    const a = args[i++];
    let s: string;
    switch (verb) {
      case "q":
        s = JSON.stringify(typeof a === "string" ? a : goString(a));
        break;
      case "d":
        s = typeof a === "number" ? String(Math.trunc(a)) : `%!d(${goType(a)}=${goString(a)})`;
        break;
      case "x":
        s = typeof a === "number" ? Math.trunc(a).toString(16) : Buffer.from(goString(a)).toString("hex");
        break;
      case "f":
        s = typeof a === "number" ? a.toFixed(prec === undefined ? 6 : Number(prec)) : `%!f(${goType(a)}=${goString(a)})`;
        break;
      default:
        s = goString(a);
    }
    const w = Number(width || 0);
    return flags.includes("-") ? s.padEnd(w) : s.padStart(w, flags.includes("0") && verb !== "s" ? "0" : " ");
  });
}
