/** Phase timings on stderr with BERTH_TRACE=1 (for the run benchmark): ms since process start. */
const enabled = process.env.BERTH_TRACE === "1";

export function trace(label: string): void {
  if (enabled) process.stderr.write(`[trace] ${performance.now().toFixed(1)} ms ${label}\n`);
}
