#!/usr/bin/env node
// The CLI as esbuild bundles (dist/bundle/), part of `npm run build`:
// - main.cjs: the whole CLI in one CommonJS file, which bin/berth compiles with a V8 code cache
//   (node:vm cachedData), so a start-up reads one file and skips most parsing and compiling.
//   Node 20 has no compile cache for ES modules; ~150 small ES modules cost resolution, reads
//   and compiles on every `berth run`.
// - container.cjs, build.cjs: the container commands and `build` alone (src/cli/routes.ts),
//   each holding only what its commands reach; routes.json tells bin/berth which commands
//   start from which.
// - userns.cjs: what bin/berth loads first for an ordinary user, to run the command inside the
//   user's namespace (src/sys/userns.ts), without compiling the whole CLI twice.
// - supervisor-main.js and proxy-inner.js: the detached container supervisor and the port
//   proxy's inner half, started as their own node processes and found next to main.cjs.
import { build } from "esbuild";
import { rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "dist", "bundle");
// (tsc's output: `npm run build` runs tsc first)
const { BUNDLE_ROUTES } = await import(join(root, "dist", "cli", "routes.js"));
rmSync(outdir, { recursive: true, force: true });

const common = {
  absWorkingDir: root,
  outdir,
  bundle: true,
  platform: "node",
  target: "node20",
  // smaller text to parse at every start; identifiers kept (error classes name themselves)
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
};

await build({
  ...common,
  entryPoints: { main: "src/cli/main.ts", ...Object.fromEntries(Object.keys(BUNDLE_ROUTES).map((b) => [b, `src/cli/${b}-main.ts`])), userns: "src/sys/userns.ts" },
  outExtension: { ".js": ".cjs" },
  format: "cjs",
  // import() of node builtins becomes require(): a vm.Script has no module loader
  supported: { "dynamic-import": false },
  define: { "import.meta.url": "__berthModuleUrl" },
  banner: { js: "const __berthModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});

await build({
  ...common,
  entryPoints: {
    "supervisor-main": "src/runtime/container/supervisor-main.ts",
    "proxy-inner": "src/runtime/container/proxy-inner.ts",
  },
  format: "esm",
  // CommonJS dependencies call require(): give the ES module bundle one
  banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);" },
});

// command → the bundle bin/berth starts it from (main.cjs when not named here)
writeFileSync(join(outdir, "routes.json"), JSON.stringify(Object.fromEntries(Object.entries(BUNDLE_ROUTES).flatMap(([b, commands]) => commands.map((c) => [c, b])))) + "\n");
