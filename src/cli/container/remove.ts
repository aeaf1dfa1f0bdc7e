import type { Command } from "commander";
import { confirm } from "../prompt.js";
import { context, forEachContainer } from "./context.js";

/** `rm` and `container prune`. */

export function registerRemoveCommands(program: Command, container: Command): void {
  program
    .command("rm")
    .description("Remove one or more containers")
    .option("-f, --force", "force the removal of a running container (SIGKILL)")
    .option("-v, --volumes", "remove anonymous volumes of the container")
    .argument("<containers...>")
    .action(async (refs: string[], flags: { force?: boolean; volumes?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const { removeContainer } = await import("../../runtime/container/remove.js");
      await forEachContainer(refs, async (ref) => {
        await removeContainer(ctx, ref, { force: flags.force === true, volumes: flags.volumes === true });
      });
    });
  container
    .command("prune")
    .description("Remove all stopped containers")
    .option("-f, --force", "Do not prompt for confirmation")
    .action(async (flags: { force?: boolean }, cmd: Command) => {
      if (flags.force !== true && !(await confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"))) {
        process.stdout.write("Total reclaimed space: 0B\n");
        return;
      }
      const ctx = await context(cmd);
      const { pruneContainers } = await import("../../runtime/container/remove.js");
      const ids = await pruneContainers(ctx);
      process.stdout.write(ids.length > 0 ? `Deleted Containers:\n${ids.map((i) => `${i}\n`).join("")}\n` : "");
      process.stdout.write(`Total reclaimed space: 0B\n`);
    });
}
