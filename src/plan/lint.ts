import { toInstructions, type Instruction } from "../instructions/index.js";
import type { DockerfileAst } from "../parser/index.js";

/** A BuildKit lint rule's finding, with the line it points at. */
export interface LintWarning {
  rule: string;
  message: string;
  /** 1-based line of the instruction */
  line: number;
  url: string;
}

/**
 * BuildKit's SecretsUsedInArgOrEnv (frontend/dockerfile/dockerfile2llb/convert.go, isSecretKey;
 * rule text in frontend/dockerfile/linter/ruleset.go): an ARG or ENV name is a secret's when
 * one of its `_`-separated words, in any case, is one of these tokens — the pattern
 * `(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)`
 * — unless a word is `public` (the allow pattern `(?i)(?:_|^)(?:public)(?:_|$)`). So
 * GITHUB_TOKEN, DB_PASSWORD and AWS_SECRET_KEY count; KEYBOARD, TOKENS and PUBLIC_KEY do not.
 */
const SECRET_TOKENS = ["apikey", "auth", "credential", "credentials", "key", "password", "pword", "passwd", "secret", "token"];
const SECRET_PATTERN = new RegExp(`(?:_|^)(?:${SECRET_TOKENS.join("|")})(?:_|$)`, "i");
const ALLOW_PATTERN = /(?:_|^)(?:public)(?:_|$)/i;

export const SECRETS_RULE = "SecretsUsedInArgOrEnv";

export function isSecretKey(key: string): boolean {
  return SECRET_PATTERN.test(key) && !ALLOW_PATTERN.test(key);
}

/** The rules `# check=skip=…` turns off ("all" for every rule). */
function skippedRules(ast: DockerfileAst): Set<string> {
  const skipped = new Set<string>();
  for (const d of ast.directives) {
    if (d.name !== "check") continue;
    for (const part of d.value.split(";")) {
      const [k, v] = part.split("=", 2).map((s) => s.trim());
      if (k === "skip" && v !== undefined) for (const rule of v.split(",")) skipped.add(rule.trim());
    }
  }
  return skipped;
}

/** BuildKit's lint warnings berth implements, in line order (`instructions`: the AST's, when already typed). */
export function lintDockerfile(ast: DockerfileAst, text: string, instructions?: readonly Instruction[]): LintWarning[] {
  const skipped = skippedRules(ast);
  if (skipped.has("all") || skipped.has(SECRETS_RULE)) return [];
  const out: LintWarning[] = [];
  const flag = (instruction: "ARG" | "ENV", key: string, line: number) => {
    if (!isSecretKey(key)) return;
    out.push({
      rule: SECRETS_RULE,
      message: `Do not use ARG or ENV instructions for sensitive data (${instruction} ${JSON.stringify(key)})`,
      line,
      url: "https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/",
    });
  };
  for (const ins of instructions ?? toInstructions(ast, text)) {
    const line = ins.range.start.line;
    if (ins.kind === "arg") for (const a of ins.args) flag("ARG", a.name.raw, line);
    else if (ins.kind === "env") for (const kv of ins.vars) flag("ENV", kv.key.raw, line);
  }
  return out;
}

/** The block BuildKit prints after a build with warnings. */
export function lintSummary(warnings: readonly LintWarning[]): string | undefined {
  if (warnings.length === 0) return undefined;
  const head = ` ${warnings.length} warning${warnings.length === 1 ? "" : "s"} found:`;
  return [head, ...warnings.map((w) => ` - ${w.rule}: ${w.message} (line ${w.line})`)].join("\n");
}
