import nearley from "nearley";
import type { DockerfileAst, ParseWarning } from "./ast.js";
import { AstBuilder } from "./ast-builder.js";
import { DockerfileSyntaxError } from "./errors.js";
import { command, instruction, trivia, type BodyItem } from "./grammar-actions.js";
import grammar from "./grammar.generated.js";
import SHAPES from "./shapes.generated.js";
import { DockerfileTokenStream, SourceText, type DockerfileToken } from "./lexer.js";

export interface ParseOptions {
  /** The name errors and ranges report (default `Dockerfile`). */
  readonly file?: string;
}

const LEXER_STATE = Object.freeze({ line: 0, col: 0, state: "" });

/** Hands nearley the tokens [from, to) of one item. */
class ItemLexer {
  private tokens: DockerfileToken[] = [];
  private index = 0;
  private end = 0;
  load(tokens: DockerfileToken[], from: number, to: number): void {
    this.tokens = tokens;
    this.index = from;
    this.end = to;
  }
  reset(): this {
    return this;
  }
  next(): DockerfileToken | undefined {
    return this.index < this.end ? this.tokens[this.index++] : undefined;
  }
  save(): { line: number; col: number; state: string } {
    return LEXER_STATE;
  }
  has(_name: string): boolean {
    return true;
  }
  formatError(token: DockerfileToken | undefined, message?: string): string {
    return `${message ?? "syntax error"}${token === undefined ? "" : ` at line ${token.line}`}`;
  }
}

const compiled = grammar as unknown as nearley.CompiledRules;
type Postprocessor = nearley.Postprocessor | undefined;

/** What the grammar makes of an item: a rule (its index), and its symbols' tokens and trees. */
class Derivation {
  constructor(
    readonly rule: number,
    readonly children: unknown[],
  ) {}
}

let derivingGrammar: nearley.Grammar | undefined;

/**
 * The grammar with each rule's postprocessor replaced: nearley's parse of an item yields its
 * derivation (which rule made what), and the rules' own postprocessors then run on it once.
 */
function deriving(): nearley.Grammar {
  return (derivingGrammar ??= nearley.Grammar.fromCompiled({
    ...compiled,
    ParserRules: compiled.ParserRules.map((r, i) => ({ ...r, postprocess: (d: unknown[]) => new Derivation(i, d) })),
  }));
}

/** A derivation with its tokens' places in the item: how the grammar reads any item of the same token types. */
interface Shape {
  readonly postprocess: Postprocessor;
  readonly children: readonly (number | Shape)[];
}

/**
 * A shape as shapes.generated.ts stores it: the rule's index, then per symbol a token's place
 * or the shape of a subtree.
 */
export type EncodedShape = [number, ...(number | EncodedShape)[]];

function encode(d: Derivation, tokens: DockerfileToken[], from: number): EncodedShape {
  return [d.rule, ...d.children.map((c) => (c instanceof Derivation ? encode(c, tokens, from) : tokens.indexOf(c as DockerfileToken, from) - from))];
}

function decode(e: EncodedShape): Shape {
  const children: (number | Shape)[] = [];
  for (let i = 1; i < e.length; i++) {
    const c = e[i]!;
    children.push(typeof c === "number" ? c : decode(c));
  }
  return { postprocess: compiled.ParserRules[e[0]]!.postprocess as Postprocessor, children };
}

/** The rules' postprocessors run on a shape's tokens, leaves first, as nearley runs them on a parse. */
function evaluate(shape: Shape, tokens: DockerfileToken[], from: number): unknown {
  const d = shape.children.map((c) => (typeof c === "number" ? tokens[from + c] : evaluate(c, tokens, from)));
  return shape.postprocess === undefined ? d : shape.postprocess(d, 0, nearley.Parser.fail);
}

/** Token-type sequences remembered per start symbol (a bound against unusual files). */
const MAX_SHAPES = 512;

/**
 * The grammar's `command` rules (`command -> %kwRun runLine`): for each keyword token type,
 * the symbol that reads the rest of its line.
 */
const LINE_SYMBOLS: ReadonlyMap<string, string> = new Map(
  compiled.ParserRules.filter((r) => r.name === "command").map((r) => [(r.symbols[0] as { type: string }).type, r.symbols[1] as string]),
);

/** The shapes generated with the grammar (`npm run grammar`) by start symbol, each symbol's read at its first use. */
let generated: Readonly<Record<string, string>> = SHAPES;

/**
 * A nearley parser whose every run starts from the same saved start column (nearley's
 * save/restore): what the start symbol predicts is worked out once. An item is parsed by
 * nearley once per sequence of token types: the grammar tells tokens apart by type only, so
 * the derivation nearley finds for one item is that of every item of the same types. The
 * usual sequences' derivations come with the grammar (shapes.generated.ts); nearley is made
 * ready at the first other one.
 */
class StartedParser {
  private readonly lexer = new ItemLexer();
  private parser: nearley.Parser | undefined;
  private start: ReturnType<nearley.Parser["save"]> | undefined;
  private readonly shapes = new Map<string, Shape>();
  private known: Readonly<Record<string, EncodedShape>> | undefined;
  /** The derivations nearley found, encoded, by token types (what `generateShapes` collects). */
  readonly derived = new Map<string, EncodedShape>();

  constructor(readonly symbol: string) {}

  /** The one parse of tokens [from, to). */
  parse(tokens: DockerfileToken[], from: number, to: number): unknown {
    let key = "";
    for (let i = from; i < to; i++) key += i === from ? tokens[i]!.type : ` ${tokens[i]!.type}`;
    let shape = this.shapes.get(key);
    if (shape === undefined) {
      this.known ??= JSON.parse(generated[this.symbol] ?? "{}") as Record<string, EncodedShape>;
      const known = this.known[key];
      shape = known === undefined ? this.derive(key, tokens, from, to) : decode(known);
      if (this.shapes.size < MAX_SHAPES) this.shapes.set(key, shape);
    }
    return evaluate(shape, tokens, from);
  }

  private derive(key: string, tokens: DockerfileToken[], from: number, to: number): Shape {
    if (this.parser === undefined) {
      // The grammar with another start symbol; its rules are shared.
      const g = Object.create(deriving(), { start: { value: this.symbol } }) as nearley.Grammar;
      this.parser = new nearley.Parser(g, { lexer: this.lexer as unknown as nearley.Lexer });
      this.start = this.parser.save();
    }
    this.lexer.load(tokens, from, to);
    this.parser.restore(this.start!);
    this.parser.feed("");
    const results = this.parser.results;
    if (results.length !== 1) throw new Error(`grammar produced ${results.length} parses at line ${tokens[from]?.line ?? 0}`);
    const e = encode(results[0] as Derivation, tokens, from);
    this.derived.set(key, e);
    return decode(e);
  }
}

let itemParser: StartedParser | undefined;
/** By keyword token type: the parser of the rest of the line. */
const lineParsers = new Map<string, StartedParser>();

function lineParser(keyword: string): StartedParser | undefined {
  let p = lineParsers.get(keyword);
  if (p === undefined) {
    const symbol = LINE_SYMBOLS.get(keyword);
    if (symbol === undefined) return undefined;
    p = new StartedParser(symbol);
    lineParsers.set(keyword, p);
  }
  return p;
}

/**
 * One item (start symbol `item`). An instruction (`item -> command %endLine`) is read from
 * its keyword's line symbol on: what `command` reads after the keyword, without predicting
 * every family's forms at every line.
 */
function parseItem(tokens: DockerfileToken[]): BodyItem {
  const n = tokens.length;
  // A run of blank/comment lines is an item by itself (`item -> %trivia`).
  if (n === 1 && tokens[0]!.type === "trivia") return trivia(tokens);
  const line = lineParser(tokens[0]!.type);
  if (line === undefined || tokens[n - 1]!.type !== "endLine") return (itemParser ??= new StartedParser("item")).parse(tokens, 0, n) as BodyItem;
  return instruction([command([tokens[0], line.parse(tokens, 1, n - 1)]), tokens[n - 1]]);
}

/**
 * The shapes of every item of `texts` as nearley derives them, by start symbol and token
 * types: what scripts/grammar-shapes.mjs writes to shapes.generated.ts.
 */
export function generateShapes(texts: readonly string[]): Record<string, Record<string, EncodedShape>> {
  const table = generated;
  generated = {};
  lineParsers.clear();
  itemParser = undefined;
  try {
    for (const t of texts) parse(t);
    const out: Record<string, Record<string, EncodedShape>> = {};
    for (const p of [...lineParsers.values(), ...(itemParser === undefined ? [] : [itemParser])]) out[p.symbol] = Object.fromEntries([...p.derived].sort());
    return out;
  } finally {
    generated = table;
    lineParsers.clear();
    itemParser = undefined;
  }
}

/**
 * Parse Dockerfile text into its syntax tree, exactly as BuildKit's parser reads it (directives,
 * escape character, continuations, comments, heredocs, exec vs shell form). Throws
 * DockerfileSyntaxError, and nothing else, for any input that BuildKit's parser rejects.
 */
export function parse(text: string, options: ParseOptions = {}): DockerfileAst {
  const file = options.file ?? "Dockerfile";
  try {
    return parseSource(text, file);
  } catch (err) {
    if (err instanceof DockerfileSyntaxError) throw err;
    const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new DockerfileSyntaxError(`internal parser error: ${message}`, { file, line: 1, column: 1 }, { cause: err });
  }
}

function parseSource(input: string, file: string): DockerfileAst {
  // A UTF-8 byte order mark on the first line is ignored.
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const source = new SourceText(text, file);
  const stream = new DockerfileTokenStream(source);
  stream.reset(text);
  const warnings: ParseWarning[] = [];
  const builder = new AstBuilder({ source, escapeToken: stream.escapeToken, warnings });
  for (let item = stream.nextItem(); item !== undefined; item = stream.nextItem()) builder.add(parseItem(item));
  const instructions = builder.instructions;
  if (instructions.length === 0) {
    const lines = text.length === 0 ? 1 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    throw source.error("file with no instructions", Math.max(1, lines), 1);
  }
  return { file, directives: stream.directives, escapeToken: stream.escapeToken, instructions, warnings };
}
