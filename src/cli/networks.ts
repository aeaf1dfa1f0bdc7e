import type { Command } from "commander";
import { confirm } from "./prompt.js";
import { collect } from "./flags.js";
import { context, forEachContainer } from "./container/context.js";

/** `berth network create|ls|inspect|rm|prune|connect|disconnect`, Docker's flags and output. */

/** A refused request as Docker's exit code says it (1), with berth's `Error: …` (there is no daemon to respond). */
async function asDaemonError(work: () => Promise<void>): Promise<void> {
  const { BerthError } = await import("../errors.js");
  try {
    await work();
  } catch (err) {
    if (!(err instanceof BerthError)) throw err;
    process.stderr.write(`Error: ${err.message}\n`);
    process.exitCode = 1;
  }
}

export function registerNetworkCommands(program: Command): void {
  const network = program.command("network").description("Manage networks (containers on one network reach each other by name)");
  network
    .command("create")
    .description("Create a bridge network")
    .argument("<name>")
    .option("-d, --driver <driver>", "driver to manage the network (bridge)", "bridge")
    .option("--subnet <cidr>", "IPv4 subnet in CIDR format (default: the next free 172.18-31.0.0/16)")
    .option("--gateway <ip>", "IPv4 gateway of the subnet (default: its first address)")
    .option("--label <key=value>", "set metadata on the network (repeatable)", collect)
    .action(async (name: string, flags: { driver: string; subnet?: string; gateway?: string; label?: string[] }, cmd: Command) => {
      const ctx = await context(cmd);
      const { createUserNetwork } = await import("../runtime/network/manage.js");
      const { parseLabels } = await import("./format.js");
      const labels = parseLabels(flags.label);
      const record = await createUserNetwork(ctx, name, {
        driver: flags.driver,
        labels,
        ...(flags.subnet !== undefined ? { subnet: flags.subnet } : {}),
        ...(flags.gateway !== undefined ? { gateway: flags.gateway } : {}),
      });
      process.stdout.write(`${record.id}\n`);
    });
  network
    .command("ls")
    .alias("list")
    .description("List networks")
    .option("-q, --quiet", "only display network IDs")
    .option("--no-trunc", "do not truncate the output")
    .option("--format <format>", "table, json, or a template such as {{.Name}}")
    .action(async (flags: { quiet?: boolean; trunc?: boolean; format?: string }, cmd: Command) => {
      const ctx = await context(cmd);
      const { listNetworks } = await import("../runtime/network/manage.js");
      const { table, formatRows } = await import("./format.js");
      const list = listNetworks(ctx);
      const id = (i: string) => (flags.trunc === false ? i : i.slice(0, 12));
      if (flags.quiet === true) {
        process.stdout.write(list.map((n) => `${id(n.id)}\n`).join(""));
        return;
      }
      if (flags.format !== undefined && flags.format !== "table") {
        const rows = list.map((n) => ({ ID: id(n.id), Name: n.name, Driver: n.driver, Scope: "local", IPv6: false, Internal: false, CreatedAt: n.record?.created ?? "" }));
        process.stdout.write(formatRows(flags.format, rows, { ID: "NETWORK ID", Name: "NAME", Driver: "DRIVER", Scope: "SCOPE", IPv6: "IPV6", Internal: "INTERNAL", CreatedAt: "CREATED" }));
        return;
      }
      process.stdout.write(table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"], list.map((n) => [id(n.id), n.name, n.driver, "local"])));
    });
  network
    .command("inspect")
    .description("Display detailed information on one or more networks")
    .argument("<networks...>")
    .option("-f, --format <format>", "format the output using a Go template, or json")
    .action(async (refs: string[], flags: { format?: string }, cmd: Command) => {
      const ctx = await context(cmd);
      const { inspectNetwork } = await import("../runtime/network/manage.js");
      const { printInspect } = await import("./inspect.js");
      const out = [];
      for (const ref of refs) out.push(await inspectNetwork(ctx, ref));
      printInspect(out, flags.format);
    });
  network
    .command("rm")
    .alias("remove")
    .description("Remove one or more networks (refused while a container runs on one)")
    .argument("<networks...>")
    .action(async (refs: string[], _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { removeUserNetwork } = await import("../runtime/network/manage.js");
      // Docker's rm goes on after an error and exits 1 at the end, as for containers
      await forEachContainer(refs, (ref) => removeUserNetwork(ctx, ref));
    });
  network
    .command("prune")
    .description("Remove all unused networks (and stop the default network's namespace when idle)")
    .option("-f, --force", "Do not prompt for confirmation")
    .action(async (flags: { force?: boolean }, cmd: Command) => {
      if (flags.force !== true && !(await confirm("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?"))) return;
      const ctx = await context(cmd);
      const { pruneNetworks } = await import("../runtime/network/manage.js");
      const removed = await pruneNetworks(ctx);
      process.stdout.write(removed.length > 0 ? `Deleted Networks:\n${removed.map((n) => `${n}\n`).join("")}` : "");
    });
  network
    .command("connect")
    .description("Connect a container to a network (a running one at once: a new interface, eth1…)")
    .argument("<network>")
    .argument("<container>")
    .option("--alias <name>", "add a network-scoped alias for the container (repeatable)", collect)
    .action(async (net: string, ref: string, flags: { alias?: string[] }, cmd: Command) => {
      const ctx = await context(cmd);
      const { connectContainer } = await import("../runtime/network/manage.js");
      await asDaemonError(() => connectContainer(ctx, net, ref, { ...(flags.alias !== undefined ? { aliases: flags.alias } : {}) }));
    });
  network
    .command("disconnect")
    .description("Disconnect a container from a network (a running one at once)")
    .argument("<network>")
    .argument("<container>")
    .option("-f, --force", "force the container to disconnect from a network")
    .action(async (net: string, ref: string, _flags: { force?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const { disconnectContainer } = await import("../runtime/network/manage.js");
      await asDaemonError(() => disconnectContainer(ctx, net, ref));
    });
}
