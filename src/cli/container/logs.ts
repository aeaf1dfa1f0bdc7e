import type { Command } from "commander";
import { context } from "./context.js";

/** `logs`: a container's output, as its supervisor recorded it. */

export function registerLogsCommand(program: Command): void {
  program
    .command("logs")
    .description("Fetch the logs of a container")
    .option("-f, --follow", "follow log output")
    .option("-n, --tail <n>", "number of lines to show from the end", "all")
    .option("-t, --timestamps", "show timestamps")
    .argument("<container>")
    .action(async (ref: string, flags: { follow?: boolean; tail: string; timestamps?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const { findContainer } = await import("../../runtime/container/lookup.js");
      const { readLog, followLog, LOG_FILE } = await import("../../runtime/container/logs.js");
      const { readRecord, withLiveState } = await import("../../runtime/container/record.js");
      const { RuntimeError } = await import("../../runtime/errors.js");
      const { join } = await import("node:path");
      const { dir } = await findContainer(ctx, ref);
      let tail: number | undefined;
      if (flags.tail !== "all") {
        if (!/^[0-9]+$/.test(flags.tail)) throw new RuntimeError(`invalid value "${flags.tail}" for --tail: a number or all`);
        tail = Number(flags.tail);
      }
      const path = join(dir, LOG_FILE);
      const emit = (e: { log: string; stream: "stdout" | "stderr"; time: string }) => {
        const text = flags.timestamps === true ? `${e.time} ${e.log}` : e.log;
        (e.stream === "stdout" ? process.stdout : process.stderr).write(text);
      };
      const { entries, offset } = await readLog(path, tail);
      entries.forEach(emit);
      if (flags.follow === true) {
        await followLog(path, offset, async () => withLiveState(await readRecord(dir)).state !== "running", emit);
      }
    });
}
