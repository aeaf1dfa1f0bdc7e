import { join } from "node:path";

/**
 * Ctrl-C: runTransient kills the container it runs; a container that was starting when the
 * signal came (the abort landed between its mount and its runc run) is killed here, from the
 * build's own runc state dir. Returns the watch's end, to await before the state dir goes.
 */
export function watchAbort(signal: AbortSignal | undefined, stateDir: string, runtime: string | undefined): () => Promise<void> {
  if (signal === undefined) return async () => undefined;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let stopped = false;
  const sweep = async (): Promise<void> => {
    const { Runc } = await import("../runtime/runc.js");
    const runc = new Runc(join(stateDir, "runc"), runtime);
    for (const st of await runc.list().catch(() => [])) await runc.kill(st.id, "SIGKILL", true).catch(() => false);
  };
  const onAbort = () => {
    let n = 0;
    const tick = () => {
      if (stopped) return;
      inFlight = sweep().finally(() => {
        if (!stopped && ++n < 50) timer = setTimeout(tick, 200);
      });
    };
    tick();
  };
  signal.addEventListener("abort", onAbort, { once: true });
  return async () => {
    stopped = true;
    signal.removeEventListener("abort", onAbort);
    if (timer !== undefined) clearTimeout(timer);
    // a sweep still running would recreate the state dir (runc makes its root) after removal
    await inFlight?.catch(() => undefined);
  };
}
