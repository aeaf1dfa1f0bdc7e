import { BerthError } from "../errors.js";

/**
 * A word could not be expanded: an unterminated quote, a bad `${…}` substitution, a
 * `${VAR?msg}` whose variable is unset, an invalid pattern. The message follows BuildKit's
 * (`failed to process "…": syntax error: bad substitution`) so users can compare with
 * `docker build`; the planner wraps it with the Dockerfile's line and column, using `offset`
 * to point into the word.
 */
export class ShellExpansionError extends BerthError {
  /** The word as written in the Dockerfile, before expansion. */
  readonly word: string;
  /** The reason alone, without the word (e.g. `syntax error: missing '}'`). */
  readonly reason: string;
  /** UTF-16 offset in `word` where expansion stopped (where the problem was noticed). */
  readonly offset: number;

  constructor(word: string, reason: string, offset: number) {
    super(`failed to process ${JSON.stringify(word)}: ${reason}`);
    this.word = word;
    this.reason = reason;
    this.offset = offset;
  }
}
