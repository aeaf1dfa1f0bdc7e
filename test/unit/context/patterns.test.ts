import { describe, expect, it } from "vitest";
import { cleanPath, goMatch } from "../../../src/context/path-match.js";
import { parseDockerignore } from "../../../src/context/dockerignore.js";
import { PatternMatcher } from "../../../src/context/patternmatcher.js";

// Go's filepath.Match table (path/filepath/match_test.go), the cases that apply on Linux.
const goCases: [string, string, boolean | "err"][] = [
  ["abc", "abc", true],
  ["*", "abc", true],
  ["*c", "abc", true],
  ["a*", "a", true],
  ["a*", "abc", true],
  ["a*", "ab/c", false],
  ["a*/b", "abc/b", true],
  ["a*/b", "a/c/b", false],
  ["a*b*c*d*e*/f", "axbxcxdxe/f", true],
  ["a*b*c*d*e*/f", "axbxcxdxexxx/f", true],
  ["a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false],
  ["a*b*c*d*e*/f", "axbxcxdxexxx/fff", false],
  ["a*b?c*x", "abxbbxdbxebxczzx", true],
  ["a*b?c*x", "abxbbxdbxebxczzy", false],
  ["ab[c]", "abc", true],
  ["ab[b-d]", "abc", true],
  ["ab[e-g]", "abc", false],
  ["ab[^c]", "abc", false],
  ["ab[^b-d]", "abc", false],
  ["ab[^e-g]", "abc", true],
  ["a\\*b", "a*b", true],
  ["a\\*b", "ab", false],
  ["a?b", "a☺b", true],
  ["a[^a]b", "a☺b", true],
  ["a???b", "a☺b", false],
  ["[a-ζ]*", "α", true],
  ["*[a-ζ]", "A", false],
  ["a?b", "a/b", false],
  ["a*b", "a/b", false],
  ["[\\]a]", "]", true],
  ["[\\-]", "-", true],
  ["[x\\-]", "x", true],
  ["[x\\-]", "-", true],
  ["[x\\-]", "z", false],
  ["[\\-x]", "x", true],
  ["[]a]", "]", "err"],
  ["[-]", "-", "err"],
  ["[x-]", "x", "err"],
  ["[a-b-c]", "a", "err"],
  ["[", "a", "err"],
  ["[^", "a", "err"],
  ["[^bc", "a", "err"],
  ["a[", "a", "err"],
  ["a[", "ab", "err"],
  ["a[", "x", "err"],
  ["a/b[", "x", "err"],
  ["*x", "xxx", true],
  ["arr[[]0].txt", "arr[0].txt", true],
];

describe("goMatch (Go filepath.Match)", () => {
  it.each(goCases)("%s vs %s", (pattern, name, want) => {
    if (want === "err") expect(() => goMatch(pattern, name)).toThrow(/syntax error/);
    else expect(goMatch(pattern, name)).toBe(want);
  });
});

describe("cleanPath (Go path.Clean)", () => {
  it.each([
    ["", "."],
    ["./a/b/", "a/b"],
    ["/../a", "/a"],
    ["a/../../b", "../b"],
    ["//a//b/./c/..", "/a/b"],
  ])("%s → %s", (input, want) => expect(cleanPath(input)).toBe(want));
});

// .dockerignore semantics: moby/patternmatcher's tests and the Dockerfile reference.
const ignoreCases: { patterns: string[]; path: string; ignored: boolean }[] = [
  { patterns: ["*.md"], path: "README.md", ignored: true },
  { patterns: ["*.md"], path: "docs/README.md", ignored: false },
  { patterns: ["**/*.md"], path: "docs/a/README.md", ignored: true },
  { patterns: ["**/*.md"], path: "README.md", ignored: true },
  { patterns: ["*.md", "!README.md"], path: "README.md", ignored: false },
  { patterns: ["*.md", "!README*.md", "README-secret.md"], path: "README-secret.md", ignored: true },
  { patterns: ["*.md", "README-secret.md", "!README*.md"], path: "README-secret.md", ignored: false },
  { patterns: ["docs"], path: "docs/a/b.txt", ignored: true },
  { patterns: ["/docs"], path: "docs/x", ignored: true },
  { patterns: ["./docs/"], path: "docs/x", ignored: true },
  { patterns: ["temp?"], path: "tempa", ignored: true },
  { patterns: ["temp?"], path: "temp/a", ignored: false },
  { patterns: ["*/temp*"], path: "somedir/temporary.txt", ignored: true },
  { patterns: ["*/*/temp*"], path: "a/b/temp", ignored: true },
  { patterns: ["a+b"], path: "a+b", ignored: true },
  { patterns: ["a+b"], path: "aab", ignored: false },
  { patterns: ["(x)"], path: "(x)", ignored: true },
  { patterns: ["README.md"], path: "readme.md", ignored: false },
  { patterns: ["dir/**"], path: "dir/a/b", ignored: true },
  { patterns: ["dir/**"], path: "dir", ignored: false },
  { patterns: ["**"], path: "x/y", ignored: true },
  { patterns: ["**/node_modules"], path: "a/node_modules/b/c.js", ignored: true },
  { patterns: ["a/**/b"], path: "a/b", ignored: true },
  { patterns: ["a/**/b"], path: "a/x/y/b/z", ignored: true },
  { patterns: ["\\*"], path: "*", ignored: true },
  { patterns: ["\\*"], path: "x", ignored: false },
  { patterns: ["[a-c]x"], path: "bx", ignored: true },
];

describe("PatternMatcher (moby/patternmatcher MatchesOrParentMatches)", () => {
  it.each(ignoreCases)("$patterns on $path → $ignored", ({ patterns, path, ignored }) => {
    expect(new PatternMatcher(parseDockerignore(patterns.join("\n"))).matches(path)).toBe(ignored);
  });

  it("rejects a lone ! and a malformed class", () => {
    expect(() => new PatternMatcher(["!"])).toThrow();
    expect(() => new PatternMatcher(["a["])).toThrow(/syntax error/);
  });
});

describe("parseDockerignore", () => {
  it("drops comments, blanks and the BOM; trims; cleans; strips leading /", () => {
    const text = "\uFEFF# comment\n  \n /a/b/ \n!/c\n  # not a comment\n./d/../e\n";
    expect(parseDockerignore(text)).toEqual(["a/b", "!c", "# not a comment", "e"]);
  });
});
