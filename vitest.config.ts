import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // takes down what throw-away stores' networks keep between commands (see the file)
    globalSetup: ["test/global-setup.ts"],
    pool: "forks",
    // the builds' network sandboxes kept between builds: a pool of this run's own, taken down
    // by the global teardown
    env: { BERTH_SANDBOX_POOL: `/run/berth/sandbox-test-${process.pid}` },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
