import { BerthError } from "../errors.js";

/** A problem with the build context or a COPY/ADD source: names the path and what to do. */
export class ContextError extends BerthError {
  readonly path: string | undefined;

  constructor(message: string, options: { path?: string; cause?: unknown } = {}) {
    super(message, { exitCode: 1, cause: options.cause });
    this.path = options.path;
  }
}
