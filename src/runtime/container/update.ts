import { existsSync } from "node:fs";
import { RuntimeError } from "../errors.js";
import type { ResourceLimits } from "../spec.js";
import type { RuntimeContext } from "./context.js";
import { containerEvent } from "./events.js";
import { findContainer } from "./lookup.js";
import { readRecord, writeRecord, type ContainerRecord, type RestartPolicy } from "./record.js";

/** The limits `berth update` changes; an absent field is left as it is. */
export type ResourceUpdate = Partial<Record<keyof ResourceLimits, number>>;

/**
 * `berth update`: new limits into the record (so `inspect` and the next start see them) and,
 * for a running or paused container, into its cgroup through `runc update`. Memory carries its
 * swap with it, twice the memory where swap is accounted, as berth's spec sets it at start.
 * A new restart policy is the record's: whoever holds the container reads it at the next exit.
 */
export async function updateContainer(ctx: RuntimeContext, ref: string, update: ResourceUpdate, restartPolicy?: RestartPolicy): Promise<ContainerRecord> {
  const { dir, record } = await findContainer(ctx, ref);
  // Docker's daemon (container.UpdateContainer), before anything changes
  if (restartPolicy !== undefined && restartPolicy.name !== "no" && record.hostConfig.autoRemove) {
    throw new RuntimeError(`Cannot update container ${record.id}: Restart policy cannot be updated because AutoRemove is enabled for the container`, { exitCode: 1, container: record.id });
  }
  if (record.state === "running" && Object.keys(update).length > 0) {
    const flags: string[] = [];
    if (update.memory !== undefined) {
      flags.push("--memory", String(update.memory));
      if (existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")) flags.push("--memory-swap", String(update.memory * 2));
    }
    if (update.cpus !== undefined) flags.push("--cpu-period", "100000", "--cpu-quota", String(Math.round(update.cpus * 100_000)));
    if (update.pidsLimit !== undefined) flags.push("--pids-limit", String(update.pidsLimit > 0 ? update.pidsLimit : -1));
    try {
      await ctx.runc.update(record.id, flags);
    } catch (err) {
      const detail = err instanceof Error ? err.message.replace(/^runc update \S+ failed: /, "") : String(err);
      throw new RuntimeError(`Cannot update container ${record.id}: ${detail}`, { exitCode: 1, container: record.id });
    }
  }
  // re-read: the container may have been started or stopped meanwhile, keep its newest record
  const fresh = await readRecord(dir);
  const resources: ResourceLimits = { ...fresh.hostConfig.resources };
  if (update.memory !== undefined) resources.memory = update.memory;
  if (update.cpus !== undefined) resources.cpus = update.cpus;
  if (update.pidsLimit !== undefined) {
    if (update.pidsLimit > 0) resources.pidsLimit = update.pidsLimit;
    else delete resources.pidsLimit;
  }
  const updated = { ...fresh, hostConfig: { ...fresh.hostConfig, resources, ...(restartPolicy !== undefined ? { restartPolicy } : {}) } };
  await writeRecord(dir, updated);
  containerEvent(ctx, updated, "update");
  return updated;
}
