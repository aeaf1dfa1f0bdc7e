import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { RuntimeError } from "../errors.js";
import { checkExecutable } from "../lookpath.js";
import { exitCodeOf, runcFailure } from "../runc.js";
import { trace } from "../../sys/trace.js";
import { resolveUser } from "../user.js";
import type { RuntimeContext } from "./context.js";
import { containerEvent } from "./events.js";
import { findContainer } from "./lookup.js";
import { isPaused } from "./pause.js";

export interface ExecOptions {
  args: string[];
  env?: string[];
  user?: string;
  cwd?: string;
  tty?: boolean;
  interactive?: boolean;
}

/**
 * `berth exec`: run a process in a running container's namespaces (runc exec), with this
 * process's stdio; resolves with its exit code. The container's env, user and workdir are
 * the defaults, as Docker's.
 */
export async function execInContainer(ctx: RuntimeContext, ref: string, options: ExecOptions): Promise<number> {
  trace("exec: start");
  const { dir, record } = await findContainer(ctx, ref);
  trace("exec: found");
  if (record.state !== "running") throw new RuntimeError(`container ${record.id} is not running`, { exitCode: 1, container: record.id });
  if (isPaused(record)) throw new RuntimeError(`Container ${record.id} is paused, unpause the container before exec`, { exitCode: 1, container: record.id });
  if (options.args.length === 0) throw new RuntimeError("exec needs a command");
  if (options.tty === true && process.stdin.isTTY !== true) throw new RuntimeError("the input device is not a TTY");
  // the container's rootfs is mounted only in its own namespaces: read its layers
  const rootfs = [record.snapshot.upperDir, ...record.snapshot.lowerDirs];
  const user = await resolveUser(rootfs, options.user ?? record.config.user);
  const cwd = options.cwd ?? record.config.cwd;
  const command = options.args[0] as string;
  const pathEnv = [...(options.env ?? []), ...record.config.env].find((e) => e.startsWith("PATH=")) ?? "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (!record.hostConfig.binds.some((b) => command.startsWith(b.destination + "/"))) await checkExecutable(rootfs, command, [pathEnv], cwd);
  trace("exec: checked");
  const logFile = join(dir, `exec-${randomBytes(4).toString("hex")}.log`);
  // Docker's exec events: the command in the action, the exec's ID as an attribute
  const execID = randomBytes(32).toString("hex");
  containerEvent(ctx, record, `exec_create: ${options.args.join(" ")}`, { execID });
  const child = ctx.runc.spawnExec(record.id, {
    args: options.args,
    env: options.env ?? [],
    cwd,
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    tty: options.tty === true,
    stdio: [options.interactive === true || options.tty === true ? "inherit" : "ignore", "inherit", "inherit"],
    logFile,
  });
  const forward = (signal: NodeJS.Signals) => () => {
    if (child.exitCode === null) child.kill(signal);
  };
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  process.on("SIGINT", onInt).on("SIGTERM", onTerm);
  try {
    trace("exec: runc spawned");
    containerEvent(ctx, record, `exec_start: ${options.args.join(" ")}`, { execID });
    const code = await exitCodeOf(child);
    trace("exec: runc exited");
    if (code !== 0) {
      const failure = await runcFailure(logFile, record.id);
      if (failure !== undefined) throw failure;
    }
    containerEvent(ctx, record, "exec_die", { execID, exitCode: String(code) });
    return code;
  } finally {
    process.off("SIGINT", onInt).off("SIGTERM", onTerm);
    await rm(logFile, { force: true });
  }
}
