import { describe, expect, it } from "vitest";
import { parse } from "../../../src/parser/index.js";
import { isSecretKey, lintDockerfile, lintSummary } from "../../../src/plan/index.js";

const lint = (text: string) => lintDockerfile(parse(text, { file: "Dockerfile" }), text);

describe("SecretsUsedInArgOrEnv (BuildKit's rule)", () => {
  it.each([
    ["GITHUB_TOKEN", true],
    ["DB_PASSWORD", true],
    ["AWS_SECRET_ACCESS_KEY", true],
    ["api_key", true],
    ["ApiKey", true], // one word "apikey", any case
    ["SECRET", true],
    ["MY_AUTH", true],
    ["npm_credentials", true],
    ["PASSWD", true],
    ["KEYBOARD", false],
    ["TOKENS", false],
    ["MONKEY", false],
    ["PUBLIC_KEY", false],
    ["GPG_KEY_PUBLIC", false],
    ["PATH", false],
    ["SECRETARY", false],
  ])("%s: %s", (key, secret) => {
    expect(isSecretKey(key)).toBe(secret);
  });

  it("points at the ARG or ENV line, as BuildKit prints it", () => {
    const text = "FROM busybox\nARG GITHUB_TOKEN\nARG KEYBOARD=1\nENV DB_PASSWORD=x \\\n    PUBLIC_KEY=y\nENV LEGACY_TOKEN value\nRUN true\n";
    const warnings = lint(text);
    expect(warnings.map((w) => [w.line, w.message])).toEqual([
      [2, 'Do not use ARG or ENV instructions for sensitive data (ARG "GITHUB_TOKEN")'],
      [4, 'Do not use ARG or ENV instructions for sensitive data (ENV "DB_PASSWORD")'],
      [6, 'Do not use ARG or ENV instructions for sensitive data (ENV "LEGACY_TOKEN")'],
    ]);
    expect(lintSummary(warnings)).toBe(
      [
        " 3 warnings found:",
        ' - SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG "GITHUB_TOKEN") (line 2)',
        ' - SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ENV "DB_PASSWORD") (line 4)',
        ' - SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ENV "LEGACY_TOKEN") (line 6)',
      ].join("\n"),
    );
  });

  it("global ARGs count; # check=skip turns the rule off", () => {
    expect(lint("ARG NPM_TOKEN\nFROM busybox\n").map((w) => w.line)).toEqual([1]);
    expect(lint("# check=skip=SecretsUsedInArgOrEnv\nFROM busybox\nARG NPM_TOKEN\n")).toEqual([]);
    expect(lint("# check=skip=all\nFROM busybox\nARG NPM_TOKEN\n")).toEqual([]);
    expect(lint("FROM busybox\nARG KEYBOARD\nENV MONKEY=1\n")).toEqual([]);
    expect(lintSummary([])).toBeUndefined();
  });
});
