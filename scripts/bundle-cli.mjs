#!/usr/bin/env node
// The CLI as an esbuild bundle (dist/bundle/): one file per entry plus lazily loaded chunks,
// instead of ~150 small ES modules, so `berth run` spends its start-up running code rather
// than resolving and reading modules. bin/berth prefers the bundle when it exists. Entries:
// the CLI, the detached container supervisor and the port proxy's inner half (both are
// started as their own node processes, found next to the chunk that starts them).
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "dist", "bundle");
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: {
    main: "src/cli/main.ts",
    "supervisor-main": "src/runtime/container/supervisor-main.ts",
    "proxy-inner": "src/runtime/container/proxy-inner.ts",
  },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // CommonJS dependencies (commander, tar-stream …) call require(): give the ESM bundle one
  banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);" },
  logLevel: "warning",
});
