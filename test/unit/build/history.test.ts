import { describe, expect, it } from "vitest";
import { cacheKey, explainMiss, goDuration, goQuoteList, runCommandString, type KeyInputs } from "../../../src/builder/index.js";
import { copyDestination } from "../../../src/builder/copy/prepare.js";
import { runCommand } from "../../../src/builder/run/command.js";
import { parseGoDuration, parseInstructions, type RunInstruction } from "../../../src/instructions/index.js";

describe("BuildKit's history texts", () => {
  const durations: [number, string][] = [[0, "0s"], [30e9, "30s"], [90e9, "1m30s"], [5e8, "500ms"], [3.6e12 + 1e9, "1h0m1s"], [1500, "1.5µs"]];
  for (const [ns, text] of durations) it(`goDuration(${ns}) = ${text}`, () => expect(goDuration(ns)).toBe(text));
  const parsed: [string, number | undefined][] = [["30s", 30e9], ["1m30s", 90e9], ["500ms", 5e8], ["0", 0], ["1.5s", 1.5e9], ["x", undefined], ["", undefined]];
  for (const [text, ns] of parsed) it(`parseGoDuration(${JSON.stringify(text)})`, () => expect(parseGoDuration(text)).toBe(ns));
  it("runCommandString puts in-scope build args first, later values of a key replacing earlier ones", () => {
    expect(runCommandString(["/bin/sh", "-c", "make"], [])).toBe("/bin/sh -c make");
    expect(runCommandString(["/bin/sh", "-c", "make"], [{ key: "A", value: "1" }, { key: "B", value: "" }, { key: "A", value: "2" }])).toBe("|2 A=2 B= /bin/sh -c make");
  });
  it("quotes lists as Go's %q", () => expect(goQuoteList(["/bin/sh", "-c", 'echo "hi"\n'])).toBe('["/bin/sh" "-c" "echo \\"hi\\"\\n"]'));
});

describe("COPY destinations (pathRelativeToWorkingDir)", () => {
  const cases: [string, string, string][] = [["/", "/x", "/x"], ["/app", ".", "/app/"], ["/app", "sub/", "/app/sub/"], ["/app", "f.txt", "/app/f.txt"], ["/app", "../etc/", "/etc/"], ["/", "", "/"], ["/w", "./", "/w/"]];
  for (const [wd, dest, want] of cases) it(`${wd} + ${dest}`, () => expect(copyDestination(wd, dest)).toBe(want));
});

describe("RUN commands", () => {
  const sh = (command: string) => ["/bin/sh", "-c", command];
  const cases: { df: string; want: string[]; script?: boolean }[] = [
    { df: "RUN echo hi", want: ["/bin/sh", "-c", "echo hi"] },
    { df: 'RUN ["echo", "hi"]', want: ["echo", "hi"] },
    { df: "RUN <<EOF\necho a\necho b\nEOF\n", want: ["/bin/sh", "-c", "echo a\necho b\n"] },
    { df: "RUN <<EOF\n#!/bin/sh\necho a\nEOF\n", want: ["/dev/pipes/EOF"], script: true },
    { df: "RUN cat <<EOF > /x\nhello\nEOF\n", want: ["/bin/sh", "-c", "cat <<EOF > /x\nhello\nEOF"] },
    // the shell strips the tabs of <<- in a command that goes on after the heredoc; a lone
    // heredoc is the script itself, stripped by the builder
    { df: "RUN cat <<-EOF > /x\n\thello\nEOF\n", want: ["/bin/sh", "-c", "cat <<-EOF > /x\n\thello\nEOF"] },
    { df: "RUN <<-EOF\n\techo a\nEOF\n", want: ["/bin/sh", "-c", "echo a\n"] },
  ];
  for (const c of cases) {
    it(c.df.split("\n")[0] as string, () => {
      const ins = parseInstructions(`FROM scratch\n${c.df}\n`).instructions[1] as RunInstruction;
      const r = runCommand(ins, sh);
      expect(r.args).toEqual(c.want);
      expect(r.script !== undefined).toBe(c.script === true);
    });
  }
});

describe("cache keys and --explain", () => {
  const base: KeyInputs = { parent: "p", instruction: "RUN x", env: ["A=1", "PATH=/bin"], contentDigest: "d1", files: { "a.txt": "1", "b.txt": "2" } };
  it("keys change with every input", () => {
    const k = cacheKey(base);
    expect(cacheKey({ ...base })).toBe(k);
    for (const change of [{ parent: "q" }, { instruction: "RUN y" }, { env: ["A=2", "PATH=/bin"] }, { contentDigest: "d2" }]) expect(cacheKey({ ...base, ...change })).not.toBe(k);
    expect(cacheKey({ ...base, files: {} })).toBe(k); // per-file sums only explain; the digest is the key
  });
  const cases: { name: string; now: Partial<KeyInputs>; reasons: string[] }[] = [
    { name: "instruction", now: { instruction: "RUN y" }, reasons: ['instruction changed: "RUN x" → "RUN y"'] },
    { name: "arg", now: { env: ["A=2", "PATH=/bin"] }, reasons: ['A changed: "1" → "2"'] },
    { name: "new and gone vars", now: { env: ["B=1", "PATH=/bin"] }, reasons: ['B is new (="1")', "A is no longer set"] },
    { name: "files", now: { contentDigest: "d2", files: { "a.txt": "9", "c.txt": "3" } }, reasons: ["file a.txt changed", "file c.txt was added", "file b.txt was removed"] },
    { name: "parent", now: { parent: "other" }, reasons: ["an earlier step (or the base image) changed"] },
  ];
  for (const c of cases) it(c.name, () => expect(explainMiss(base, { ...base, ...c.now })).toEqual(c.reasons));
  it("first build", () => expect(explainMiss(undefined, base)).toEqual(["no earlier build of this step"]));
  it("a long value is cut, its length said (a 120 KB build arg makes no 220 KB line)", () => {
    const big = "x".repeat(120_000);
    const [reason] = explainMiss(base, { ...base, env: [...base.env, `BIG=${big}`] });
    expect(reason?.length).toBeLessThan(300);
    expect(reason).toMatch(/^BIG is new \(="x{199}…" \(120000 characters\)\)$/);
  });
});
