import { createHash } from "node:crypto";
import type { Digest } from "../image/digest.js";
import type { HistoryEntry, ImageConfig } from "../image/types.js";
import type { BuilderStore } from "./store-port.js";
import type { ImageRecord, ImageSource } from "../store/types.js";
import { formatTime } from "./history.js";
import { cloneConfig, containerConfig, type StageState } from "./stage-state.js";

/**
 * The image of the target stage: its config with the history this build added (times filled
 * as BuildKit's exporter), Docker's field order (so digests are stable), stored and tagged.
 */
export async function createImage(
  store: BuilderStore,
  state: StageState,
  o: { tags: readonly string[]; epoch: number | undefined; labels: Record<string, string> | undefined; startedAt: number; dockerfile: string },
): Promise<ImageRecord> {
  const tags = [...o.tags];
  const config: ImageConfig = cloneConfig(state.config);
  const added = state.newHistory;
  const epochTime = o.epoch !== undefined ? formatTime(new Date(o.epoch * 1000)) : undefined;
  const history: HistoryEntry[] = [...(config.history ?? [])];
  const source: ImageSource = { dockerfile: o.dockerfile, lines: [...history.map(() => null), ...added.map((h) => h.lines ?? null)] };
  for (const h of added) history.push(epochTime !== undefined ? { created: epochTime, ...h.entry } : h.layerCreated !== undefined ? { created: h.layerCreated, ...h.entry } : { ...h.entry });
  fillHistoryTimes(history);
  // Docker's field order, so configs look (and hash) the same whatever order times were filled in.
  for (let i = 0; i < history.length; i++) {
    const h = history[i] as HistoryEntry;
    history[i] = {
      ...(h.created !== undefined ? { created: h.created } : {}),
      ...(h.created_by !== undefined ? { created_by: h.created_by } : {}),
      ...(h.author !== undefined ? { author: h.author } : {}),
      ...(h.comment !== undefined ? { comment: h.comment } : {}),
      ...(h.empty_layer === true ? { empty_layer: true } : {}),
    };
  }
  const fallback = epochTime ?? state.baseCreated ?? formatTime(new Date(o.startedAt));
  config.history = history;
  config.rootfs = { type: "layers", diff_ids: state.layers.map((l) => l.diffId) };
  const created = epochTime ?? [...history].reverse().find((h) => h.created !== undefined)?.created ?? fallback;
  config.created = created;
  const cc = containerConfig({ ...state, config });
  if (o.labels !== undefined && Object.keys(o.labels).length > 0) cc.Labels = { ...(cc.Labels ?? {}), ...o.labels };
  // Docker's field order (its Go struct), OnBuild written as null when empty, as docker build does.
  const order = ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal", "ArgsEscaped", "Healthcheck", "OnBuild", "Shell"] as const;
  if (cc.OnBuild === undefined || (cc.OnBuild !== null && cc.OnBuild.length === 0)) cc.OnBuild = null;
  const orderedCc: Record<string, unknown> = {};
  for (const k of order) if (cc[k] !== undefined) orderedCc[k] = cc[k];
  for (const [k, v] of Object.entries(cc)) if (!(k in orderedCc) && v !== undefined) orderedCc[k] = v;
  // Field order as Docker writes configs, so digests are stable across berth versions.
  const ordered: ImageConfig = {
    ...(config.author !== undefined ? { author: config.author } : {}),
    architecture: config.architecture,
    ...(config.variant !== undefined ? { variant: config.variant } : {}),
    config: orderedCc,
    created: config.created,
    history: config.history,
    os: config.os,
    rootfs: config.rootfs,
  } as ImageConfig;
  // A no-op rebuild makes the same config: skip rewriting (and fsyncing) blobs it already has.
  const bytes = Buffer.from(JSON.stringify(ordered));
  const id = `sha256:${createHash("sha256").update(bytes).digest("hex")}` as Digest;
  if (await store.imageExists(id)) {
    for (const t of tags) await store.tag(t, id);
    await store.recordImageSource(id, source);
    return store.imageById(id);
  }
  return store.addImage(bytes, { tags, source });
}

/**
 * BuildKit's exporter (normalizeLayersAndHistory): history items without a time take the first
 * new layer's time when they come before it, else the time of the layer before them; so a
 * no-op rebuild (layer times from the cache) gives the same image ID.
 */
export function fillHistoryTimes(history: HistoryEntry[]): void {
  let created: string | undefined;
  let gap = false;
  for (const h of history) {
    if (h.created !== undefined) {
      created = h.created;
      if (gap) break;
    } else gap = true;
  }
  gap = false;
  for (const h of history) {
    if (h.created !== undefined) {
      if (gap) created = h.created;
    } else {
      gap = true;
      if (created !== undefined) h.created = created;
    }
  }
}
