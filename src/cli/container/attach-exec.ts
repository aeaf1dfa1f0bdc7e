import type { Command } from "commander";
import { collect } from "../flags.js";
import { parseBool } from "../format.js";
import { context } from "./context.js";
import { attachTo, detachKeys } from "./session.js";

/** Into a running container: attach to its process, exec another one. */

export function registerAttachExecCommands(program: Command): void {
  program
    .command("attach")
    .description("Attach local standard input, output, and error streams to a running container")
    .option("--no-stdin", "do not attach STDIN")
    .option("--sig-proxy [bool]", "proxy all received signals to the process (not for a -t container)", parseBool("--sig-proxy"), true)
    .option("--detach-keys <keys>", "override the key sequence for detaching a container (default ctrl-p,ctrl-q)")
    .argument("<container>")
    .action(async (ref: string, flags: { stdin: boolean; sigProxy: boolean; detachKeys?: string }, cmd: Command) => {
      const keys = await detachKeys(flags.detachKeys);
      const ctx = await context(cmd);
      process.exitCode = await attachTo(ctx, ref, { stdin: flags.stdin, sigProxy: flags.sigProxy, detachKeys: keys, onDetach: "report" });
    });
  program
    .command("exec")
    .description("Run a command in a running container")
    .option("-i, --interactive", "keep STDIN open")
    .option("-t, --tty", "allocate a pseudo-TTY")
    .option("-e, --env <KEY=value>", "set an environment variable (repeatable)", collect)
    .option("-u, --user <user[:group]>", "user name or UID")
    .option("-w, --workdir <dir>", "working directory inside the container")
    .argument("<container>")
    .argument("<command...>")
    .passThroughOptions()
    .action(async (ref: string, args: string[], flags: { interactive?: boolean; tty?: boolean; env?: string[]; user?: string; workdir?: string }, cmd: Command) => {
      const { trace } = await import("../../sys/trace.js");
      trace("cli: exec action");
      const ctx = await context(cmd);
      const { execInContainer } = await import("../../runtime/container/exec.js");
      process.exitCode = await execInContainer(ctx, ref, {
        args,
        env: flags.env ?? [],
        ...(flags.user !== undefined ? { user: flags.user } : {}),
        ...(flags.workdir !== undefined ? { cwd: flags.workdir } : {}),
        tty: flags.tty === true,
        interactive: flags.interactive === true,
      });
    });
}
