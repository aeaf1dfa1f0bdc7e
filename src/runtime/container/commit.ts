import { spawn } from "node:child_process";
import { RuntimeError } from "../errors.js";
import type { HistoryEntry, ImageConfig } from "../../image/types.js";
import type { RuntimeContext } from "./context.js";
import { findContainer } from "./lookup.js";
import type { RuntimeImageRecord } from "./store-port.js";

export interface CommitOptions {
  /** repository[:tag] to tag the new image with */
  ref?: string;
  message?: string;
  author?: string;
}

/**
 * `berth commit`: the container's changes become one new layer on top of its image; the
 * image config takes the container's command, env, user and workdir (as `docker commit`
 * does) and gains a history entry.
 */
export async function commitContainer(ctx: RuntimeContext, ref: string, options: CommitOptions = {}): Promise<RuntimeImageRecord> {
  const { record } = await findContainer(ctx, ref);
  const image = await ctx.store.resolveImage(record.imageId);
  // the store turns a snapshot's upper dir into the layer (it moves it): commit a copy, so
  // the container keeps its own rw layer and can go on running
  const copy = await ctx.store.prepareSnapshot(image.layers.map((l) => l.diffId));
  let layer;
  try {
    await copyTree(record.snapshot.upperDir, copy.upperDir);
    layer = await ctx.store.commitSnapshot(copy);
  } catch (err) {
    await ctx.store.removeSnapshot(copy).catch(() => undefined);
    throw err;
  }
  const now = new Date().toISOString();
  const history: HistoryEntry = { created: now, created_by: record.config.args.join(" ") };
  if (options.message !== undefined) history.comment = options.message;
  if (options.author !== undefined) history.author = options.author;
  const base = image.config;
  const config: ImageConfig = {
    ...base,
    created: now,
    ...(options.author !== undefined ? { author: options.author } : {}),
    config: {
      ...(base.config ?? {}),
      Env: record.config.env,
      Cmd: record.config.cmd,
      Entrypoint: record.config.entrypoint.length > 0 ? record.config.entrypoint : null,
      WorkingDir: record.config.cwd === "/" ? (base.config?.WorkingDir ?? "") : record.config.cwd,
      User: record.config.user,
      Labels: record.config.labels,
    },
    rootfs: { type: "layers", diff_ids: [...base.rootfs.diff_ids, layer.diffId] },
    history: [...(base.history ?? []), history],
  };
  return ctx.store.createImage(config, options.ref !== undefined ? { tags: [options.ref] } : {});
}

/** cp -a keeps what a layer needs: owners, modes, xattrs (opaque dirs), whiteout devices, hard links. */
function copyTree(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const cp = spawn("cp", ["-a", "--", `${from}/.`, to], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    cp.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    cp.once("error", reject);
    cp.once("close", (code) => (code === 0 ? resolve() : reject(new RuntimeError(`copying the container's changes failed: ${err.trim()}`))));
  });
}
