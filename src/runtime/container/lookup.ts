import { RuntimeError } from "../errors.js";
import type { RuntimeContext } from "./context.js";
import { readRecord, withLiveState, type ContainerRecord } from "./record.js";

/** Every container's record with its state checked against the processes (newest first). */
export async function listContainers(ctx: RuntimeContext): Promise<Array<{ dir: string; record: ContainerRecord }>> {
  const out: Array<{ dir: string; record: ContainerRecord }> = [];
  for (const id of await ctx.store.listContainerIds()) {
    const dir = await ctx.store.containerDir(id);
    try {
      out.push({ dir, record: withLiveState(await readRecord(dir)) });
    } catch {
      // a container being created or removed right now has no complete record: skip it
    }
  }
  // ISO 8601 times sort as plain strings; localeCompare would load ICU's collator (start-up time of
  // every `berth run`, which lists containers to keep names unique)
  return out.sort((a, b) => (a.record.created < b.record.created ? 1 : a.record.created > b.record.created ? -1 : 0));
}

/**
 * Find a container by name, full ID or unique ID prefix, as Docker does; `No such container`
 * exits 1 like Docker's.
 */
export async function findContainer(ctx: RuntimeContext, ref: string): Promise<{ dir: string; record: ContainerRecord }> {
  const wanted = ref.startsWith("/") ? ref.slice(1) : ref;
  const ids = await ctx.store.listContainerIds();
  if (ids.includes(wanted)) {
    const dir = await ctx.store.containerDir(wanted);
    return { dir, record: withLiveState(await readRecord(dir)) };
  }
  const all = await listContainers(ctx);
  const byName = all.find((c) => c.record.name === wanted);
  if (byName !== undefined) return byName;
  const byPrefix = /^[0-9a-f]+$/.test(wanted) ? all.filter((c) => c.record.id.startsWith(wanted)) : [];
  if (byPrefix.length === 1 && byPrefix[0] !== undefined) return byPrefix[0];
  if (byPrefix.length > 1) throw new RuntimeError(`multiple containers found with provided prefix: ${ref}`, { exitCode: 1 });
  throw new RuntimeError(`No such container: ${ref}`, { exitCode: 1 });
}
