import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toInstructions } from "../../src/instructions/index.js";
import { DockerfileSyntaxError, dumpAst, parse } from "../../src/parser/index.js";

// Property: whatever the input, parse (and the typed layer after it) returns or throws
// DockerfileSyntaxError, nothing else, and stays fast (no input under 10 KB takes 50 ms).

const root = join(import.meta.dirname, "../..");
const seeds: string[] = [];
for (const dir of [join(root, "test/cases/parser"), join(root, "fixtures/dockerfiles")]) {
  if (!existsSync(dir)) continue;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = entry.isDirectory() ? join(dir, entry.name, "Dockerfile") : join(dir, entry.name);
    if (existsSync(path) && !path.endsWith(".md")) seeds.push(readFileSync(path, "utf8"));
  }
}

const FRAGMENTS = [
  "FROM", "RUN", "run", "CoPy", "ADD", "ENV", "ARG", "LABEL", "ONBUILD", "HEALTHCHECK", "SHELL", "CMD",
  "ENTRYPOINT", "VOLUME", "EXPOSE", "USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER", "RUNN", "AS", "NONE",
  " ", "  ", "\t", "\n", "\n", "\n", "\r\n", "\r", "\\", "\\\n", "`", "`\n", "\\ \n", "#", "# c\n", "\n\n",
  "# escape=`\n", "# escape=\\\n", "# syntax=docker/dockerfile:1\n", "# check=skip=all\n", "#escape=x\n",
  "<<EOF", "<<-EOF", "<<'EOF'", '<<"EOF"', "3<<X", "<<", "EOF\n", "\tEOF\n", "X\n", "<<'E", '<<"',
  "--mount=type=cache,target=/x", "--mount=type=secret,id=a", "--mount=", "--chown=1:1", "--chmod=0755",
  "--from=a", "--link", "--link=x", "--", "--network=none", "--interval=1s", "--retries=-1", "--x",
  "=", "==", '"', "'", "[", "]", ",", '["a", "b"]', '["\\u00e9"]', "[1]", "[]", '["', "{}", "$VAR",
  "${X:-y}", "\u00a0", "\u2028", "\u0085", "é", "😀", "\u0000", "\ufeff", "\ud800", "a=b", "k v",
];
const fragment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...FRAGMENTS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
const generated = fc.array(fragment, { maxLength: 80 }).map((parts) => parts.join(""));

// Seed Dockerfiles with a few random edits: insertions, deletions, replacements, truncation.
const edit = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 3 }), fragment, fc.integer({ min: 1, max: 8 }));
const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 6 })).map(([seed, edits]) => {
  let s = seed;
  for (const [pos, op, frag, len] of edits) {
    const at = pos % (s.length + 1);
    if (op === 0) s = s.slice(0, at) + frag + s.slice(at);
    else if (op === 1) s = s.slice(0, at) + s.slice(at + len);
    else if (op === 2) s = s.slice(0, at) + frag + s.slice(at + frag.length);
    else s = s.slice(0, at);
  }
  return s;
});

const noise = fc.string({ unit: "binary", maxLength: 200 });

let slowest = 0;

function check(text: string): void {
  const attempt = (): number => {
    const t0 = performance.now();
    try {
      const ast = parse(text);
      dumpAst(ast);
      toInstructions(ast, text);
    } catch (err) {
      if (!(err instanceof DockerfileSyntaxError)) throw err;
      expect(err.line).toBeGreaterThanOrEqual(1);
      expect(err.column).toBeGreaterThanOrEqual(1);
      expect(err.message).not.toContain("internal parser error");
      err.render();
    }
    return performance.now() - t0;
  };
  let ms = attempt();
  // A pause of the (shared) machine is not the parser's: measure a slow input again.
  if (ms > 50) ms = Math.min(ms, attempt(), attempt());
  slowest = Math.max(slowest, ms);
  if (text.length < 10_000) expect(ms, `parse took ${ms.toFixed(1)} ms on ${JSON.stringify(text.slice(0, 200))}`).toBeLessThan(50);
}

describe("parse never fails with anything but DockerfileSyntaxError", () => {
  it("has seeds", () => {
    expect(seeds.length).toBeGreaterThan(10);
  });
  it("generated Dockerfiles (40,000)", () => {
    fc.assert(fc.property(generated, check), { numRuns: 40_000 });
  });
  it("mutated real Dockerfiles (50,000)", () => {
    fc.assert(fc.property(mutated, check), { numRuns: 50_000 });
  });
  it("random strings (10,000)", () => {
    fc.assert(fc.property(noise, check), { numRuns: 10_000 });
    expect(slowest).toBeLessThan(50);
  });
});
