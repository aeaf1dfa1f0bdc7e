import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BerthError } from "../../../src/errors.js";
import { expandWord, expandWords, expandWordWithInfo, ShellExpansionError } from "../../../src/shell/index.js";

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}

describe("expandWord / expandWords", () => {
  it("accepts the env as a KEY=value list, a Map or a record", () => {
    const word = "${A}-$B-${C:-none}";
    expect(expandWord(word, ["A=1", "B=2"])).toBe("1-2-none");
    expect(expandWord(word, new Map([["A", "1"], ["B", "2"]]))).toBe("1-2-none");
    expect(expandWord(word, { A: "1", B: "2" })).toBe("1-2-none");
  });

  it("lets a later KEY=value entry win and reads an entry without = as empty", () => {
    expect(expandWord("$CAR", ["CAR=hat", "CAR=bike"])).toBe("bike");
    expect(expandWordWithInfo("${FOO-unset}", ["FOO"])).toMatchObject({ value: "", usedVars: ["FOO"] });
  });

  it("does not see a record's prototype", () => {
    expect(expandWord("[$constructor][${toString:-x}]", {})).toBe("[][x]");
  });

  it("is case-sensitive on names, as BuildKit on Linux", () => {
    expect(expandWord("$path", { PATH: "/bin" })).toBe("");
  });

  it("splits only unquoted whitespace", () => {
    expect(expandWords(`a "b c" $X 'd  e'`, { X: "x1  x2" })).toEqual(["a", "b c", "x1", "x2", "d  e"]);
    expect(expandWord(`a "b c" $X 'd  e'`, { X: "x1  x2" })).toBe("a b c x1  x2 d  e");
  });

  it("uses the backtick as escape token when asked", () => {
    expect(expandWord("C:\\dir\\`$X", { X: "1" }, { escapeToken: "`" })).toBe("C:\\dir\\$X");
    expect(expandWord("C:\\dir\\`$X", { X: "1" })).toBe("C:dir`1");
  });

  it("reports the variables a word read, set and unset, once each in lookup order", () => {
    const info = expandWordWithInfo("$B ${A:-$C} $B ${D+x}", { A: "a", B: "", D: "d" });
    expect(info).toEqual({ value: " a  x", words: ["a", "x"], usedVars: ["B", "A", "D"], unsetVars: ["C"] });
  });
});

describe("ShellExpansionError", () => {
  it("is a BerthError that names the word, the reason and where it stopped", () => {
    const error = caught(() => expandWord("echo ${NAME:?set NAME first} x", { OTHER: "1" }));
    expect(error).toBeInstanceOf(ShellExpansionError);
    expect(error).toBeInstanceOf(BerthError);
    const e = error as ShellExpansionError;
    expect(e.name).toBe("ShellExpansionError");
    expect(e.word).toBe("echo ${NAME:?set NAME first} x");
    expect(e.reason).toBe("NAME: set NAME first");
    expect(e.message).toBe('failed to process "echo ${NAME:?set NAME first} x": NAME: set NAME first');
    expect(e.offset).toBe("echo ${NAME:?set NAME first}".length);
    expect(e.exitCode).toBe(1);
    expect(e.render()).toBe(e.message);
  });

  it("points at the end of the word for an unterminated quote", () => {
    const e = caught(() => expandWord(`a "bc`, {})) as ShellExpansionError;
    expect(e.reason).toBe("unexpected end of statement while looking for matching double-quote");
    expect(e.offset).toBe(5);
  });

  it("refuses an escape token other than \\ and `", () => {
    expect(caught(() => expandWord("x", {}, { escapeToken: "!" }))).toBeInstanceOf(ShellExpansionError);
  });
});

describe("properties", () => {
  const anyWord = fc.string({ unit: fc.constantFrom("$", "{", "}", ":", "-", "+", "?", "#", "%", "/", "\\", "`", "'", '"', " ", "\t", "A", "b", "1", "*", "@", "한", "😀") , maxLength: 40 });
  const anyEnv = fc.dictionary(fc.constantFrom("A", "b", "1", "@", "AB"), fc.string({ maxLength: 6 }));

  it("returns or throws ShellExpansionError, never anything else, for any word", () => {
    fc.assert(
      fc.property(anyWord, anyEnv, fc.boolean(), (word, env, backtick) => {
        try {
          const info = expandWordWithInfo(word, env, { escapeToken: backtick ? "`" : "\\" });
          expect(typeof info.value).toBe("string");
          for (const w of info.words) expect(w.length).toBeGreaterThan(0);
        } catch (error) {
          expect(error).toBeInstanceOf(ShellExpansionError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it("leaves a word without $, quotes or escapes unchanged and splits it on whitespace", () => {
    const plain = fc.string({ unit: fc.constantFrom("a", "Z", "/", ".", "-", "=", " ", "\t", "{", "}", "é"), maxLength: 30 });
    fc.assert(
      fc.property(plain, (word) => {
        expect(expandWord(word, {})).toBe(word);
        expect(expandWords(word, {})).toEqual(word.split(/[ \t]+/).filter((w) => w !== ""));
      }),
    );
  });

  it("expands a single-quoted text to itself", () => {
    const text = fc.string({ unit: fc.constantFrom("a", "$", "{", "}", "\\", '"', " ", "`"), maxLength: 20 });
    fc.assert(
      fc.property(text, (inner) => {
        expect(expandWord(`'${inner}'`, { a: "x" })).toBe(inner);
      }),
    );
  });
});
