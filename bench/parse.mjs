#!/usr/bin/env node
// Parser throughput: berth's parser against the npm packages dockerfile-ast and
// docker-file-parser, on the Dockerfiles of fixtures/dockerfiles/ (each file parsed on its own,
// the corpus repeated to a few MB per round), plus one 1 MB Dockerfile (many instructions).
// Runs on the compiled dist/ (npm run build). The machine may be shared: the best of several
// rounds is reported, with the load average. Each parser is measured in a process of its own,
// so that no parser pays for the garbage another one left behind.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DockerfileParser } from "dockerfile-ast";
import dockerFileParser from "docker-file-parser";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist/index.js");
if (!existsSync(dist)) {
  // `npm run bench` runs this script directly: build first when needed.
  const r = spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(1);
}
const { parse, parseInstructions } = await import(dist);

const corpusDir = join(root, "fixtures/dockerfiles");
const corpus = readdirSync(corpusDir)
  .filter((f) => !f.endsWith(".md"))
  .sort()
  .map((f) => readFileSync(join(corpusDir, f), "utf8"));
const corpusBytes = corpus.reduce((n, t) => n + Buffer.byteLength(t), 0);
const repeat = Math.max(1, Math.ceil(4_000_000 / corpusBytes));

const parsers = {
  "berth parse": (t) => parse(t),
  "berth parse+instructions": (t) => parseInstructions(t),
  "dockerfile-ast": (t) => DockerfileParser.parse(t),
  "docker-file-parser": (t) => dockerFileParser.parse(t, { includeComments: false }),
};

// Check once that every parser accepts the corpus (berth must: it is the corpus test too).
for (const text of corpus) parse(text);

function timeCorpus(fn) {
  const t0 = performance.now();
  for (let r = 0; r < repeat; r++) for (const text of corpus) fn(text);
  return performance.now() - t0;
}

function best(fn, rounds) {
  fn(); // warm-up
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < rounds; i++) min = Math.min(min, fn());
  return min;
}

// One large Dockerfile: corpus files without their parser directives, concatenated to 1 MB.
const pieces = corpus
  .filter((t) => !t.includes("`\n"))
  .map((t) => t.replace(/^(#[^\n]*\n)+/, "").replace(/\\\s*$/, ""));
let big = "";
while (big.length < 1_000_000) for (const p of pieces) big += `${p}\n`;
parse(big);

const mb = (corpusBytes * repeat) / 1e6;
console.log(`corpus: ${corpus.length} files, ${(corpusBytes / 1024).toFixed(1)} KB, repeated ${repeat}x = ${mb.toFixed(2)} MB per round`);
console.log(`node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
const only = process.argv[2] === "--one" ? process.argv[3] : undefined;
if (only !== undefined) {
  const fn = parsers[only];
  const corpusMs = best(() => timeCorpus(fn), 5);
  let bigMs = null;
  try {
    bigMs = best(() => {
      const t0 = performance.now();
      fn(big);
      return performance.now() - t0;
    }, only === "dockerfile-ast" ? 2 : 7);
  } catch {
    // a parser that rejects the concatenation is reported without a figure
  }
  process.stdout.write(JSON.stringify({ mbps: mb / (corpusMs / 1000), bigMs }));
  process.exit(0);
}

console.log("");
console.log(`${"parser".padEnd(28)}${"corpus MB/s".padStart(12)}${"1 MB file ms".padStart(14)}`);
const results = {};
for (const name of Object.keys(parsers)) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--one", name], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
  const { mbps, bigMs } = JSON.parse(r.stdout.trim().split("\n").at(-1)); // the header lines come first
  results[name] = mbps;
  console.log(`${name.padEnd(28)}${mbps.toFixed(1).padStart(12)}${(bigMs ?? Number.NaN).toFixed(1).padStart(14)}`);
}
console.log("");
console.log(`berth parse vs dockerfile-ast: ${(results["berth parse"] / results["dockerfile-ast"]).toFixed(1)}x`);
