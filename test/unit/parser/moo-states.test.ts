import moo from "moo";
import { describe, expect, it } from "vitest";
import { physicalStates } from "../../../src/parser/lexer.js";
import { lineStates } from "../../../src/parser/line-lexer.js";
import { compileStates, type States } from "../../../src/parser/moo-states.js";

type Compiled = Record<string, { regexp: RegExp; groups: Record<string, unknown>[]; fast: Record<string, unknown>; error: Record<string, unknown> }>;

function compiled(lexer: moo.Lexer): Compiled {
  return (lexer as unknown as { states: Compiled }).states;
}

/** The states as moo takes them: RegExps for sources. */
function mooRules(states: States): Record<string, moo.Rules> {
  const out: Record<string, moo.Rules> = {};
  for (const [name, rules] of Object.entries(states)) {
    out[name] = Object.fromEntries(
      Object.entries(rules).map(([type, r]) => [type, typeof r === "string" ? new RegExp(r) : r.match === undefined ? r : { ...r, match: new RegExp(r.match) }]),
    ) as moo.Rules;
  }
  return out;
}

/** A token group without its match (a source here, a RegExp in moo's). */
function withoutMatch(g: Record<string, unknown>): Record<string, unknown> {
  const { match: _match, ...rest } = g;
  return rest;
}

describe("compileStates", () => {
  // moo.states checks each rule (no capture groups, no empty match, line breaks declared)
  // and throws on a bad one; compileStates must then build the very same lexer.
  const cases: [string, States, string][] = [
    ["physical, \\", physicalStates("\\"), "main"],
    ["physical, `", physicalStates("`"), "main"],
    ["line, \\", lineStates("\\"), "keyword"],
    ["line, `", lineStates("`"), "keyword"],
  ];
  for (const [name, states, start] of cases) {
    it(`builds what moo.states builds (${name})`, () => {
      const mine = compiled(compileStates(states, start));
      const moos = compiled(moo.states(mooRules(states), start));
      expect(Object.keys(mine)).toEqual(Object.keys(moos));
      for (const state of Object.keys(moos)) {
        expect(mine[state]!.regexp.source).toBe(moos[state]!.regexp.source);
        expect(mine[state]!.regexp.flags).toBe(moos[state]!.regexp.flags);
        expect(mine[state]!.groups.map(withoutMatch)).toEqual(moos[state]!.groups.map(withoutMatch));
        expect(withoutMatch(mine[state]!.error)).toEqual(withoutMatch(moos[state]!.error));
        expect(Object.keys(mine[state]!.fast)).toEqual(Object.keys(moos[state]!.fast));
      }
    });
  }

  it("reads with moo's lexer", () => {
    const lexer = compileStates(physicalStates("\\"), "main");
    lexer.reset("FROM a \\\n  b\n# c\n");
    expect([...lexer].map((t) => [t.type, t.text, t.line])).toEqual([["contLine", "FROM a \\\n", 1], ["endLine", "  b\n", 2], ["trivia", "# c\n", 3]]);
  });
});
