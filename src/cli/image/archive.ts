import { createReadStream } from "node:fs";
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { recordEvent } from "../../store/events.js";
import { collect, platformsFlag } from "../flags.js";
import { storeFor } from "../store-port.js";

/** Images in and out of tar archives: import (a root file system), load and save (Docker's image archives). */

/**
 * Archives are read a megabyte at a time: with the default 64 KB, a 500 MB load spent ~0.3 s
 * of main-thread time in 8,000 reads and their stream plumbing (CPU 2.3 s → 1.8 s measured).
 */
const READ_CHUNK = 1 << 20;

async function importAction(file: string, ref: string | undefined, opts: { change: string[]; message?: string; platform?: string }, cmd: Command): Promise<void> {
  const { importRootfs } = await import("../../image/archive-load.js");
  const store = await storeFor(cmd);
  if (/^[a-z]+:\/\//.test(file)) throw new UsageError(`importing from a URL is not supported: ${file} (download it and import the file)`);
  const platform = opts.platform ? (await import("../../image/platform.js")).parsePlatform(opts.platform) : undefined;
  // the created time of a reproducible image, as builds take it
  const epochText = process.env.SOURCE_DATE_EPOCH;
  if (epochText !== undefined && epochText !== "" && !/^\d+$/.test(epochText)) throw new UsageError(`invalid SOURCE_DATE_EPOCH ${JSON.stringify(epochText)}: want seconds since 1970`);
  const input = file === "-" ? process.stdin : createReadStream(file, { highWaterMark: READ_CHUNK });
  const image = await importRootfs(store, input, {
    ...(epochText ? { sourceDateEpoch: Number(epochText) } : {}),
    source: file,
    changes: opts.change,
    ...(opts.message !== undefined ? { message: opts.message } : {}),
    ...(ref !== undefined ? { tag: ref } : {}),
    ...(platform ? { platform } : {}),
  });
  recordEvent(store.root, "image", "import", image.id, { name: image.id });
  process.stdout.write(`${image.id}\n`);
}

async function loadAction(opts: { input?: string; quiet?: boolean; platform?: string }, cmd: Command): Promise<void> {
  const { loadArchive } = await import("../../image/archive-load.js");
  const platforms = await platformsFlag(opts.platform);
  const store = await storeFor(cmd);
  if (!opts.input && process.stdin.isTTY) throw new UsageError("requested load from stdin, but stdin is empty (use -i FILE or redirect)");
  const source = opts.input ?? "stdin";
  const input = opts.input ? createReadStream(opts.input, { highWaterMark: READ_CHUNK }) : process.stdin;
  const res = await loadArchive(store, input, source, platforms);
  for (const img of res.loaded) recordEvent(store.root, "image", "load", img.id, { name: img.id });
  if (opts.quiet) return;
  for (const img of res.loaded) {
    if (img.tags.length === 0) process.stdout.write(`Loaded image ID: ${img.id}\n`);
    for (const t of img.tags) process.stdout.write(`Loaded image: ${t}\n`);
  }
}

async function saveAction(names: string[], opts: { output?: string; platform?: string }, cmd: Command): Promise<void> {
  const { saveImages, saveImagesToFile } = await import("../../image/archive-save.js");
  const platforms = await platformsFlag(opts.platform);
  const store = await storeFor(cmd);
  if (!opts.output && process.stdout.isTTY) throw new UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect");
  const ids = opts.output ? await saveImagesToFile(store, names, opts.output, platforms) : await saveImages(store, names, process.stdout, platforms);
  // Docker's save event: one per image saved, the image ID as actor and name
  for (const id of ids) recordEvent(store.root, "image", "save", id, { name: id });
}

export function addImport(g: Command, name = "import"): void {
  g.command(name)
    .description("Import the contents from a tarball to create a filesystem image")
    .argument("<file>", "tarball path, or - for standard input")
    .argument("[reference]", "REPOSITORY[:TAG]")
    .option("-c, --change <instruction>", "apply a Dockerfile instruction to the created image", collect, [])
    .option("-m, --message <message>", "set a commit message for the imported image")
    .option("--platform <os/arch[/variant]>", "set the platform of the imported image")
    .action(importAction);
}
export function addLoad(g: Command, name = "load"): void {
  g.command(name)
    .description("Load an image from a tar archive or STDIN")
    .option("-i, --input <file>", "read from tar archive file, instead of STDIN")
    .option("-q, --quiet", "suppress the load output")
    .option("--platform <os/arch[/variant],…>", "load only the given platform(s) of a multi-platform image")
    .action(loadAction);
}
export function addSave(g: Command, name = "save"): void {
  g.command(name)
    .description("Save one or more images to a tar archive (streamed to STDOUT by default)")
    .argument("<image...>")
    .option("-o, --output <file>", "write to a file, instead of STDOUT")
    .option("--platform <os/arch[/variant],…>", "save only the given platform(s) of a multi-platform image")
    .action(saveAction);
}
