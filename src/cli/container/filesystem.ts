import type { Command } from "commander";
import { BerthError, UsageError } from "../../errors.js";
import { collect } from "../flags.js";
import { context } from "./context.js";

/** A container's file system: diff, commit (to an image), cp, export. */

export function registerFilesystemCommands(program: Command): void {
  program
    .command("diff")
    .description("Inspect changes to files or directories on a container's file system")
    .argument("<container>")
    .action(async (ref: string, _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { containerChanges } = await import("../../runtime/container/changes.js");
      process.stdout.write((await containerChanges(ctx, ref)).map((c) => `${c.kind} ${c.path}\n`).join(""));
    });

  program
    .command("commit")
    .description("Create a new image from a container's changes")
    .option("-m, --message <text>", "commit message")
    .option("-a, --author <name>", "author")
    .option("-c, --change <instruction>", "apply a Dockerfile instruction to the created image: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR (repeatable)", collect, [])
    // Go's bool flag forms (-p, --pause=false); commander gives an optional value the next word, so
    // `-p CONTAINER` arrives as the flag's value and is taken back as the first argument
    .option("-p, --pause [bool]", "pause the container during the commit (default true; --pause=false to keep it running)")
    .argument("[container]")
    .argument("[ref]", "repository[:tag]")
    .action(async (first: string | undefined, second: string | undefined, flags: { message?: string; author?: string; change: string[]; pause?: string | boolean }, cmd: Command) => {
      const pauseWord = typeof flags.pause === "string" ? flags.pause.replace(/^=/, "") : undefined;
      const isBool = pauseWord === undefined || /^(true|false|1|0|t|f)$/i.test(pauseWord);
      const [ref, imageRef, extra] = [...(isBool ? [] : [pauseWord]), first, second].filter((a): a is string => a !== undefined);
      if (ref === undefined || extra !== undefined) throw new UsageError('"commit" requires at least 1 and at most 2 arguments.');
      const ctx = await context(cmd);
      const { commitContainer } = await import("../../runtime/container/commit.js");
      const image = await commitContainer(ctx, ref, {
        changes: flags.change,
        pause: !isBool || pauseWord === undefined || /^(true|1|t)$/i.test(pauseWord),
        ...(imageRef !== undefined ? { ref: imageRef } : {}),
        ...(flags.message !== undefined ? { message: flags.message } : {}),
        ...(flags.author !== undefined ? { author: flags.author } : {}),
      });
      process.stdout.write(`${image.id}\n`);
    });

  program
    .command("cp")
    .description("Copy files between a container and the host (CONTAINER:SRC DEST|- or SRC|- CONTAINER:DEST); `-` is a tar stream on stdout or stdin")
    .option("-L, --follow-link", "always follow a symbolic link named by SRC")
    .argument("<src>")
    .argument("<dest>")
    .action(async (src: string, dest: string, flags: { followLink?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const { copyFiles } = await import("../../runtime/container/copy.js");
      await copyFiles(ctx, src, dest, { followLink: flags.followLink === true });
    });

  program
    .command("export")
    .description("Export a container's filesystem as a tar archive")
    .option("-o, --output <file>", "write to a file, instead of STDOUT")
    .argument("<container>")
    .action(async (ref: string, flags: { output?: string }, cmd: Command) => {
      if (flags.output === undefined && process.stdout.isTTY) throw new BerthError("cowardly refusing to save to a terminal. Use the -o flag or redirect", { exitCode: 1 });
      const ctx = await context(cmd);
      const { exportContainer } = await import("../../runtime/container/copy.js");
      if (flags.output === undefined) return exportContainer(ctx, ref, process.stdout);
      // as docker/cli's atomic writer: the file appears whole, or not at all
      const { createWriteStream } = await import("node:fs");
      const { rename, rm } = await import("node:fs/promises");
      const tmp = `${flags.output}.berth-tmp-${process.pid}`;
      try {
        await exportContainer(ctx, ref, createWriteStream(tmp, { mode: 0o600 }));
        await rename(tmp, flags.output);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    });
}
