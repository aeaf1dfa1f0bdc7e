import type { Command } from "commander";
import { BerthError } from "../errors.js";
import { humanSize, table } from "./format.js";
import { storeFor } from "./store-port.js";

/** `berth system df`, `system check [--repair]` and `system binfmt [--install]`. */
export function registerSystemCommands(program: Command): void {
  const system = program.command("system").description("Manage berth");

  system.command("df")
    .description("Show berth disk usage")
    .option("--format <format>", "table, json (one JSON object per line), or a Go template such as {{.Type}} {{.Size}}")
    .action(async (opts: { format?: string }, cmd: Command) => {
      const { diskUsage } = await import("../store/usage.js");
      const store = await storeFor(cmd);
      const { buildCacheUsage } = await import("../builder/prune.js");
      const [u, cache] = await Promise.all([diskUsage(store), buildCacheUsage(store)]);
      // what only the runtime knows: which containers run, which volumes they hold
      const { runtimeContext } = await import("../runtime/container/context.js");
      const { listContainers } = await import("../runtime/container/lookup.js");
      const { withLiveState } = await import("../runtime/container/record.js");
      const containers = (await listContainers(runtimeContext(store))).map((c) => ({ ...c, record: withLiveState(c.record) }));
      const running = containers.filter((c) => c.record.state === "running");
      const { dirSize } = await import("../store/usage.js");
      const runningSize = (await Promise.all(running.map((c) => dirSize(c.dir)))).reduce((a, b) => a + b, 0);
      const volumes = await store.listVolumes();
      const used = new Set(containers.flatMap((c) => (c.record.hostConfig?.volumes ?? []).map((v) => v.name)));
      const volumeSizes = await Promise.all(volumes.map((v) => dirSize(v.Mountpoint)));
      const volumeSize = volumeSizes.reduce((a, b) => a + b, 0);
      const unusedVolumeSize = volumes.reduce((a, v, i) => a + (used.has(v.Name) ? 0 : (volumeSizes[i] ?? 0)), 0);
      const pct = (part: number, whole: number): string => (whole === 0 ? "" : ` (${Math.round((part / whole) * 100)}%)`);
      const rows = [
        { Type: "Images", TotalCount: u.images.total, Active: u.images.active, Size: humanSize(u.images.size), Reclaimable: `${humanSize(u.images.reclaimable)}${pct(u.images.reclaimable, u.images.size)}` },
        { Type: "Containers", TotalCount: u.containers.total, Active: running.length, Size: humanSize(u.containers.size), Reclaimable: `${humanSize(u.containers.size - runningSize)}${pct(u.containers.size - runningSize, u.containers.size)}` },
        { Type: "Local Volumes", TotalCount: volumes.length, Active: volumes.filter((v) => used.has(v.Name)).length, Size: humanSize(volumeSize), Reclaimable: `${humanSize(unusedVolumeSize)}${pct(unusedVolumeSize, volumeSize)}` },
        // step records with layers no image uses, and cache mounts: what builder prune -a frees
        { Type: "Build Cache", TotalCount: cache.count, Active: 0, Size: humanSize(cache.bytes), Reclaimable: humanSize(cache.bytes) },
      ];
      if (opts.format !== undefined && opts.format !== "" && opts.format !== "table") {
        const { formatRows } = await import("./format.js");
        const view = rows.map((r) => ({ ...r, TotalCount: String(r.TotalCount), Active: String(r.Active) }));
        process.stdout.write(formatRows(opts.format, view, { Type: "TYPE", TotalCount: "TOTAL", Active: "ACTIVE", Size: "SIZE", Reclaimable: "RECLAIMABLE" }));
        return;
      }
      process.stdout.write(table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows.map((r) => [r.Type, String(r.TotalCount), String(r.Active), r.Size, r.Reclaimable])));
    });

  system.command("prune")
    .description("Remove unused data: stopped containers, unused networks, dangling images (-a: unused ones), build cache (--volumes: anonymous volumes)")
    .option("-a, --all", "Remove all unused images not just dangling ones")
    .option("--volumes", "Prune anonymous volumes")
    .option("-f, --force", "Do not prompt for confirmation")
    .action(async (opts: { all?: boolean; volumes?: boolean; force?: boolean }, cmd: Command) => {
      // Docker's question (cli/command/system/prune.go), item by item
      const items = [
        "all stopped containers",
        "all networks not used by at least one container",
        ...(opts.volumes === true ? ["all anonymous volumes not used by at least one container"] : []),
        opts.all === true ? "all images without at least one container associated to them" : "all dangling images",
        opts.all === true ? "all build cache" : "unused build cache",
      ];
      const { confirm } = await import("./prompt.js");
      if (opts.force !== true && !(await confirm(`WARNING! This will remove:\n${items.map((i) => `  - ${i}\n`).join("")}\nAre you sure you want to continue?`))) return;
      const store = await storeFor(cmd);
      const { runtimeContext } = await import("../runtime/container/context.js");
      const ctx = runtimeContext(store);
      const { pruneContainers } = await import("../runtime/container/remove.js");
      const { pruneNetworks } = await import("../runtime/network/manage.js");
      const { pruneVolumes } = await import("../runtime/container/volumes.js");
      const { pruneImages } = await import("../store/index.js");
      const { pruneBuildCache } = await import("../builder/prune.js");
      let out = "";
      let reclaimed = 0;
      const containers = await pruneContainers(ctx);
      if (containers.length > 0) out += `Deleted Containers:\n${containers.map((c) => `${c}\n`).join("")}\n`;
      const networks = await pruneNetworks(ctx);
      if (networks.length > 0) out += `Deleted Networks:\n${networks.map((n) => `${n}\n`).join("")}\n`;
      if (opts.volumes === true) {
        const v = await pruneVolumes(ctx);
        reclaimed += v.bytes;
        if (v.removed.length > 0) out += `Deleted Volumes:\n${v.removed.map((n) => `${n}\n`).join("")}\n`;
      }
      const images = await pruneImages(store, opts.all === true ? { all: true } : {});
      reclaimed += images.reclaimedBytes;
      if (images.deleted.length > 0 || images.untagged.length > 0) {
        out += `Deleted Images:\n${images.untagged.map((t) => `untagged: ${t}\n`).join("")}${images.deleted.map((d) => `deleted: ${d}\n`).join("")}\n`;
      }
      const cache = await pruneBuildCache(store, opts.all === true ? { all: true } : {});
      reclaimed += cache.reclaimedBytes;
      if (cache.deleted.length > 0) out += `Deleted build cache objects:\n${cache.deleted.join("\n")}\n\n`;
      process.stdout.write(`${out}Total reclaimed space: ${humanSize(reclaimed)}\n`);
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

  system.command("reset-userns")
    .description("Rootless: end the user namespace berth's commands share (podman's system migrate), after a change to /etc/subuid or /etc/subgid; the next command starts a new one")
    .option("-f, --force", "even with containers running (they lose their root file systems)")
    .action(async (opts: { force?: boolean }, cmd: Command) => {
      const { isRootless } = await import("../sys/host-uid.js");
      const { BerthError } = await import("../errors.js");
      if (!isRootless()) throw new BerthError("system reset-userns: berth runs as root here, without a user namespace of its own (only an ordinary user's berth has one)");
      if (opts.force !== true) {
        const store = await storeFor(cmd);
        const { runtimeContext } = await import("../runtime/container/context.js");
        const { listContainers } = await import("../runtime/container/lookup.js");
        const { withLiveState } = await import("../runtime/container/record.js");
        const running = (await listContainers(runtimeContext(store))).filter((c) => withLiveState(c.record).state === "running");
        if (running.length > 0) throw new BerthError(`system reset-userns: ${running.length} container(s) running (${running.map((c) => c.record.name).join(", ")}): their mounts live in the namespace; stop them first, or use --force`);
      }
      const { stopUserNamespace } = await import("../sys/userns.js");
      const pid = await stopUserNamespace();
      process.stdout.write(pid === undefined ? "no user namespace was running\n" : `user namespace ended (holder pid ${pid})\n`);
    });

  system.command("binfmt")
    .description("Show the platforms this machine runs (natively or through QEMU); --install registers Debian's qemu-user-static emulators")
    .option("--install", "register Debian's QEMU handlers with binfmt_misc, with the F flag (as tonistiigi/binfmt)")
    .action(async (opts: { install?: boolean }) => {
      const { installEmulators, supportedPlatforms } = await import("../runtime/emulation.js");
      const installed = opts.install === true ? await installEmulators() : [];
      if (installed.length > 0) process.stderr.write(`installing: ${installed.join(", ")} OK\n`);
      process.stdout.write(`${JSON.stringify({ supported: supportedPlatforms() }, null, 2)}\n`);
    });
}
