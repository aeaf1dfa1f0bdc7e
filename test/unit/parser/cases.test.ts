import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dumpAst, parse } from "../../../src/parser/index.js";

// BuildKit's parser test files (and berth's own, same format): Dockerfile in, AST dump out
// (`result`), or for a negative case the error it must raise (`error`).
const casesDir = join(import.meta.dirname, "../../cases/parser");
const cases = readdirSync(casesDir, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

describe("parser cases (test/cases/parser)", () => {
  it("has cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });
  for (const name of cases) {
    it(name, () => {
      const dockerfile = readFileSync(join(casesDir, name, "Dockerfile"), "utf8");
      const errorFile = join(casesDir, name, "error");
      if (existsSync(errorFile)) {
        // A negative case: the parser must reject it, with this one-line error.
        expect(() => parse(dockerfile)).toThrow(readFileSync(errorFile, "utf8").trim());
        return;
      }
      const expected = readFileSync(join(casesDir, name, "result"), "utf8");
      expect(dumpAst(parse(dockerfile))).toBe(expected);
    });
  }
});
