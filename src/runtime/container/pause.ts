import { RuntimeError } from "../errors.js";
import { containerCgroup, isFrozen } from "./cgroup.js";
import type { RuntimeContext } from "./context.js";
import { containerEvent } from "./events.js";
import { findContainer } from "./lookup.js";
import type { ContainerRecord } from "./record.js";
import { isRestarting } from "./restart.js";

/**
 * `berth pause` / `unpause`: runc freezes the container's cgroup (v1 freezer or cgroup v2's
 * cgroup.freeze). Nothing is recorded: the freezer itself says whether a container is paused,
 * so a container stays "paused" exactly as long as its processes are frozen.
 */
export function isPaused(record: ContainerRecord): boolean {
  return record.state === "running" && isFrozen(containerCgroup(record.id));
}

/** The state Docker shows: "paused" for a running container that is frozen, "restarting" between two runs of its restart policy. */
export function displayState(record: ContainerRecord): string {
  return isPaused(record) ? "paused" : isRestarting(record) ? "restarting" : record.state;
}

export async function pauseContainer(ctx: RuntimeContext, ref: string): Promise<ContainerRecord> {
  const { record } = await findContainer(ctx, ref);
  if (record.state !== "running") throw new RuntimeError(`Container ${record.id} is not running`, { exitCode: 1, container: record.id });
  if (isPaused(record)) throw new RuntimeError(`Container ${record.id} is already paused`, { exitCode: 1, container: record.id });
  await ctx.runc.freeze(record.id, true);
  containerEvent(ctx, record, "pause");
  return record;
}

export async function unpauseContainer(ctx: RuntimeContext, ref: string): Promise<ContainerRecord> {
  const { record } = await findContainer(ctx, ref);
  if (!isPaused(record)) throw new RuntimeError(`Container ${record.id} is not paused`, { exitCode: 1, container: record.id });
  await ctx.runc.freeze(record.id, false);
  containerEvent(ctx, record, "unpause");
  return record;
}

/**
 * Thaw a frozen container after a signal was sent to it, as Docker does on stop and kill: a
 * frozen process cannot act on a signal (not even SIGKILL on cgroup v1) until it is thawed.
 */
export async function thawIfPaused(ctx: RuntimeContext, record: ContainerRecord): Promise<void> {
  if (isPaused(record)) await ctx.runc.freeze(record.id, false).catch(() => undefined);
}
