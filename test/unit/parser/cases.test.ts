import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dumpAst, parse } from "../../../src/parser/index.js";

// BuildKit's parser test files (and berth's own, same format): Dockerfile in, AST dump out.
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
      const expected = readFileSync(join(casesDir, name, "result"), "utf8");
      expect(dumpAst(parse(dockerfile))).toBe(expected);
    });
  }
});
