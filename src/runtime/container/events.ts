import { recordEvent } from "../../store/events.js";
import type { RuntimeContext } from "./context.js";
import type { ContainerRecord } from "./record.js";

/**
 * A container event in the store's log, with Docker's attributes: the container's labels,
 * the image as the user named it, its name, and what the action adds (exitCode, signal …).
 */
export function containerEvent(ctx: RuntimeContext, record: Pick<ContainerRecord, "id" | "name" | "image" | "config">, action: string, extra: Record<string, string> = {}): void {
  recordEvent(ctx.store.root, "container", action, record.id, { ...record.config.labels, image: record.image, name: record.name, ...extra });
}
