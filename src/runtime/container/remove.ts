import { existsSync } from "node:fs";
import { rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { RuntimeError } from "../errors.js";
import { isMounted, unmountOverlay } from "../overlay.js";
import { ROOTFS, type RuntimeContext } from "./context.js";
import { waitForExit } from "./lifecycle.js";
import { containerEvent } from "./events.js";
import { findContainer, listContainers } from "./lookup.js";
import { isAlive, type ContainerRecord } from "./record.js";
import { thawIfPaused } from "./pause.js";
import { cancelRestarts, isRestarting } from "./restart.js";

/**
 * `berth rm`: refuse a running container unless forced; forced, kill it and wait. Then clear
 * everything it holds: runc state, its rootfs mount, its snapshot, its anonymous volumes with
 * `volumes`, its directory. Works on what a SIGKILLed supervisor left behind.
 */
export async function removeContainer(ctx: RuntimeContext, ref: string, options: { force?: boolean; volumes?: boolean } = {}): Promise<string> {
  const { dir, record } = await findContainer(ctx, ref);
  return removeFound(ctx, dir, record, options);
}

/** removeContainer for a container already found (the --rm path of its own supervisor). */
export async function removeFound(ctx: RuntimeContext, dir: string, record: ContainerRecord, options: { force?: boolean; volumes?: boolean } = {}): Promise<string> {
  const id = record.id;
  if (isRestarting(record) && options.force !== true) {
    throw new RuntimeError(`You cannot remove a restarting container ${id}. Stop the container before attempting removal or force remove`, { container: id });
  }
  if (options.force === true) record = await cancelRestarts(dir, record);
  if (record.state === "running") {
    if (options.force !== true) {
      throw new RuntimeError(`You cannot remove a running container ${id}. Stop the container before attempting removal or force remove`, { container: id });
    }
    await ctx.runc.kill(id, "SIGKILL", true);
    await thawIfPaused(ctx, record);
    if ((await waitForExit(ctx, id, 10_000)) === undefined && record.pid !== undefined && isAlive(record.pid)) {
      process.kill(record.pid.pid, "SIGKILL");
    }
  }
  // runc state exists only if runc was killed mid-run (`runc run` deletes its own): spare a runc process otherwise
  if (existsSync(join(ctx.runc.stateRoot, id))) await ctx.runc.delete(id).catch(() => undefined);
  const rootfs = join(dir, ROOTFS);
  if (isMounted(rootfs)) await unmountOverlay(rootfs);
  // independent directories: removed side by side; the snapshot synchronously when it is
  // a --rm container's, whose rw layer is small more often than not and whose CLI or
  // supervisor has nothing else to do (see Store.removeSnapshot)
  await Promise.all([
    ctx.store.removeSnapshot(record.snapshot, { sync: record.hostConfig.autoRemove }).catch(() => undefined),
    ...(options.volumes === true ? record.hostConfig.volumes.filter((v) => v.anonymous).map((v) => ctx.store.removeVolume(v.name).catch(() => undefined)) : []),
    ctx.store.removeContainerDir(id),
    rm(`${rootfs}.empty`, { recursive: true, force: true }).catch(() => undefined),
  ]);
  // the store's run dir on tmpfs goes with its last container (runc and the port proxies make
  // it again when they need it); rmdir fails, harmlessly, while anything is left in it
  await rmdir(ctx.runc.stateRoot).then(() => rmdir(ctx.runDir)).catch(() => undefined);
  containerEvent(ctx, record, "destroy");
  return id;
}

/** `berth container prune`: remove every container that is not running; returns their IDs. */
export async function pruneContainers(ctx: RuntimeContext): Promise<string[]> {
  const removed: string[] = [];
  for (const { record } of await listContainers(ctx)) {
    if (record.state === "running") continue;
    removed.push(await removeContainer(ctx, record.id, { volumes: false }));
  }
  return removed;
}
