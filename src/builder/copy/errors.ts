import { BerthError } from "../../errors.js";

/** A COPY/ADD step that cannot write its layer: names the path, the flag or the source. */
export class CopyError extends BerthError {
  readonly path: string | undefined;

  constructor(message: string, options: { path?: string; cause?: unknown } = {}) {
    super(message, { exitCode: 1, cause: options.cause });
    this.path = options.path;
  }
}
