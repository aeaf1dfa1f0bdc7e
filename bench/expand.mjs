// Word expansion throughput (src/shell): the planner expands every ENV, ARG, LABEL, COPY,
// WORKDIR … word once per build, so this must stay far below parse time.
// Run after `npm run build`: `npm run bench:expand`.
import { expandWord, expandWords } from "../dist/shell/index.js";

const env = new Map([
  ["GO_VERSION", "1.22"],
  ["PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  ["HOME", "/root"],
  ["APP", "/opt/app"],
  ["VERSION", "v1.2.3"],
  ["TARGETARCH", "amd64"],
]);
const shortWords = [
  "golang:${GO_VERSION}-bookworm",
  "$APP/bin:$PATH",
  "plain-word-without-variables",
  "tool-${VERSION#v}-linux-${TARGETARCH}.tar.gz",
  `"quoted \${HOME}" and 'single $quoted'`,
  "${CONFIG:-$APP/etc/app.conf}",
];
const longWord =
  "apt-get update && apt-get install -y --no-install-recommends ca-certificates curl git make gcc ${PKGS:-} && rm -rf /var/lib/apt/lists/* ".repeat(8);

function measure(label, words, fn, seconds = 1) {
  const bytes = words.reduce((sum, w) => sum + Buffer.byteLength(w), 0);
  let rounds = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < seconds * 1000) {
    for (let i = 0; i < 100; i++) for (const w of words) fn(w, env);
    rounds += 100;
    elapsed = performance.now() - start;
  }
  const perWordUs = (elapsed * 1000) / (rounds * words.length);
  const mbps = (bytes * rounds) / 1e6 / (elapsed / 1000);
  console.log(`${label.padEnd(34)} ${perWordUs.toFixed(2).padStart(7)} µs/word  ${mbps.toFixed(1).padStart(6)} MB/s`);
}

measure("expandWord, short words", shortWords, expandWord);
measure("expandWords, short words", shortWords, expandWords);
measure(`expandWord, ${longWord.length}-char RUN line`, [longWord], expandWord);
