/**
 * When berth's output goes away — the reader of its stdout or stderr pipe exited (`berth build
 * . | head`) — a write fails with EPIPE (Node ignores SIGPIPE). Uncaught, that killed berth on
 * the spot, mid-build: a runc container went on running and the build's state dir and
 * snapshot stayed behind. Now the command that registered a handler stops as on Ctrl-C and
 * cleans up (a build); any other exits at once with 141, the status of a SIGPIPE death. Later
 * write errors are ignored.
 */
let onClosed: (() => void) | undefined;
let closed = false;

export function whenOutputCloses(handler: () => void): () => void {
  onClosed = handler;
  return () => {
    if (onClosed === handler) onClosed = undefined;
  };
}

export function watchOutput(): void {
  const lost = (): void => {
    if (closed) return;
    closed = true;
    if (onClosed !== undefined) onClosed();
    else process.exit(141);
  };
  process.stdout.on("error", lost);
  process.stderr.on("error", lost);
}
