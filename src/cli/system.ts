import type { Command } from "commander";
import { BerthError } from "../errors.js";
import { humanSize, table } from "./format.js";
import { storeFor } from "./images.js";

/** `berth system df` and `berth system check [--repair]`. */
export function registerSystemCommands(program: Command): void {
  const system = program.command("system").description("Manage berth");

  system.command("df")
    .description("Show berth disk usage")
    .option("--format <format>", "json for one JSON object per line")
    .action(async (opts: { format?: string }, cmd: Command) => {
      const { diskUsage } = await import("../store/usage.js");
      const store = await storeFor(cmd);
      const { buildCacheUsage } = await import("../builder/prune.js");
      const [u, cache] = await Promise.all([diskUsage(store), buildCacheUsage(store)]);
      const pct = (part: number, whole: number): string => (whole === 0 ? "" : ` (${Math.round((part / whole) * 100)}%)`);
      const rows = [
        { Type: "Images", TotalCount: u.images.total, Active: u.images.active, Size: humanSize(u.images.size), Reclaimable: `${humanSize(u.images.reclaimable)}${pct(u.images.reclaimable, u.images.size)}` },
        { Type: "Containers", TotalCount: u.containers.total, Active: u.containers.active, Size: humanSize(u.containers.size), Reclaimable: humanSize(u.containers.reclaimable) },
        { Type: "Local Volumes", TotalCount: 0, Active: 0, Size: "0B", Reclaimable: "0B" },
        // step records with layers no image uses, and cache mounts: what builder prune -a frees
        { Type: "Build Cache", TotalCount: cache.count, Active: 0, Size: humanSize(cache.bytes), Reclaimable: humanSize(cache.bytes) },
      ];
      if (opts.format === "json") {
        for (const r of rows) process.stdout.write(`${JSON.stringify({ ...r, TotalCount: String(r.TotalCount), Active: String(r.Active) })}\n`);
        return;
      }
      process.stdout.write(table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows.map((r) => [r.Type, String(r.TotalCount), String(r.Active), r.Size, r.Reclaimable])));
    });

  system.command("check")
    .description("Verify every blob digest, record and reference in the store; --repair removes what is broken or orphaned")
    .option("--repair", "remove broken and orphaned content")
    .option("--format <format>", "json for a JSON report")
    .action(async (opts: { repair?: boolean; format?: string }, cmd: Command) => {
      const { checkStore } = await import("../store/index.js");
      const store = await storeFor(cmd);
      const report = await checkStore(store, opts.repair ? { repair: true } : {});
      if (opts.format === "json") {
        process.stdout.write(`${JSON.stringify(report)}\n`);
      } else {
        for (const p of report.problems) process.stdout.write(`${p.repaired ? "repaired" : "problem"}: ${p.kind}: ${p.path}: ${p.message}\n`);
        const c = report.checked;
        process.stdout.write(`checked ${c.blobs} blobs, ${c.layers} layers, ${c.images} images, ${c.tags} tags in ${store.root}: ${report.problems.length === 0 ? "no problems" : `${report.problems.length} problem(s)`}${report.problems.some((p) => !p.repaired) ? " (run with --repair to remove them)" : ""}\n`);
      }
      if (report.problems.some((p) => !p.repaired)) throw new BerthError("store check found problems", { exitCode: 1 });
    });
}
