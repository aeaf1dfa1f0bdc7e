/**
 * The data-driven expansion tests: BuildKit's envVarTest and wordsTest data files and berth's
 * expand.table (test/cases/shell/README.md describes the formats), all in one loop each.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type ExpandOptions, expandWordWithInfo, ShellExpansionError } from "../../../src/shell/index.js";

const casesDir = fileURLToPath(new URL("../../cases/shell/", import.meta.url));
const read = (name: string): string[] => readFileSync(casesDir + name, "utf8").split("\n");

interface Row {
  line: number;
  mode: "word" | "words" | "info";
  options: ExpandOptions;
  input: string;
  env: string[];
  expected: string;
}

/** Splits a table line on `|`, reading a field that starts with `"` as a JSON string. */
function splitFields(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === " " || line[i] === "\t") i++;
    let field: string;
    if (line[i] === '"') {
      let end = i + 1;
      while (end < line.length && line[end] !== '"') end += line[end] === "\\" ? 2 : 1;
      try {
        field = JSON.parse(line.slice(i, end + 1)) as string;
      } catch {
        throw new Error(`bad JSON string field in: ${line}`);
      }
      i = end + 1;
      while (line[i] === " " || line[i] === "\t") i++;
      if (i < line.length && line[i] !== "|") throw new Error(`text after a quoted field: ${line}`);
    } else if (line[i] === "[") {
      // A JSON array (an env list) may hold a |: take the shortest slice that parses.
      let end = line.indexOf("|", i);
      for (;;) {
        const candidate = (end < 0 ? line.slice(i) : line.slice(i, end)).trim();
        try {
          JSON.parse(candidate);
          field = candidate;
          break;
        } catch (error) {
          if (end < 0) throw error;
          end = line.indexOf("|", end + 1);
        }
      }
      i = end < 0 ? line.length : end;
    } else {
      const bar = line.indexOf("|", i);
      field = (bar < 0 ? line.slice(i) : line.slice(i, bar)).trim();
      i = bar < 0 ? line.length : bar;
    }
    fields.push(field);
    if (i >= line.length) return fields;
    i++; // the |
  }
}

function parseEnv(field: string): string[] {
  if (field === "-" || field === "") return [];
  if (field.startsWith("[")) return JSON.parse(field) as string[];
  return field.split(/\s+/);
}

function parseTable(): Row[] {
  const rows: Row[] = [];
  read("expand.table").forEach((text, index) => {
    if (text.trim() === "" || text.startsWith("#")) return;
    const fields = splitFields(text);
    if (fields.length !== 4) throw new Error(`expand.table:${index + 1}: want 4 fields, got ${fields.length}`);
    const [modeField, input, env, expected] = fields as [string, string, string, string];
    const [mode, ...flags] = modeField.split(",");
    if (mode !== "word" && mode !== "words" && mode !== "info") throw new Error(`expand.table:${index + 1}: bad mode ${mode}`);
    const options: ExpandOptions = {};
    for (const flag of flags) {
      if (flag === "bt") options.escapeToken = "`";
      else if (flag === "keepunset") options.skipUnsetEnv = true;
      else if (flag === "noquotes") options.skipProcessQuotes = true;
      else if (flag === "rawquotes") options.rawQuotes = true;
      else if (flag === "rawescapes") options.rawEscapes = true;
      else throw new Error(`expand.table:${index + 1}: bad flag ${flag}`);
    }
    rows.push({ line: index + 1, mode, options, input, env: parseEnv(env), expected });
  });
  return rows;
}

function expectFailure(run: () => unknown, text: string | undefined): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ShellExpansionError);
  if (text !== undefined) expect((caught as ShellExpansionError).message).toContain(text);
}

describe("BuildKit's envVarTest (ProcessWord)", () => {
  const env = ["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="];
  const rows = read("envVarTest")
    .map((text, index) => ({ text, line: index + 1 }))
    .filter(({ text }) => !text.startsWith("#") && text.trim() !== "")
    .map(({ text, line }) => {
      const parts = text.trim().split("|");
      if (parts.length !== 3) throw new Error(`envVarTest:${line}: want 3 fields`);
      const [platform, input, expected] = parts.map((part) => part.trim()) as [string, string, string];
      return { line, platform, input, expected };
    });

  it("has its rows", () => expect(rows.length).toBeGreaterThan(200));

  for (const row of rows.filter((r) => r.platform === "A" || r.platform === "U")) {
    it(`line ${row.line}: ${row.input}`, () => {
      if (row.expected === "error") {
        expectFailure(() => expandWordWithInfo(row.input, env), undefined);
        return;
      }
      expect(expandWordWithInfo(row.input, env).value).toBe(row.expected);
      // The same with a map, as BuildKit's test runs ProcessWordWithMap too.
      const map = new Map(env.map((entry) => entry.split("=") as [string, string]));
      expect(expandWordWithInfo(row.input, map).value).toBe(row.expected);
    });
  }
});

describe("BuildKit's wordsTest (ProcessWords)", () => {
  const env: string[] = [];
  const rows: { line: number; input: string; env: string[]; expected: string[] }[] = [];
  read("wordsTest").forEach((text, index) => {
    if (text.startsWith("#") || text === "") return;
    if (text.startsWith("ENV ")) {
      env.push(text.slice(3).replace(/^ +/, ""));
      return;
    }
    const parts = text.split("|");
    if (parts.length !== 2) throw new Error(`wordsTest:${index + 1}: want exactly one |`);
    rows.push({
      line: index + 1,
      input: (parts[0] as string).trim(),
      env: [...env],
      expected: (parts[1] as string).replace(/^ +/, "").split(","),
    });
  });

  it("has its rows", () => expect(rows.length).toBeGreaterThanOrEqual(19));

  for (const row of rows) {
    it(`line ${row.line}: ${row.input}`, () => {
      if (row.expected.length === 1 && row.expected[0] === "error") {
        expectFailure(() => expandWordWithInfo(row.input, row.env), undefined);
        return;
      }
      expect(expandWordWithInfo(row.input, row.env).words).toEqual(row.expected);
    });
  }
});

describe("berth's expand.table", () => {
  const rows = parseTable();

  it("has its rows", () => expect(rows.length).toBeGreaterThan(100));

  for (const row of rows) {
    it(`line ${row.line}: ${row.mode} ${JSON.stringify(row.input)}`, () => {
      const run = () => expandWordWithInfo(row.input, row.env, row.options);
      if (row.expected === "error" || row.expected.startsWith("error: ")) {
        expectFailure(run, row.expected === "error" ? undefined : row.expected.slice("error: ".length));
        return;
      }
      const result = run();
      if (row.mode === "word") expect(result.value).toBe(row.expected);
      else if (row.mode === "words") expect(result.words).toEqual(JSON.parse(row.expected));
      else expect({ value: result.value, usedVars: result.usedVars, unsetVars: result.unsetVars }).toEqual(JSON.parse(row.expected));
    });
  }
});

describe("buildkit-oracle.jsonl (outputs of BuildKit's own lexer)", () => {
  interface OracleRow {
    word: string;
    env: Record<string, string>;
    options: ExpandOptions;
    error?: string;
    value?: string;
    words?: string[];
    usedVars?: string[];
    unsetVars?: string[];
  }
  const rows = read("buildkit-oracle.jsonl")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as OracleRow);

  it("has its rows", () => expect(rows.length).toBeGreaterThan(400));

  rows.forEach((row, index) => {
    it(`row ${index + 1}: ${JSON.stringify(row.word)}`, () => {
      const run = () => expandWordWithInfo(row.word, row.env, row.options);
      if (row.error !== undefined) {
        // Same message, except where Go prints EOF as U+FFFD ("unsupported modifier (�)").
        expectFailure(run, row.error.includes("\ufffd") ? undefined : row.error);
        return;
      }
      const result = run();
      expect(result.value).toBe(row.value);
      expect(result.words).toEqual(row.words);
      expect([...result.usedVars].sort()).toEqual(row.usedVars);
      expect([...result.unsetVars].sort()).toEqual(row.unsetVars);
    });
  });
});
