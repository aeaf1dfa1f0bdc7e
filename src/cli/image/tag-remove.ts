import type { Command } from "commander";
import { confirm } from "../prompt.js";
import { recordEvent } from "../../store/events.js";
import { platformsFlag } from "../flags.js";
import { humanSize } from "../format.js";
import { type CliStore, storeFor } from "../store-port.js";

/** Names and removal: tag, rmi (image rm), image prune. */

async function tagAction(source: string, target: string, _opts: unknown, cmd: Command): Promise<void> {
  // Docker's CLI parses the target before it asks for anything, and exits 1 with its wording
  const { InvalidReferenceError, normalizeTag } = await import("../../image/reference.js");
  try {
    normalizeTag(target);
  } catch (err) {
    if (!(err instanceof InvalidReferenceError)) throw err;
    const { BerthError } = await import("../../errors.js");
    throw new BerthError(`Error parsing reference: ${JSON.stringify(target)} is not a valid repository/tag: invalid reference format: ${err.reason}`, { exitCode: 1 });
  }
  const store: CliStore = await storeFor(cmd);
  const id = await store.resolveImageId(source);
  // a multi-platform image's tag tags the index (Docker's containerd store), not one platform
  const index = await store.imageIndex(source);
  if (index !== undefined) await store.addImageIndex(index.bytes, [target]);
  else await store.tag(target, id);
  recordEvent(store.root, "image", "tag", id, { name: target });
}

async function rmiAction(names: string[], opts: { force?: boolean; platform?: string }, cmd: Command): Promise<void> {
  const { removeImage } = await import("../../store/index.js");
  const { platforms } = await platformsFlag(opts.platform);
  const store = await storeFor(cmd);
  let failed = false;
  for (const n of names) {
    try {
      const id = await store.resolveImageId(n).catch(() => undefined);
      const r = await removeImage(store, n, { ...(opts.force ? { force: true } : {}), ...(platforms !== undefined ? { platforms } : {}) });
      if (id !== undefined) for (const _ of r.untagged) recordEvent(store.root, "image", "untag", id, { name: id });
      for (const d of r.deleted) recordEvent(store.root, "image", "delete", d, { name: d });
      for (const t of r.untagged) process.stdout.write(`Untagged: ${t}\n`);
      for (const d of r.deleted) process.stdout.write(`Deleted: ${d}\n`);
    } catch (err) {
      // like Docker: report each failure, go on with the others, exit non-zero at the end
      process.stderr.write(`Error: ${(err as Error).message}\n`);
      failed = true;
    }
  }
  if (failed) process.exitCode = 1;
}

async function pruneAction(opts: { all?: boolean; force?: boolean }, cmd: Command): Promise<void> {
  const { pruneImages } = await import("../../store/index.js");
  if (opts.force !== true) {
    const warning = opts.all
      ? "WARNING! This will remove all images without at least one container associated to them."
      : "WARNING! This will remove all dangling images.";
    if (!(await confirm(`${warning}\nAre you sure you want to continue?`))) {
      process.stdout.write("Total reclaimed space: 0B\n");
      return;
    }
  }
  const store = await storeFor(cmd);
  const r = await pruneImages(store, opts.all ? { all: true } : {});
  if (r.deleted.length > 0 || r.untagged.length > 0) {
    process.stdout.write("Deleted Images:\n");
    for (const t of r.untagged) process.stdout.write(`untagged: ${t}\n`);
    for (const d of r.deleted) process.stdout.write(`deleted: ${d}\n`);
    process.stdout.write("\n");
  }
  process.stdout.write(`Total reclaimed space: ${humanSize(r.reclaimedBytes)}\n`);
}

export function addTag(g: Command, name = "tag"): void {
  g.command(name)
    .description("Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    .argument("<source>", "SOURCE_IMAGE[:TAG]")
    .argument("<target>", "TARGET_IMAGE[:TAG]")
    .action(tagAction);
}
export function addRmi(g: Command, name: string, alias?: string): void {
  const c = g.command(name)
    .description("Remove one or more images")
    .argument("<image...>")
    .option("-f, --force", "force removal of the image")
    .option("--platform <os/arch[/variant],…>", "remove only these platforms' images of a multi-platform image (with --force)")
    .action(rmiAction);
  if (alias) c.alias(alias);
}
export function addImagePrune(image: Command): void {
  image.command("prune")
    .description("Remove unused images")
    .option("-a, --all", "remove all unused images, not just dangling ones")
    .option("-f, --force", "do not prompt for confirmation")
    .action(pruneAction);
}
