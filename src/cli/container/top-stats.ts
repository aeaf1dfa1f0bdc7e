import type { RuntimeContext } from "../../runtime/container/context.js";
import type { ContainerRecord } from "../../runtime/container/record.js";
import type { StatsEntry, StatsSample } from "../../runtime/container/stats.js";
import type { Command } from "commander";
import { bytesSize, formatRows, humanSize, table } from "../format.js";
import { context } from "./context.js";

/** `top` and `stats`: a running container's processes, and their resource usage. */

/** Docker's default `stats` table (cli/command/container/formatter_stats.go). */
const DEFAULT_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

const HEADERS: Record<string, string> = {
  Container: "CONTAINER",
  ID: "CONTAINER ID",
  Name: "NAME",
  CPUPerc: "CPU %",
  MemUsage: "MEM USAGE / LIMIT",
  MemPerc: "MEM %",
  NetIO: "NET I/O",
  BlockIO: "BLOCK I/O",
  PIDs: "PIDS",
};

/** How often the live view redraws, as Docker's stats collector samples. */
const INTERVAL_MS = 1000;

export interface StatsFlags {
  all?: boolean;
  stream?: boolean;
  format?: string;
  trunc?: boolean;
}

/** The fields a `--format` template sees, with Docker's spelling of each value. */
export function statsRow(e: StatsEntry, given: string, noTrunc: boolean): Record<string, string> {
  return {
    Container: given,
    ID: noTrunc ? e.id : e.id.slice(0, 12),
    Name: e.name,
    CPUPerc: `${e.cpuPercent.toFixed(2)}%`,
    MemUsage: `${bytesSize(e.memoryUsage)} / ${bytesSize(e.memoryLimit)}`,
    MemPerc: `${e.memoryPercent.toFixed(2)}%`,
    NetIO: `${humanSize(e.netRx, 3)} / ${humanSize(e.netTx, 3)}`,
    BlockIO: `${humanSize(e.blockRead, 3)} / ${humanSize(e.blockWrite, 3)}`,
    PIDs: String(e.pids),
  };
}

/** One frame of output: the header (table formats) and a row per container. */
export function renderStats(format: string | undefined, rows: Array<Record<string, string>>): string {
  return formatRows(format === undefined || format === "" || format === "table" ? DEFAULT_FORMAT : format, rows, HEADERS);
}

/**
 * `berth stats`: a row per container from its cgroup; live, redrawn every second until Ctrl-C,
 * or one frame with --no-stream (two samples a moment apart, for CPU %). Without names: the
 * running containers (all with --all), picked up anew on each frame as Docker's.
 */
export async function runStats(ctx: RuntimeContext, refs: string[], flags: StatsFlags): Promise<void> {
  const { findContainer, listContainers } = await import("../../runtime/container/lookup.js");
  const { sampleContainer, statsEntry } = await import("../../runtime/container/stats.js");
  const { readRecord, withLiveState } = await import("../../runtime/container/record.js");
  // named containers are resolved once, up front: an unknown name is an error before any output
  const named: Array<{ given: string; dir: string }> = [];
  for (const ref of refs) named.push({ given: ref, dir: (await findContainer(ctx, ref)).dir });
  const current = async (): Promise<Array<{ given: string; record: ContainerRecord }>> => {
    if (named.length > 0) {
      const out: Array<{ given: string; record: ContainerRecord }> = [];
      for (const n of named) {
        try {
          out.push({ given: n.given, record: withLiveState(await readRecord(n.dir)) });
        } catch {
          // removed since: it leaves the view
        }
      }
      return out;
    }
    return (await listContainers(ctx)).map((c) => c.record).filter((r) => flags.all === true || r.state === "running").map((r) => ({ given: r.id.slice(0, 12), record: r }));
  };
  const previous = new Map<string, StatsSample>();
  const frame = async (): Promise<string> => {
    const rows: Array<Record<string, string>> = [];
    for (const { given, record } of await current()) {
      const sample = sampleContainer(record);
      rows.push(statsRow(statsEntry(record, previous.get(record.id), sample), given, flags.trunc === false));
      if (sample !== undefined) previous.set(record.id, sample);
      else previous.delete(record.id);
    }
    return renderStats(flags.format, rows);
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  if (flags.stream === false) {
    for (const { record } of await current()) {
      const s = sampleContainer(record);
      if (s !== undefined) previous.set(record.id, s);
    }
    await sleep(INTERVAL_MS);
    process.stdout.write(await frame());
    return;
  }
  for (;;) {
    const text = await frame();
    // clear the screen and home the cursor, as Docker's CLI redraws
    process.stdout.write(`\x1b[2J\x1b[H${text}`);
    await sleep(INTERVAL_MS);
  }
}

export function registerTopStatsCommands(program: Command): void {
  program
    .command("top")
    .description("Display the running processes of a container (ps -ef, or the ps options given)")
    .argument("<container>")
    .argument("[ps-options...]", "options for ps")
    .passThroughOptions()
    .allowUnknownOption()
    .action(async (ref: string, psArgs: string[], _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { topContainer } = await import("../../runtime/container/top.js");
      const top = await topContainer(ctx, ref, psArgs);
      process.stdout.write(table(top.titles, top.processes));
    });

  program
    .command("stats")
    .description("Display a live stream of container resource usage statistics")
    .option("-a, --all", "show all containers (default shows just running)")
    .option("--no-stream", "print one frame and exit instead of streaming")
    .option("--no-trunc", "do not truncate output")
    .option("--format <format>", "table (the default), or a template such as {{.Name}} {{.CPUPerc}}")
    .argument("[containers...]")
    .action(async (refs: string[], flags: { all?: boolean; stream?: boolean; trunc?: boolean; format?: string }, cmd: Command) => {
      const ctx = await context(cmd);
      await runStats(ctx, refs, flags);
    });
}
