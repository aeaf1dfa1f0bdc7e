import type { Command } from "commander";
import { BerthError } from "../../errors.js";
import { context, forEachContainer } from "./context.js";
import { attachTo, detachKeys, launchSession, requireTerminal, runSession } from "./session.js";

/** A container's life: start, stop, restart, kill, pause, unpause, wait, update, rename. */

export function registerLifecycleCommands(program: Command): void {
  program
    .command("start")
    .description("Start one or more stopped containers")
    .option("-a, --attach", "attach to the container's output and return its exit code")
    .option("-i, --interactive", "attach the container's STDIN")
    .option("--detach-keys <keys>", "override the key sequence for detaching a container (default ctrl-p,ctrl-q)")
    .argument("<containers...>")
    .action(async (refs: string[], flags: { attach?: boolean; interactive?: boolean; detachKeys?: string }, cmd: Command) => {
      const keys = await detachKeys(flags.detachKeys);
      const ctx = await context(cmd);
      const { startContainer } = await import("../../runtime/container/lifecycle.js");
      if (flags.attach === true || flags.interactive === true) {
        if (refs.length > 1) throw new BerthError("you cannot start and attach multiple containers at once");
        const { findContainer } = await import("../../runtime/container/lookup.js");
        const { record } = await findContainer(ctx, refs[0] as string);
        const stdin = flags.interactive === true && record.config.openStdin;
        if (record.state === "running") process.exitCode = await attachTo(ctx, record.id, { stdin, sigProxy: true, detachKeys: keys, onDetach: "quiet" });
        else if (record.config.tty) {
          await requireTerminal();
          process.exitCode = await runSession(ctx, record.id, record.hostConfig.ports.length > 0 ? await launchSession(ctx) : undefined, { stdin, detachKeys: keys });
        }
        else process.exitCode = (await startContainer(ctx, record.id, { attach: true })).exitCode ?? 0;
        return;
      }
      for (const ref of refs) {
        await startContainer(ctx, ref);
        process.stdout.write(`${ref}\n`);
      }
    });

  for (const [name, description] of [
    ["stop", "Stop one or more running containers (STOPSIGNAL, then SIGKILL after the grace period)"],
    ["restart", "Restart one or more containers"],
  ] as const) {
    program
      .command(name)
      .description(description)
      .option("-t, --time <seconds>", "seconds to wait before killing the container", "10")
      .argument("<containers...>")
      .action(async (refs: string[], flags: { time: string }, cmd: Command) => {
        const ctx = await context(cmd);
        const { parseInteger } = await import("../../runtime/container/parse-options.js");
        const lifecycle = await import("../../runtime/container/lifecycle.js");
        const grace = parseInteger(flags.time, "--time");
        await forEachContainer(refs, async (ref) => {
          await (name === "stop" ? lifecycle.stopContainer(ctx, ref, grace) : lifecycle.restartContainer(ctx, ref, grace));
        });
      });
  }

  program
    .command("kill")
    .description("Kill one or more running containers")
    .option("-s, --signal <signal>", "signal to send", "SIGKILL")
    .argument("<containers...>")
    .action(async (refs: string[], flags: { signal: string }, cmd: Command) => {
      const ctx = await context(cmd);
      const { killContainer } = await import("../../runtime/container/lifecycle.js");
      await forEachContainer(refs, async (ref) => {
        await killContainer(ctx, ref, flags.signal);
      });
    });

  program
    .command("rename")
    .description("Rename a container")
    .argument("<container>")
    .argument("<new-name>")
    .action(async (ref: string, newName: string, _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { renameContainer } = await import("../../runtime/container/rename.js");
      await renameContainer(ctx, ref, newName);
    });

  for (const [name, description] of [
    ["pause", "Pause all processes within one or more containers"],
    ["unpause", "Unpause all processes within one or more containers"],
  ] as const) {
    program
      .command(name)
      .description(description)
      .argument("<containers...>")
      .action(async (refs: string[], _flags: object, cmd: Command) => {
        const ctx = await context(cmd);
        const { pauseContainer, unpauseContainer } = await import("../../runtime/container/pause.js");
        await forEachContainer(refs, async (ref) => {
          await (name === "pause" ? pauseContainer : unpauseContainer)(ctx, ref);
        });
      });
  }

  program
    .command("update")
    .description("Update the resource limits or the restart policy of one or more containers")
    .option("-m, --memory <bytes>", "memory limit (e.g. 64m, 1g)")
    .option("--cpus <n>", "number of CPUs (e.g. 0.5)")
    .option("--pids-limit <n>", "maximum number of processes (-1 for unlimited)")
    .option("--restart <policy>", "restart policy when the container exits: no, always, on-failure[:max-retries] or unless-stopped")
    .argument("<containers...>")
    .action(async (refs: string[], flags: { memory?: string; cpus?: string; pidsLimit?: string; restart?: string }, cmd: Command) => {
      const ctx = await context(cmd);
      const { parseBytes, parseCpus, parseInteger } = await import("../../runtime/container/parse-options.js");
      const { RuntimeError } = await import("../../runtime/errors.js");
      const { updateContainer } = await import("../../runtime/container/update.js");
      const update = {
        ...(flags.memory !== undefined ? { memory: parseBytes(flags.memory) } : {}),
        ...(flags.cpus !== undefined ? { cpus: parseCpus(flags.cpus) } : {}),
        ...(flags.pidsLimit !== undefined ? { pidsLimit: parseInteger(flags.pidsLimit, "--pids-limit") } : {}),
      };
      if (Object.keys(update).length === 0 && flags.restart === undefined) throw new RuntimeError("you must provide one or more flags when using this command", { exitCode: 1 });
      // a policy Docker's daemon refuses: its message, exit 1 (update is not run's 125)
      const { parseRestartPolicy } = await import("../../runtime/container/restart.js");
      let restartPolicy;
      try {
        restartPolicy = flags.restart === undefined ? undefined : parseRestartPolicy(flags.restart);
      } catch (err) {
        throw new RuntimeError((err as Error).message, { exitCode: 1 });
      }
      await forEachContainer(refs, async (ref) => {
        await updateContainer(ctx, ref, update, restartPolicy);
      });
    });

  program
    .command("wait")
    .description("Block until containers stop, then print their exit codes")
    .argument("<containers...>")
    .action(async (refs: string[], _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { findContainer } = await import("../../runtime/container/lookup.js");
      const { waitForExit } = await import("../../runtime/container/lifecycle.js");
      for (const ref of refs) {
        const { record } = await findContainer(ctx, ref);
        process.stdout.write(`${(await waitForExit(ctx, record.id)) ?? 0}\n`);
      }
    });
}
