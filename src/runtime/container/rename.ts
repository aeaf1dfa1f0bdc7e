import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { acquireFlock } from "../../sys/flock.js";
import { RuntimeError } from "../errors.js";
import { refreshNetworkHosts } from "../network/attach.js";
import { NETWORK_LOCK, type RuntimeContext } from "./context.js";
import { findContainer, listContainers } from "./lookup.js";
import { isValidName } from "./names.js";
import { readRecord, writeRecord } from "./record.js";
import { containerEvent } from "./events.js";

/**
 * `berth rename CONTAINER NEW_NAME`, as Docker's: the new name must be valid and free; a
 * running container on user networks is found by its new name at once (its address
 * reservations and the members' /etc/hosts follow). The record changes under the container's
 * network lock, which its supervisor also takes to record the exit, so neither write is lost.
 */
export async function renameContainer(ctx: RuntimeContext, ref: string, newName: string): Promise<void> {
  const name = newName.replace(/^\//, "");
  if (!isValidName(name)) throw new RuntimeError(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, { exitCode: 1 });
  const { dir, record: found } = await findContainer(ctx, ref);
  if (found.name === name) throw new RuntimeError(`Renaming a container with the same name as its current name`, { exitCode: 1 });
  const holder = (await listContainers(ctx)).find((c) => c.record.name === name);
  if (holder !== undefined) {
    throw new RuntimeError(`Error when allocating new name: Conflict. The container name "/${name}" is already in use by container "${holder.record.id}". You have to remove (or rename) that container to be able to reuse that name.`, { exitCode: 1 });
  }
  const lock = await acquireFlock(join(dir, NETWORK_LOCK));
  let endpoints;
  try {
    const record = await readRecord(dir);
    endpoints = record.endpoints ?? [];
    await writeRecord(dir, { ...record, name });
    containerEvent(ctx, { ...record, name }, "rename", { oldName: `/${record.name}` });
    for (const ep of endpoints) {
      try {
        const r = JSON.parse(readFileSync(ep.reservation, "utf8")) as { id: string; name: string };
        if (r.id === record.id) writeFileSync(ep.reservation, JSON.stringify({ ...r, name }));
      } catch {
        // released meanwhile
      }
    }
  } finally {
    await lock.release();
  }
  for (const ep of endpoints) {
    const ns = dirname(ep.nsPath);
    await refreshNetworkHosts(ctx.runDir, { name: ep.network }, { dir: ns, ipsDir: join(ns, "ips") }).catch(() => undefined);
  }
}
