import type { Command } from "commander";
import type { RuntimeContext } from "../../runtime/container/context.js";

/** What every container command starts from: the runtime over the store that --root names. */

export async function context(cmd: Command): Promise<RuntimeContext> {
  return contextForRoot((cmd.optsWithGlobals() as { root?: string }).root);
}

export async function contextForRoot(rootOption: string | undefined): Promise<RuntimeContext> {
  // store.js, not the store's index: the index also loads import/export and gc, which
  // container commands never use (start-up time of `berth run`)
  const [{ openStore }, { resolveStoreRoot }, { runtimeContext }] = await Promise.all([
    import("../../store/store.js"),
    import("../../store/root.js"),
    import("../../runtime/container/context.js"),
  ]);
  // absolute: records keep snapshot paths, and the detached supervisor runs in /
  const { resolve } = await import("node:path");
  return runtimeContext(await openStore(resolve(resolveStoreRoot(rootOption))));
}

/** Docker's multi-container commands go on after an error and exit 1 at the end. */
export async function forEachContainer(refs: string[], fn: (ref: string) => Promise<void>): Promise<void> {
  const { BerthError } = await import("../../errors.js");
  let failed = false;
  for (const ref of refs) {
    try {
      await fn(ref);
      process.stdout.write(`${ref}\n`);
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      process.stderr.write(`Error: ${err.message}\n`);
      failed = true;
    }
  }
  if (failed) process.exitCode = 1;
}
