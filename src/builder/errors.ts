import { BerthError } from "../errors.js";
import type { SourceRange } from "../parser/index.js";

export interface BuildErrorStep {
  /** The step's name as progress shows it: `[2/4] RUN make`. */
  name: string;
  file: string;
  range: SourceRange;
  /** The Dockerfile's lines the step spans, for the code frame. */
  sourceLines: readonly string[];
}

/**
 * A build step failed: the step, where it is in the Dockerfile, and (for RUN) the tail of its
 * output. `render()` prints the output, the message and a code frame like BuildKit's.
 */
export class BuildError extends BerthError {
  readonly step: BuildErrorStep | undefined;
  readonly output: string;
  readonly detail: string;

  constructor(detail: string, options: { step?: BuildErrorStep; output?: string; exitCode?: number; cause?: unknown } = {}) {
    const where = options.step === undefined ? "" : `${options.step.file}:${options.step.range.start.line}: `;
    const name = options.step === undefined ? "" : `${options.step.name}: `;
    super(`${where}${name}${detail}`, { exitCode: options.exitCode ?? 1, cause: options.cause });
    this.step = options.step;
    this.output = options.output ?? "";
    this.detail = detail;
  }

  override render(options: { color: boolean } = { color: false }): string {
    const red = (s: string) => (options.color ? `\u001b[31m${s}\u001b[39m` : s);
    const out: string[] = [];
    if (this.output.trim() !== "") {
      out.push(this.output.replace(/\n$/, ""));
      out.push("");
    }
    const s = this.step;
    if (s === undefined) {
      out.push(red(`ERROR: ${this.detail}`));
      return out.join("\n");
    }
    out.push(red(`ERROR: failed to solve: ${s.name}: ${this.detail}`));
    out.push("");
    const first = s.range.start.line;
    const last = Math.max(first, s.range.end.line - (s.range.end.column === 1 ? 1 : 0));
    const width = String(last + 1).length;
    out.push(`${s.file}:${first}`);
    out.push("-".repeat(20));
    const from = Math.max(1, first - 2);
    for (let l = from; l <= Math.min(last, first + 9); l++) {
      const text = s.sourceLines[l - 1] ?? "";
      const mark = l >= first && l <= last ? ">>>" : "   ";
      out.push(` ${String(l).padStart(width)} | ${mark} ${text}`);
    }
    out.push("-".repeat(20));
    return out.join("\n");
  }
}
