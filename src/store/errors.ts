import { BerthError } from "../errors.js";

/** Anything the store refuses or cannot do: unknown image, digest mismatch, bad archive. */
export class StoreError extends BerthError {
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options);
  }
}

/** The named image (reference or ID) is not in the store: callers may pull it, or look elsewhere. */
export class NoSuchImageError extends StoreError {
  constructor(readonly image: string) {
    super(`No such image: ${image}`);
  }
}
