/**
 * The root of berth's error classes. Each domain has its own subclass
 * (DockerfileSyntaxError, BuildError, StoreError, RuntimeError, RegistryError …) carrying
 * structured fields; the library throws them and the CLI renders them.
 */
export class BerthError extends Error {
  /** The process exit code the CLI uses for this error (Docker uses 125 for its own errors). */
  readonly exitCode: number;

  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? 1;
  }

  /** The text the CLI prints (one line, unless a subclass adds a code frame). */
  render(_options: { color: boolean } = { color: false }): string {
    return this.message;
  }
}

/** Bad command-line usage: a flag's value, a missing argument. */
export class UsageError extends BerthError {
  constructor(message: string) {
    super(message, { exitCode: 125 });
  }
}
