/** The run root of this test run (vitest's main process): vitest.config.ts gives it to the tests as $BERTH_RUN_ROOT. */
export function testRunRoot(pid: number = process.pid): string {
  return `/run/berth-test-${pid}`;
}
