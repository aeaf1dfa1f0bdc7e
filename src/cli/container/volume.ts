import type { Command } from "commander";
import { printInspect } from "../inspect.js";
import { collect } from "../flags.js";
import { confirm } from "../prompt.js";
import { context } from "./context.js";

/** `volume create|ls|inspect|rm|prune`. */

export function registerVolumeCommands(program: Command): void {
  const volume = program.command("volume").description("Manage volumes");
  volume
    .command("create")
    .argument("[name]")
    .option("-l, --label <key=value>", "set a label (repeatable)", collect)
    .action(async (name: string | undefined, flags: { label?: string[] }, cmd: Command) => {
      const ctx = await context(cmd);
      const { parseLabels } = await import("../format.js");
      process.stdout.write(`${(await ctx.store.createVolume(name, { labels: parseLabels(flags.label) })).Name}\n`);
    });
  volume
    .command("ls")
    .option("-q, --quiet", "only display volume names")
    .action(async (flags: { quiet?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const { table } = await import("../format.js");
      const list = await ctx.store.listVolumes();
      if (flags.quiet === true) process.stdout.write(list.map((v) => `${v.Name}\n`).join(""));
      else process.stdout.write(table(["DRIVER", "VOLUME NAME"], list.map((v) => [v.Driver, v.Name])));
    });
  volume
    .command("inspect")
    .argument("<names...>")
    .option("-f, --format <format>", "format the output using a Go template, or json")
    .action(async (names: string[], flags: { format?: string }, cmd: Command) => {
      const ctx = await context(cmd);
      const out = [];
      for (const n of names) out.push(await ctx.store.inspectVolume(n));
      printInspect(out, flags.format);
    });
  volume
    .command("rm")
    .argument("<names...>")
    .option("-f, --force", "remove even if in use")
    .action(async (names: string[], flags: { force?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const { listContainers } = await import("../../runtime/container/lookup.js");
      const all = await listContainers(ctx);
      for (const n of names) {
        const users = flags.force === true ? [] : all.filter((c) => c.record.hostConfig.volumes.some((v) => v.name === n)).map((c) => c.record.id.slice(0, 12));
        await ctx.store.removeVolume(n, users);
        process.stdout.write(`${n}\n`);
      }
    });
  volume
    .command("prune")
    .description("Remove unused local volumes (anonymous ones; -a: named ones too)")
    .option("-a, --all", "remove all unused volumes, not just anonymous ones")
    .option("-f, --force", "Do not prompt for confirmation")
    .action(async (flags: { all?: boolean; force?: boolean }, cmd: Command) => {
      const question = flags.all === true ? "WARNING! This will remove all local volumes not used by at least one container." : "WARNING! This will remove anonymous local volumes not used by at least one container.";
      if (flags.force !== true && !(await confirm(`${question}\nAre you sure you want to continue?`))) {
        process.stdout.write("Total reclaimed space: 0B\n");
        return;
      }
      const ctx = await context(cmd);
      const { pruneVolumes } = await import("../../runtime/container/volumes.js");
      const r = await pruneVolumes(ctx, { all: flags.all === true });
      const { humanSize } = await import("../format.js");
      process.stdout.write(`${r.removed.length > 0 ? `Deleted Volumes:\n${r.removed.map((n) => `${n}\n`).join("")}\n` : ""}Total reclaimed space: ${humanSize(r.bytes)}\n`);
    });
}
