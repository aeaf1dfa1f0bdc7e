/**
 * Which bundle bin/berth starts a command from. scripts/bundle-cli.mjs makes main.cjs (the whole
 * CLI, src/cli/main.ts) and one bundle per entry here (src/cli/<name>-main.ts), which holds only
 * what its commands reach: `berth run` loads no builder or parser, `berth build` no container
 * CLI. A V8 code cache holds every function of its bundle's one scope, whether it runs or not,
 * so the time to load it follows the bundle's size. routes.json, written beside the bundles,
 * maps each command named here to its bundle.
 */

/** The top-level commands of the container family (./container/index.ts). */
export const CONTAINER_COMMANDS: readonly string[] = [
  "run", "create", "start", "attach", "ps", "logs", "exec", "stop", "restart", "kill", "pause", "unpause", "top", "stats", "update", "wait",
  "rm", "diff", "commit", "cp", "export", "rename", "port", "container", "volume",
];

/** The build family's (./build.ts). */
export const BUILD_COMMANDS: readonly string[] = ["build"];

/** The bundles besides main.cjs, by name, and the commands each starts. */
export const BUNDLE_ROUTES: Readonly<Record<string, readonly string[]>> = {
  container: CONTAINER_COMMANDS,
  build: BUILD_COMMANDS,
};
