import { formatPlatform } from "../image/platform.js";
import type { Platform } from "../image/types.js";
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

/**
 * The image is in the store, but not for the platform asked for (Docker's message); a
 * NoSuchImageError, so that `run --platform` and FROM pull the right one.
 */
export class PlatformMismatchError extends NoSuchImageError {
  constructor(image: string, wanted: Platform, actual: Platform[]) {
    super(image);
    this.message = `image with reference ${image} was found but does not match the specified platform: wanted ${formatPlatform(wanted)}, actual: ${actual.map(formatPlatform).join(", ")}`;
  }
}
