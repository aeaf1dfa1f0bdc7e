import { BerthError } from "../errors.js";

/** An image archive (docker save, OCI layout, rootfs tarball) that cannot be read, or a refused import. */
export class ArchiveError extends BerthError {
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options);
  }
}
