import type { Command } from "commander";
import { ellipsis, formatRows, humanSize, since, table } from "../format.js";
import { type CliStore, storeFor } from "../store-port.js";
import { short } from "./list.js";

/** `history`: an image's steps, newest first. */

async function historyAction(name: string, opts: { noTrunc?: boolean; quiet?: boolean; format?: string; human?: boolean }, cmd: Command): Promise<void> {
  const store: CliStore = await storeFor(cmd);
  const image = await store.resolveImage(name);
  const history = image.config.history ?? [];
  const rows: { id: string; created?: string; createdBy: string; size: number; comment: string }[] = [];
  let layer = image.layers.length - 1;
  // newest first; only the top entry carries the image ID (Docker prints <missing> for the rest)
  for (let i = history.length - 1; i >= 0; i--) {
    const h = history[i]!;
    // Docker's history size is the layer's content size (its files), not its tar's
    const size = h.empty_layer ? 0 : (image.layers[layer--]?.contentSize ?? 0);
    rows.push({ id: i === history.length - 1 ? image.id : "<missing>", ...(h.created ? { created: h.created } : {}), createdBy: h.created_by ?? "", size, comment: h.comment ?? "" });
  }
  const idOf = (d: string): string => (d === "<missing>" || opts.noTrunc ? d : short(d));
  if (opts.quiet) {
    process.stdout.write(rows.map((r) => `${idOf(r.id)}\n`).join(""));
    return;
  }
  const human = opts.human !== false;
  if (opts.format && opts.format !== "table") {
    const objs = rows.map((r) => ({ Comment: r.comment, CreatedAt: r.created ?? "", CreatedBy: r.createdBy, CreatedSince: since(r.created), ID: idOf(r.id), Size: human ? humanSize(r.size) : String(r.size) }));
    process.stdout.write(formatRows(opts.format, objs, { Comment: "COMMENT", CreatedAt: "CREATED AT", CreatedBy: "CREATED BY", CreatedSince: "CREATED", ID: "IMAGE", Size: "SIZE" }));
    return;
  }
  process.stdout.write(table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], rows.map((r) => [
    idOf(r.id), human ? since(r.created) : (r.created ?? ""), opts.noTrunc ? r.createdBy : ellipsis(r.createdBy, 45),
    human ? humanSize(r.size) : String(r.size), r.comment,
  ])));
}

export function addHistory(g: Command, name = "history"): void {
  g.command(name)
    .description("Show the history of an image")
    .argument("<image>")
    // Go's bool flag forms: -H=false (commander hands the short form its value with the "=")
    .option("-H, --human [bool]", "print sizes and dates in human readable format (-H=false for raw ones)", (v) => !/^=?(false|0|f)$/i.test(v), true)
    .option("--no-trunc", "don't truncate output")
    .option("-q, --quiet", "only show image IDs")
    .option("--format <format>", "format output using a Go-like template, or json")
    .action((name: string, opts: { trunc?: boolean; quiet?: boolean; format?: string; human?: boolean }, cmd: Command) =>
      historyAction(name, { ...opts, noTrunc: opts.trunc === false }, cmd));
}
