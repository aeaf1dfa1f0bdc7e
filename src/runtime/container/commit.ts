import { spawn } from "node:child_process";
import { RuntimeError } from "../errors.js";
import { applyChanges, ChangeError } from "../../image/changes.js";
import type { ContainerConfig, HistoryEntry, ImageConfig } from "../../image/types.js";
import type { RuntimeContext } from "./context.js";
import { containerEvent } from "./events.js";
import { findContainer } from "./lookup.js";
import { isPaused } from "./pause.js";
import { isRootless } from "../../sys/host-uid.js";
import type { RuntimeImageRecord } from "./store-port.js";

export interface CommitOptions {
  /** repository[:tag] to tag the new image with */
  ref?: string;
  message?: string;
  author?: string;
  /** -c/--change: Dockerfile instructions applied to the new image's config (as `import -c`) */
  changes?: string[];
  /** pause a running container while its changes are copied (Docker's default) */
  pause?: boolean;
}

/**
 * `berth commit`: the container's changes become one new layer on top of its image; the
 * image config takes the container's command, env, user and workdir (as `docker commit`
 * does) and gains a history entry.
 */
export async function commitContainer(ctx: RuntimeContext, ref: string, options: CommitOptions = {}): Promise<RuntimeImageRecord> {
  const { record } = await findContainer(ctx, ref);
  const image = await ctx.store.resolveImage(record.imageId);
  const base = image.config;
  // the changes are checked before anything is copied: a bad one leaves nothing behind
  let runConfig: ContainerConfig;
  try {
    runConfig = applyChanges(
      {
        ...(base.config ?? {}),
        Env: record.config.env,
        Cmd: record.config.cmd,
        Entrypoint: record.config.entrypoint.length > 0 ? record.config.entrypoint : null,
        WorkingDir: record.config.cwd === "/" ? (base.config?.WorkingDir ?? "") : record.config.cwd,
        User: record.config.user,
        Labels: record.config.labels,
      },
      options.changes ?? [],
    );
  } catch (err) {
    if (err instanceof ChangeError) throw new RuntimeError(err.message, { exitCode: 1, container: record.id });
    throw err;
  }
  // the store turns a snapshot's upper dir into the layer (it moves it): commit a copy, so
  // the container keeps its own rw layer and can go on running; paused meanwhile, as Docker's
  // commit pauses it, so that the copy is consistent. Rootless berth's containers have no cgroup
  // to freeze (runtime/rootless.ts): committed running, as podman's commit does by default
  const pause = options.pause !== false && !isRootless() && record.state === "running" && !isPaused(record);
  if (pause) await ctx.runc.freeze(record.id, true);
  const copy = await ctx.store.prepareSnapshot(image.layers.map((l) => l.diffId));
  let layer;
  try {
    await copyTree(record.snapshot.upperDir, copy.upperDir);
    layer = await ctx.store.commitSnapshot(copy);
  } catch (err) {
    await ctx.store.removeSnapshot(copy).catch(() => undefined);
    throw err;
  } finally {
    if (pause) await ctx.runc.freeze(record.id, false);
  }
  const now = new Date().toISOString();
  const history: HistoryEntry = { created: now, created_by: record.config.args.join(" ") };
  if (options.message !== undefined) history.comment = options.message;
  if (options.author !== undefined) history.author = options.author;
  const { comment: _baseComment, ...inherited } = base;
  const config: ImageConfig = {
    ...inherited,
    created: now,
    // the image's Comment is the commit message, as Docker's (not the base image's)
    ...(options.message !== undefined ? { comment: options.message } : {}),
    ...(options.author !== undefined ? { author: options.author } : {}),
    config: runConfig,
    rootfs: { type: "layers", diff_ids: [...base.rootfs.diff_ids, layer.diffId] },
    history: [...(base.history ?? []), history],
  };
  const created = await ctx.store.createImage(config, options.ref !== undefined ? { tags: [options.ref] } : {});
  // Docker's commit event: the container as the actor, the new image and its reference as given
  containerEvent(ctx, record, "commit", { comment: options.message ?? "", imageID: created.id, imageRef: options.ref ?? "" });
  return created;
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
