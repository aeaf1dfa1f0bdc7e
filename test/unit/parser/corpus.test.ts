import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseInstructions } from "../../../src/instructions/index.js";
import { generateShapes } from "../../../src/parser/parse.js";
import SHAPES from "../../../src/parser/shapes.generated.js";

// Every Dockerfile of the corpus parses and validates. berth's own edge cases are named
// edge-*.Dockerfile; the realistic corpus (at least 50 files) sits next to them.
const dir = join(import.meta.dirname, "../../../fixtures/dockerfiles");
const files = readdirSync(dir).filter((f) => !f.startsWith(".") && !f.endsWith(".md")).sort();

describe("fixtures/dockerfiles corpus", () => {
  it("has the edge cases and at least 50 realistic files", () => {
    expect(files.filter((f) => f.startsWith("edge-")).length).toBeGreaterThanOrEqual(5);
    expect(files.filter((f) => !f.startsWith("edge-")).length).toBeGreaterThanOrEqual(50);
  });
  for (const file of files) {
    it(file, () => {
      const { ast, instructions } = parseInstructions(readFileSync(join(dir, file), "utf8"), { file });
      expect(instructions.length).toBe(ast.instructions.length);
      expect(instructions.length).toBeGreaterThan(0);
    });
  }
});

describe("derivations generated with the grammar (src/parser/shapes.generated.ts)", () => {
  const texts = files.map((f) => readFileSync(join(dir, f), "utf8"));
  it("are nearley's for the corpus's lines (npm run grammar made them from this grammar)", () => {
    const table = Object.fromEntries(Object.entries(SHAPES).map(([symbol, json]) => [symbol, JSON.parse(json)]));
    expect(generateShapes(texts)).toEqual(table);
  });
});
