import { defineConfig } from "vitest/config";
import { testRunRoot } from "./test/run-root.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // takes down what the run's networks and build sandboxes keep between commands (see the file)
    globalSetup: ["test/global-setup.ts"],
    pool: "forks",
    // runtime state (runc state, networks, build sandboxes) in a run root of this run's own,
    // taken down by the global teardown
    env: { BERTH_RUN_ROOT: testRunRoot() },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
