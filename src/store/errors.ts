import { BerthError } from "../errors.js";

/** Anything the store refuses or cannot do: unknown image, digest mismatch, bad archive. */
export class StoreError extends BerthError {
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options);
  }
}
