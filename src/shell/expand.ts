/**
 * Dockerfile word expansion with BuildKit's semantics (frontend/dockerfile/shell/lex.go):
 * `$VAR`, `${VAR}`, `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`, `${VAR+w}`, `${VAR:?msg}`,
 * `${VAR?msg}`, `${VAR#p}`, `${VAR##p}`, `${VAR%p}`, `${VAR%%p}`, `${VAR/p/r}`, `${VAR//p/r}`,
 * single and double quotes, and the escape token (`\` or `` ` ``).
 *
 * This is not POSIX sh and it does not try to be: it is what `docker build` does, odd corners
 * included (each marked "BuildKit:" below). One scan produces both the joined result
 * (ProcessWord) and the whitespace-split words (ProcessWords): characters that came from a
 * variable outside quotes are split on whitespace, quoted text and escaped characters are not.
 */
import { type ShellEnv, shellEnvToMap } from "./env.js";
import { InvalidPatternError, replaceAll, replaceFirst, trimPrefix, trimSuffix } from "./pattern.js";
import { ShellExpansionError } from "./shell-expansion-error.js";

export interface ExpandOptions {
  /** The Dockerfile's escape character (`# escape=` directive): `\` (default) or `` ` ``. */
  escapeToken?: string;
  /** Keep quote characters in the result (BuildKit's `RawQuotes`). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result (BuildKit's `RawEscapes`). */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters, as BuildKit does for heredoc bodies (`SkipProcessQuotes`). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written, `${X:-y}` included (`SkipUnsetEnv`). */
  skipUnsetEnv?: boolean;
}

export interface ExpansionResult {
  /** The expanded word, quotes and escapes removed (BuildKit's ProcessWord). */
  value: string;
  /** The expanded word split on unquoted whitespace that came from expansion or the text (ProcessWords). */
  words: string[];
  /** Variables the word referenced that were set (even to ""), in order of first use. */
  usedVars: string[];
  /** Variables the word referenced that were not set, in order of first use. */
  unsetVars: string[];
}

/** Raised inside the scanner; `expandWordWithInfo` turns it into a ShellExpansionError. */
class ExpansionFailure extends Error {}

const SPECIAL_PARAMS = new Set(["@", "*", "#", "?", "-", "$", "!", "0"]);
const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

/** Go's unicode.IsSpace (JS's `\s` differs: it has U+FEFF and lacks U+0085). */
export function isGoSpace(ch: string): boolean {
  const c = ch.codePointAt(0) as number;
  if (c <= 0xff) return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0x85 || c === 0xa0;
  return (
    c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  );
}

/** Accumulates the split words: whitespace from unquoted text ends a word, raw text never does. */
class WordCollector {
  readonly words: string[] = [];
  private word = "";
  private inWord = false;

  addChar(ch: string): void {
    if (isGoSpace(ch)) {
      // BuildKit: a word that is only an empty quoted string ("") is not a word.
      if (this.inWord && this.word.length !== 0) {
        this.words.push(this.word);
        this.word = "";
        this.inWord = false;
      }
    } else {
      this.addRaw(ch);
    }
  }

  addString(text: string): void {
    for (const ch of text) this.addChar(ch);
  }

  addRaw(text: string): void {
    this.word += text;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = "";
      this.inWord = false;
    }
    return this.words;
  }
}

class WordExpander {
  private pos = 0;
  private rawEscapes: boolean;
  readonly used = new Set<string>();
  readonly unset = new Set<string>();

  constructor(
    private readonly source: string,
    private readonly env: ReadonlyMap<string, string>,
    private readonly escapeToken: string,
    private readonly options: ExpandOptions,
  ) {
    this.rawEscapes = options.rawEscapes === true;
    // BuildKit reads the word with Go's text/scanner, which skips a leading byte order mark.
    if (source.startsWith("\ufeff")) this.pos = 1;
  }

  get offset(): number {
    return this.pos;
  }

  private peek(): string | undefined {
    if (this.pos >= this.source.length) return undefined;
    return String.fromCodePoint(this.source.codePointAt(this.pos) as number);
  }

  private next(): string | undefined {
    const ch = this.peek();
    if (ch !== undefined) this.pos += ch.length;
    return ch;
  }

  run(): { value: string; words: string[] } {
    return this.processUntil(undefined, this.rawEscapes);
  }

  /** Processes up to the end of the word, or up to and including `stop` (error if missing). */
  private processUntil(stop: string | undefined, rawEscapes: boolean): { value: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.processUntilInner(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processUntilInner(stop: string | undefined): { value: string; words: string[] } {
    let value = "";
    const words = new WordCollector();
    const quotes = this.options.skipProcessQuotes !== true;
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (stop !== undefined && ch === stop) {
        this.next();
        return { value, words: words.finish() };
      }
      if (ch === "$") {
        const expanded = this.processDollar();
        value += expanded;
        words.addString(expanded);
      } else if (quotes && (ch === "'" || ch === '"')) {
        const quoted = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
        value += quoted;
        words.addRaw(quoted);
      } else {
        this.next();
        if (ch === this.escapeToken) {
          if (this.rawEscapes) {
            words.addRaw(ch);
            value += ch;
          }
          const escaped = this.next();
          // BuildKit: an escape at the very end of the word is dropped.
          if (escaped === undefined) break;
          words.addRaw(escaped);
          value += escaped;
        } else {
          words.addChar(ch);
          value += ch;
        }
      }
    }
    if (stop !== undefined) throw new ExpansionFailure(`unexpected end of statement while looking for matching ${stop}`);
    return { value, words: words.finish() };
  }

  private processSingleQuote(): string {
    // Everything up to the next ' is literal; a ' cannot be escaped inside.
    const raw = this.options.rawQuotes === true;
    const opening = this.next() as string;
    let out = raw ? opening : "";
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new ExpansionFailure("unexpected end of statement while looking for matching single-quote");
      if (ch === "'") return raw ? out + ch : out;
      out += ch;
    }
  }

  private processDoubleQuote(): string {
    // Literal except $, and the escape token, which escapes only ", $ and itself; before
    // anything else it stays. BuildKit does nothing special with backquotes here.
    const raw = this.options.rawQuotes === true;
    const opening = this.next() as string;
    let out = raw ? opening : "";
    for (;;) {
      const peeked = this.peek();
      if (peeked === undefined) throw new ExpansionFailure("unexpected end of statement while looking for matching double-quote");
      if (peeked === '"') {
        this.next();
        return raw ? out + peeked : out;
      }
      if (peeked === "$") {
        out += this.processDollar();
        continue;
      }
      let ch = this.next() as string;
      if (ch === this.escapeToken) {
        // BuildKit: with raw escapes an escape before an ordinary character comes out twice.
        if (this.rawEscapes) out += ch;
        const following = this.peek();
        if (following === undefined) continue;
        if (following === '"' || following === "$" || following === this.escapeToken) ch = this.next() as string;
      }
      out += ch;
    }
  }

  private lookup(name: string): string | undefined {
    const value = this.env.get(name);
    if (value === undefined) this.unset.add(name);
    else this.used.add(name);
    return value;
  }

  private processDollar(): string {
    this.next(); // the $
    if (this.peek() !== "{") {
      const name = this.processName();
      if (name === "") return "$";
      const value = this.lookup(name);
      if (value === undefined && this.options.skipUnsetEnv === true) return `$${name}`;
      return value ?? "";
    }
    this.next(); // the {
    const first = this.peek();
    if (first === undefined) throw new ExpansionFailure("syntax error: missing '}'");
    if (first === "{" || first === "}" || first === ":") throw new ExpansionFailure("syntax error: bad substitution");
    const name = this.processName();
    let ch = this.next();
    if (ch === undefined) throw new ExpansionFailure("syntax error: missing '}'");
    if (ch === "}") {
      const value = this.lookup(name);
      if (value === undefined && this.options.skipUnsetEnv === true) return `\${${name}}`;
      return value ?? "";
    }
    if (ch === "/") return this.processReplace(name);

    let modifier = ch;
    let nullIsUnset = false;
    if (ch === ":") {
      nullIsUnset = true;
      ch = this.next();
      modifier += ch ?? "";
    } else if (!"+-?#%".includes(ch)) {
      throw new ExpansionFailure(`unsupported modifier (${modifier}) in substitution`);
    }
    // BuildKit: after ':' any character leads here; the operand is read up to '}' before the
    // modifier is checked, so `${X:=y}` fails as "unsupported modifier", not earlier.
    const isPattern = ch === "#" || ch === "%";
    let operand = this.processOperand("}", isPattern, "syntax error: missing '}'");
    const value = this.lookup(name);
    if (value === undefined && this.options.skipUnsetEnv === true) return `\${${name}${modifier}${operand}}`;
    const isNull = value === undefined || (nullIsUnset && value === "");
    switch (ch) {
      case "-":
        return isNull ? operand : (value as string);
      case "+":
        return isNull ? "" : operand;
      case "?":
        if (value === undefined) throw new ExpansionFailure(`${name}: ${operand !== "" ? operand : "is not allowed to be unset"}`);
        if (nullIsUnset && value === "") throw new ExpansionFailure(`${name}: ${operand !== "" ? operand : "is not allowed to be empty"}`);
        return value;
      case "#":
      case "%": {
        // # and % remove the shortest match, ## and %% the longest.
        const greedy = operand.startsWith(ch);
        if (greedy) operand = operand.slice(1);
        try {
          return ch === "%" ? trimSuffix(operand, value ?? "", greedy) : trimPrefix(operand, value ?? "", greedy);
        } catch (error) {
          throw patternFailure(error, operand);
        }
      }
      default:
        throw new ExpansionFailure(`unsupported modifier (${modifier}) in substitution`);
    }
  }

  private processReplace(name: string): string {
    const all = this.peek() === "/";
    if (all) this.next();
    const pattern = this.processOperand("/", true, "syntax error: missing '/' in ${}");
    const replacement = this.processOperand("}", true, "syntax error: missing '}'");
    const value = this.lookup(name);
    if (value === undefined && this.options.skipUnsetEnv === true) return `\${${name}/${pattern}/${replacement}}`;
    try {
      return all ? replaceAll(pattern, value ?? "", replacement) : replaceFirst(pattern, value ?? "", replacement);
    } catch (error) {
      throw patternFailure(error, pattern);
    }
  }

  /** An operand inside `${…}`: a nested word; running off the end reports `missingMessage`. */
  private processOperand(stop: string, rawEscapes: boolean, missingMessage: string): string {
    try {
      return this.processUntil(stop, rawEscapes).value;
    } catch (error) {
      if (error instanceof ExpansionFailure && this.peek() === undefined) throw new ExpansionFailure(missingMessage);
      throw error;
    }
  }

  /** A name: letters, digits and `_`; or all digits (positional); or one special parameter. */
  private processName(): string {
    let name = "";
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === "" && DIGIT.test(ch)) {
        for (let d = this.peek(); d !== undefined && DIGIT.test(d); d = this.peek()) name += this.next();
        return name;
      }
      if (name === "" && SPECIAL_PARAMS.has(ch)) {
        this.next();
        return ch;
      }
      if (!LETTER.test(ch) && !DIGIT.test(ch) && ch !== "_") break;
      name += this.next();
    }
    return name;
  }
}

function patternFailure(error: unknown, pattern: string): Error {
  if (error instanceof InvalidPatternError) {
    return new ExpansionFailure(`invalid pattern (${pattern}) in substitution: ${error.message}`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

function checkEscapeToken(escapeToken: string): void {
  if (escapeToken !== "\\" && escapeToken !== "`") {
    throw new ShellExpansionError("", `invalid escape token ${JSON.stringify(escapeToken)}: must be "\\" or "\`"`, 0);
  }
}

/**
 * Expands a word and reports the variables it read. Throws ShellExpansionError on an
 * unterminated quote, a bad substitution, `${X?msg}` with X unset, or an invalid pattern.
 */
export function expandWordWithInfo(word: string, env: ShellEnv, options: ExpandOptions = {}): ExpansionResult {
  const escapeToken = options.escapeToken ?? "\\";
  checkEscapeToken(escapeToken);
  const expander = new WordExpander(word, shellEnvToMap(env), escapeToken, options);
  try {
    const { value, words } = expander.run();
    return { value, words, usedVars: [...expander.used], unsetVars: [...expander.unset] };
  } catch (error) {
    if (error instanceof ExpansionFailure) throw new ShellExpansionError(word, error.message, expander.offset);
    throw error;
  }
}

/** Expands a word to one string (BuildKit's ProcessWord): ENV, LABEL, WORKDIR, USER, … */
export function expandWord(word: string, env: ShellEnv, options: ExpandOptions = {}): string {
  return expandWordWithInfo(word, env, options).value;
}

/** Expands and splits a word on unquoted whitespace (BuildKit's ProcessWords). */
export function expandWords(word: string, env: ShellEnv, options: ExpandOptions = {}): string[] {
  return expandWordWithInfo(word, env, options).words;
}
