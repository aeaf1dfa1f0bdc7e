import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { humanSize } from "./format.js";
import { confirm } from "./prompt.js";
import { storeFor } from "./store-port.js";

/** `berth builder prune`, as `docker builder prune` (the build cache: records, cache mounts). */
export function registerBuilderCommands(program: Command): void {
  const builder = program.command("builder").description("Manage builds");

  builder.command("prune")
    .description("Remove build cache (and the build network sandboxes kept between builds)")
    .option("-a, --all", "Remove all unused build cache, not just dangling ones")
    .option("--filter <filter>", "Provide filter values (e.g. until=24h)", (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option("-f, --force", "Do not prompt for confirmation")
    .option("--keep-storage <bytes>", "Amount of disk space to keep for cache (e.g. 512m, 10g)")
    .action(async (opts: { all?: boolean; filter?: string[]; force?: boolean; keepStorage?: string }, cmd: Command) => {
      const keepDurationMs = await untilFilter(opts.filter ?? []);
      const keepBytes = opts.keepStorage === undefined ? undefined : await storageFlag(opts.keepStorage);
      if (opts.force !== true) {
        // docker's two warnings (cli/command/builder/prune.go), answered on stdin like its prompt
        const warning = opts.all === true
          ? "WARNING! This will remove all build cache. Are you sure you want to continue?"
          : "WARNING! This will remove all dangling build cache. Are you sure you want to continue?";
        if (!(await confirm(warning))) {
          // docker's runPrune returns nothing reclaimed, which its caller prints
          process.stdout.write("Total reclaimed space: 0B\n");
          return;
        }
      }
      const { pruneBuildCache } = await import("../builder/prune.js");
      const store = await storeFor(cmd);
      const r = await pruneBuildCache(store, {
        ...(opts.all === true ? { all: true } : {}),
        ...(keepDurationMs !== undefined ? { keepDurationMs } : {}),
        ...(keepBytes !== undefined ? { keepBytes } : {}),
        onWait: () => process.stderr.write("waiting for running builds to finish…\n"),
      });
      // and the build network sandboxes no build is using (kept between builds, see sandbox-pool.ts)
      const { pruneSandboxes } = await import("../runtime/network/sandbox-pool.js");
      await pruneSandboxes();
      let out = "";
      if (r.deleted.length > 0) out = `Deleted build cache objects:\n${r.deleted.join("\n")}\n\n`;
      process.stdout.write(`${out}Total reclaimed space: ${humanSize(r.reclaimedBytes, 4)}\n`);
    });
}

/** `--filter until=<Go duration>` (the one filter berth's cache records can answer); ms. */
async function untilFilter(filters: string[]): Promise<number | undefined> {
  let keep: number | undefined;
  for (const f of filters) {
    const eq = f.indexOf("=");
    const key = eq < 0 ? f : f.slice(0, eq);
    const value = eq < 0 ? "" : f.slice(eq + 1);
    if (key !== "until") throw new UsageError(`invalid filter '${key}': berth builder prune supports until=<duration>`);
    const { parseGoDuration } = await import("../instructions/values.js");
    const ns = parseGoDuration(value);
    if (ns === undefined || ns < 0) throw new UsageError(`invalid filter 'until=${value}': want a duration such as 24h or 90m`);
    keep = ns / 1e6;
  }
  return keep;
}

/** `--keep-storage`: a size as docker's (binary units: 512m, 10g, 1.5gb, 1048576). */
async function storageFlag(value: string): Promise<number> {
  const { parseBytes } = await import("../runtime/container/parse-options.js");
  try {
    return parseBytes(value, "--keep-storage");
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

