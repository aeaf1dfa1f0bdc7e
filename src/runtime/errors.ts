import { BerthError } from "../errors.js";

/**
 * A container could not be created, started or managed. Exit codes follow Docker's CLI:
 * 125 for berth's own errors (the default), 126 when the command cannot be executed,
 * 127 when it is not found.
 */
export class RuntimeError extends BerthError {
  readonly container: string | undefined;

  constructor(message: string, options: { exitCode?: number; container?: string; cause?: unknown } = {}) {
    super(message, { exitCode: options.exitCode ?? 125, cause: options.cause });
    this.container = options.container;
  }
}

/** Containers need root here (overlay mounts, namespaces, cgroups): say so before runc does, less clearly. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new RuntimeError("running containers needs root (berth has no rootless mode): run berth with sudo");
}
