#!/usr/bin/env node
// `npm run demo`: berth's main job on the example in fixtures/demo/.
// Stage 1 of the project: parse the example Dockerfile and print its syntax tree.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const berth = join(root, "bin", "berth");
const dockerfile = join(root, "fixtures", "demo", "Dockerfile");

function step(title, args) {
  console.log(`\n$ berth ${args.join(" ")}    # ${title}`);
  const r = spawnSync(process.execPath, [berth, ...args], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

step("the example Dockerfile as BuildKit's parser dumps it", ["parse", dockerfile]);
