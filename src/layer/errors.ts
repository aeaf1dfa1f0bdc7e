import { BerthError } from "../errors.js";

/** A layer tar that cannot be read or applied safely; names the entry and the problem. */
export class LayerError extends BerthError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
  }
}
