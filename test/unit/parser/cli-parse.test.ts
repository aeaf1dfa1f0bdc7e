import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../src/cli/main.js";

const dir = mkdtempSync(join(tmpdir(), "berth-cli-parse-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], file: string): Promise<{ out: string; err: string; code: number }> {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.Dockerfile`);
  writeFileSync(path, file);
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await main(["node", "berth", "parse", ...args, path]);
    return { out, err: err.replaceAll(path, "FILE"), code: Number(process.exitCode ?? 0) };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.exitCode = before;
  }
}

describe("berth parse", () => {
  it("prints BuildKit's s-expressions", async () => {
    const r = await run([], 'FROM alpine\nCOPY --chown=1:1 a b /dst/\nCMD ["x", "y"]\nONBUILD RUN x\n');
    expect(r).toEqual({
      out: '(from "alpine")\n(copy ["--chown=1:1"] "a" "b" "/dst/")\n(cmd "x" "y")\n(onbuild (run "x"))\n',
      err: "",
      code: 0,
    });
  });

  it("prints the AST with ranges as JSON", async () => {
    const r = await run(["--format", "json"], "FROM alpine AS base\n");
    const ast = JSON.parse(r.out) as { instructions: { name: string; args: { value: string; range: { start: { line: number; column: number } } }[] }[] };
    expect(ast.instructions[0]!.name).toBe("from");
    expect(ast.instructions[0]!.args[2]).toMatchObject({ value: "base", range: { start: { line: 1, column: 16 } } });
  });

  it("exits 1 with file:line:column on a syntax error", async () => {
    const r = await run([], "FROM a\nRUN --network=bogus x\n");
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err.split("\n")[0]).toBe('FILE:2:5: network mode "bogus" not supported (use default, none or host)');
  });

  it("--no-validate prints unknown instructions as BuildKit's parser does", async () => {
    const r = await run(["--no-validate"], "FROM a\nRUNN x\n");
    expect(r).toMatchObject({ out: '(from "a")\n(runn "")\n', code: 0 });
  });
});
