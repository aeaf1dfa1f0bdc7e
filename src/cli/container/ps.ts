import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { collect } from "../flags.js";
import { attachedNetworks, UNBRIDGED_MODES, type ContainerRecord } from "../../runtime/container/record.js";
import { context } from "./context.js";

/** `ps` (container ls): Docker's columns, filters and formats. */

/** docker/cli's container formatter column titles, for `ps --format "table …"`. */
const PS_TITLES: Record<string, string> = {
  ID: "CONTAINER ID", Image: "IMAGE", Command: "COMMAND", CreatedAt: "CREATED AT", RunningFor: "CREATED", Status: "STATUS",
  State: "STATE", Ports: "PORTS", Names: "NAMES", ExitCode: "EXIT CODE", Size: "SIZE", Labels: "LABELS", Mounts: "MOUNTS",
  LocalVolumes: "LOCAL VOLUMES", Networks: "NETWORKS",
};

/** docker/cli's ContainerContext Labels, Mounts (names, 15 characters unless --no-trunc), LocalVolumes and Networks, as strings. */
function listedParts(r: ContainerRecord, trunc: boolean): { Labels: string; Mounts: string; LocalVolumes: string; Networks: string } {
  const ellipsis = (name: string) => (trunc && name.length > 15 ? `${name.slice(0, 14)}…` : name);
  const mode = r.hostConfig.network;
  const networks = UNBRIDGED_MODES.includes(mode) ? [mode === "none" ? "none" : "host"] : attachedNetworks(r.hostConfig).map((n) => n.name);
  return {
    Labels: Object.entries(r.config.labels).map(([k, v]) => `${k}=${v}`).sort().join(","),
    Mounts: [...r.hostConfig.volumes.map((v) => v.name), ...r.hostConfig.binds.flatMap((b) => (b.type === "bind" ? [b.source] : []))].map(ellipsis).join(","),
    LocalVolumes: String(r.hostConfig.volumes.length),
    Networks: networks.sort().join(","),
  };
}

function shortCommand(args: string[]): string {
  const text = args.join(" ");
  return `"${text.length > 20 ? `${text.slice(0, 19)}…` : text}"`;
}

export function registerPsCommand(program: Command): void {
  program
    .command("ps")
    .description("List containers")
    .option("-a, --all", "show all containers (default shows just running)")
    .option("-q, --quiet", "only display container IDs")
    .option("--no-trunc", "do not truncate output")
    .option("-f, --filter <filter>", "filter: status=, name=, ancestor=, id= (repeatable)", collect)
    .option("--format <format>", "table, json, or a template such as {{.Names}}")
    .option("-n, --last <n>", "show n last created containers (includes all states)")
    .option("-l, --latest", "show the latest created container (includes all states)")
    .option("-s, --size", "display total file sizes")
    .action(async (flags: { all?: boolean; quiet?: boolean; trunc?: boolean; filter?: string[]; format?: string; last?: string; latest?: boolean; size?: boolean }, cmd: Command) => {
      const last = flags.latest === true ? 1 : flags.last === undefined ? undefined : Number(flags.last);
      if (last !== undefined && (!Number.isInteger(last) || last < -1)) throw new UsageError(`invalid argument "${flags.last}" for "-n, --last" flag: want a number`);
      // -n and -l look at every container, as -a does (-n -1 is Docker's "no limit")
      if (last !== undefined && last !== -1) flags.all = true;
      const ctx = await context(cmd);
      const { listContainers } = await import("../../runtime/container/lookup.js");
      const { formatPort } = await import("../../runtime/container/ports.js");
      const { RuntimeError } = await import("../../runtime/errors.js");
      const { humanDuration, table, dockerTime, formatRows } = await import("../format.js");
      const { displayState } = await import("../../runtime/container/pause.js");
      let list = (await listContainers(ctx)).map((c) => c.record);
      const filters = flags.filter ?? [];
      // a restarting container counts as running, as Docker's
      if (!flags.all && !filters.some((f) => f.startsWith("status="))) list = list.filter((r) => r.state === "running" || displayState(r) === "restarting");
      for (const f of filters) {
        const eq = f.indexOf("=");
        const key = f.slice(0, eq);
        const value = f.slice(eq + 1);
        if (key === "status") list = list.filter((r) => displayState(r) === value);
        else if (key === "name") list = list.filter((r) => r.name.includes(value));
        else if (key === "id") list = list.filter((r) => r.id.startsWith(value));
        else if (key === "ancestor") {
          list = list.filter((r) => r.image === value || r.image === `${value}:latest` || `${r.image}:latest` === value || r.imageId === value || r.imageId.replace("sha256:", "").startsWith(value.replace("sha256:", "")));
        } else throw new RuntimeError(`invalid filter '${f}': berth filters by status=, name=, ancestor=, id=`);
      }
      // newest first already: the n last created
      if (last !== undefined && last >= 0) list = list.slice(0, last);
      const now = Date.now();
      const status = (r: (typeof list)[number]) => {
        if (r.state === "running") return `Up ${humanDuration(now - Date.parse(r.startedAt ?? r.created))}${displayState(r) === "paused" ? " (Paused)" : ""}`;
        if (displayState(r) === "restarting") return `Restarting (${r.exitCode ?? 0}) ${humanDuration(now - Date.parse(r.finishedAt ?? r.created))} ago`;
        if (r.state === "exited") return `Exited (${r.exitCode ?? 0}) ${humanDuration(now - Date.parse(r.finishedAt ?? r.created))} ago`;
        return "Created";
      };
      const id = (r: (typeof list)[number]) => (flags.trunc === false ? r.id : r.id.slice(0, 12));
      if (flags.quiet === true) {
        process.stdout.write(list.map((r) => `${id(r)}\n`).join(""));
        return;
      }
      // -s (or a format that asks for {{.Size}}, as docker/cli's): the container's own writes
      // (its rw layer), and with the image's layers ("virtual")
      const sizes = new Map<string, string>();
      if (flags.size === true || (flags.format !== undefined && flags.format.includes(".Size"))) {
        const { dirSize } = await import("../../store/usage.js");
        const { humanSize } = await import("../format.js");
        for (const r of list) {
          const rw = await dirSize(r.snapshot.upperDir);
          const image = await ctx.store.resolveImage(r.imageId).then((img) => img.layers.reduce((a, l) => a + (l.contentSize ?? l.size), 0), () => 0);
          sizes.set(r.id, `${humanSize(rw)} (virtual ${humanSize(rw + image)})`);
        }
      }
      if (flags.format !== undefined && flags.format !== "table") {
        // `json` is one object per line, as Docker's; otherwise a Go template ({{.Names}}), or `table …`
        const rows = list.map((r) => ({
          ID: id(r),
          Image: r.image,
          Command: shortCommand(r.config.args),
          CreatedAt: dockerTime(r.created),
          RunningFor: humanDuration(now - Date.parse(r.created)),
          Status: status(r),
          State: displayState(r),
          Ports: r.state === "running" ? r.hostConfig.ports.map(formatPort).join(", ") : "",
          Names: r.name,
          ExitCode: r.exitCode,
          ...listedParts(r, flags.trunc !== false),
          Size: sizes.get(r.id) ?? "",
        }));
        process.stdout.write(formatRows(flags.format, rows, PS_TITLES));
        return;
      }
      process.stdout.write(
        table(
          ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES", ...(flags.size === true ? ["SIZE"] : [])],
          list.map((r) => [
            id(r),
            r.image,
            flags.trunc === false ? `"${r.config.args.join(" ")}"` : shortCommand(r.config.args),
            `${humanDuration(now - Date.parse(r.created))} ago`,
            status(r),
            r.state === "running" ? r.hostConfig.ports.map(formatPort).join(", ") : "",
            r.name,
            ...(flags.size === true ? [sizes.get(r.id) ?? ""] : []),
          ]),
        ),
      );
    });
}
