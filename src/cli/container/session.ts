import type { RuntimeContext } from "../../runtime/container/context.js";
import type { SupervisorLaunch } from "../../runtime/container/lifecycle.js";

/**
 * A terminal joined to a container: run -it, start -a/-i and attach (detach keys, signal
 * proxying, the -t session).
 */

/**
 * The detach keys: the flag's, else `detachKeys` in Docker's config.json, else ctrl-p,ctrl-q;
 * Docker's message (exit 1) for keys it would not take.
 */
export async function detachKeys(flag: string | undefined): Promise<Buffer> {
  const [{ parseDetachKeys }, { RuntimeError }] = await Promise.all([import("../../runtime/container/attach-stream.js"), import("../../runtime/errors.js")]);
  let keys = flag ?? "";
  if (keys === "") {
    const [{ readFile }, { dockerConfigPath }] = await Promise.all([import("node:fs/promises"), import("../../registry/credentials.js")]);
    const config = await readFile(dockerConfigPath(), "utf8").then((text) => JSON.parse(text) as { detachKeys?: unknown }, () => ({ detachKeys: undefined }));
    if (typeof config.detachKeys === "string") keys = config.detachKeys;
  }
  try {
    return parseDetachKeys(keys);
  } catch (err) {
    throw new RuntimeError((err as Error).message, { exitCode: 1 });
  }
}

/** A -t session needs a terminal: Docker's check, before anything is created. */
export async function requireTerminal(): Promise<void> {
  const { RuntimeError } = await import("../../runtime/errors.js");
  if (process.stdin.isTTY !== true) throw new RuntimeError("the input device is not a TTY");
}

/** The supervisor for a session of a container with published ports (runSession), started early: its start-up runs beside the CLI's create. */
export async function launchSession(ctx: RuntimeContext): Promise<SupervisorLaunch> {
  const [{ launchSupervisor }, { terminalSize }] = await Promise.all([import("../../runtime/container/lifecycle.js"), import("../../runtime/container/attach.js")]);
  const size = terminalSize();
  return launchSupervisor(ctx, { session: size !== undefined ? { consoleSize: size } : {} });
}

/**
 * Start a -t container and attach this terminal to it (run -it, start -ai): the container
 * outlives a detach (ctrl-p ctrl-q), after which this exits 0, as Docker's CLI; otherwise
 * with the container's exit code. This process holds the container until a detach
 * (holdInSession); one with published ports (their proxies live in their holder) is held by
 * a supervisor from the start (`launch`).
 */
export async function runSession(ctx: RuntimeContext, id: string, launch: SupervisorLaunch | undefined, options: { stdin: boolean; detachKeys: Buffer }): Promise<number> {
  const [{ RuntimeError }, { attachSession, holdInSession, terminalSize }] = await Promise.all([import("../../runtime/errors.js"), import("../../runtime/container/attach.js")]);
  const session = { tty: true, stdin: options.stdin, detachKeys: options.detachKeys };
  let end;
  if (launch === undefined) {
    const size = terminalSize();
    end = await holdInSession(ctx, id, { ...session, ...(size !== undefined ? { consoleSize: size } : {}) });
    // the container is the supervisor's now: end without waiting for what this process started
    if (end.detached) process.exit(0);
  } else {
    const socket = await launch.start(id);
    if (socket === undefined) throw new RuntimeError("cannot talk to the container's supervisor", { container: id });
    // Docker's run and start -a proxy signals for a -t container too (its attach does not)
    const stopProxy = proxySignals(ctx, id);
    end = await attachSession(socket, session).finally(stopProxy);
    if (end.detached) return 0;
  }
  if (end.error !== undefined) throw new RuntimeError(end.error, { exitCode: end.exitCode, container: id });
  return end.exitCode;
}

/**
 * Attach to a running container (`attach`, `start -a` of a running one). A non-tty
 * container gets the signals this process receives (--sig-proxy). A detach is reported as
 * Docker's `attach` does ("read escape sequence", exit 1), or quietly (exit 0) for `start -a`.
 */
export async function attachTo(ctx: RuntimeContext, ref: string, options: { stdin: boolean; sigProxy: boolean; detachKeys: Buffer; onDetach: "report" | "quiet" }): Promise<number> {
  const [{ RuntimeError }, { attachSession, connectToContainer }] = await Promise.all([import("../../runtime/errors.js"), import("../../runtime/container/attach.js")]);
  const { record, socket } = await connectToContainer(ctx, ref);
  const stdin = options.stdin && record.config.openStdin;
  if (record.config.tty && stdin && process.stdin.isTTY !== true) {
    socket.destroy();
    throw new RuntimeError("the input device is not a TTY", { exitCode: 1, container: record.id });
  }
  const stopProxy = options.sigProxy && !record.config.tty ? proxySignals(ctx, record.id) : undefined;
  try {
    const end = await attachSession(socket, { tty: record.config.tty, stdin, detachKeys: options.detachKeys });
    if (end.detached) {
      if (options.onDetach === "quiet") return 0;
      process.stderr.write("read escape sequence\n");
      return 1;
    }
    if (end.error !== undefined) throw new RuntimeError(end.error, { exitCode: end.exitCode, container: record.id });
    return end.exitCode;
  } finally {
    stopProxy?.();
  }
}

/** Docker's --sig-proxy: the signals this process gets go to the container (through runc); returns the undo. */
function proxySignals(ctx: RuntimeContext, id: string): () => void {
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR2"];
  const forward = (signal: NodeJS.Signals) => void ctx.runc.kill(id, signal).catch(() => undefined);
  for (const s of signals) process.on(s, forward);
  return () => {
    for (const s of signals) process.off(s, forward);
  };
}
