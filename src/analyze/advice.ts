import type { ImageAnalysis, LayerAnalysis } from "./analysis.js";

export type AdviceKind = "removed-later" | "overwritten" | "rewritten-metadata" | "duplicate" | "cache-left" | "context";

/** One thing to change, tied to the Dockerfile lines that did it. */
export interface Advice {
  kind: AdviceKind;
  /** The bytes the change saves. */
  bytes: number;
  message: string;
  /** The layers involved: the one that added the bytes first. */
  layers: number[];
  /** Their Dockerfile lines, where the build recorded them. */
  lines: ([number, number] | null)[];
  /** The biggest files concerned. */
  files: string[];
}

/** Package managers' caches: what they are called and how to keep them out of a layer. */
const CACHES: readonly { prefix: string; label: string; removeLater: string; left: string }[] = [
  { prefix: "/var/lib/apt/lists/", label: "`apt-get` lists", removeLater: "remove them in the same RUN (`apt-get update && apt-get install … && rm -rf /var/lib/apt/lists/*`)", left: "end that RUN with `&& rm -rf /var/lib/apt/lists/*`" },
  { prefix: "/var/cache/apt/", label: "the `apt` package cache", removeLater: "clean it in the same RUN (`&& apt-get clean`)", left: "end that RUN with `&& apt-get clean`" },
  { prefix: "/var/cache/apk/", label: "the `apk` cache", removeLater: "use `apk add --no-cache` in that RUN", left: "use `apk add --no-cache`" },
  { prefix: "/root/.cache/pip/", label: "the `pip` cache", removeLater: "use `pip install --no-cache-dir` in that RUN", left: "use `pip install --no-cache-dir`" },
  { prefix: "/root/.npm/", label: "the `npm` cache", removeLater: "clean it in the same RUN (`&& npm cache clean --force`)", left: "end that RUN with `&& npm cache clean --force`, or use `RUN --mount=type=cache,target=/root/.npm`" },
];

/** What `.dockerignore` usually keeps out of a build context. */
const IGNORABLE_DIRS = new Set([".git", "node_modules", "__pycache__", ".venv", ".tox", ".pytest_cache", ".mypy_cache", ".idea", ".vscode", "coverage", ".cache", ".terraform"]);
const IGNORABLE_SUFFIXES = [".log", ".tmp", ".swp", ".pyc", ".DS_Store"];

/** Advice below this many bytes is left out. */
const MIN_BYTES = 1024;

function cacheOf(path: string): (typeof CACHES)[number] | undefined {
  return CACHES.find((c) => path.startsWith(c.prefix));
}

/** `line 4`, `lines 4-6`, else the layer and its instruction. */
export function whereOf(layer: LayerAnalysis): string {
  if (layer.lines !== undefined) return layer.lines[0] === layer.lines[1] ? `line ${layer.lines[0]}` : `lines ${layer.lines[0]}-${layer.lines[1]}`;
  const cmd = layer.command.replace(/\s+# buildkit$/, "");
  return `layer ${layer.index} (\`${cmd.length > 50 ? cmd.slice(0, 49) + "…" : cmd}\`)`;
}

function size(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${parseFloat(v.toPrecision(3))} ${units[i]}`;
}
export { size as formatBytes };

function filesPhrase(files: readonly { path: string; sizeBytes: number }[]): string {
  const sorted = [...files].sort((a, b) => b.sizeBytes - a.sizeBytes);
  const first = `\`${sorted[0]!.path}\``;
  return sorted.length === 1 ? first : `${first} and ${sorted.length - 1} other file${sorted.length === 2 ? "" : "s"}`;
}

const topFiles = (files: readonly { path: string; sizeBytes: number }[]): string[] => [...files].sort((a, b) => b.sizeBytes - a.sizeBytes).slice(0, 5).map((f) => f.path);

/** The advice for an analysis, the biggest savings first. */
export function adviseImage(a: ImageAnalysis): Advice[] {
  const out: Advice[] = [];
  const L = (i: number): LayerAnalysis => a.layers[i]!;
  const make = (kind: AdviceKind, bytes: number, message: string, layers: number[], files: string[]): void => {
    if (bytes >= MIN_BYTES) out.push({ kind, bytes, message, layers, lines: layers.map((i) => L(i).lines ?? null), files });
  };

  // files a later layer hides, by (adding layer, hiding layer, how, cache)
  const groups = new Map<string, { addedBy: number; hiddenBy: number; how: string; cache: (typeof CACHES)[number] | undefined; files: { path: string; sizeBytes: number }[]; bytes: number }>();
  for (const h of a.hidden) {
    const cache = cacheOf(h.path);
    const key = `${h.addedBy}\0${h.hiddenBy}\0${h.how}\0${cache?.prefix ?? ""}`;
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { addedBy: h.addedBy, hiddenBy: h.hiddenBy, how: h.how, cache, files: [], bytes: 0 }));
    g.files.push(h);
    g.bytes += h.sizeBytes;
  }
  for (const g of groups.values()) {
    const added = whereOf(L(g.addedBy));
    const hidden = whereOf(L(g.hiddenBy));
    const what = g.cache !== undefined ? g.cache.label : filesPhrase(g.files);
    if (g.how === "removed") {
      const fix = g.cache !== undefined
        ? g.cache.removeLater
        : g.files.length === 1
          ? "delete it in the same RUN that makes it (or make it in another stage and COPY --from what is needed)"
          : "delete them in the same RUN that makes them (or make them in another stage and COPY --from what is needed)";
      make("removed-later", g.bytes, `${what} (${size(g.bytes)}) added at ${added} and removed at ${hidden}: ${fix}; a later layer's removal does not make the image smaller.`, [g.addedBy, g.hiddenBy], topFiles(g.files));
    } else if (/\b(chmod|chown|chgrp|touch|setfacl)\b/.test(L(g.hiddenBy).command)) {
      make("rewritten-metadata", g.bytes, `${what} (${size(g.bytes)}) added at ${added} and copied again at ${hidden} to change their owner, mode or time: use \`COPY --chown\`/\`--chmod\`, or change them in the step that makes them.`, [g.addedBy, g.hiddenBy], topFiles(g.files));
    } else {
      make("overwritten", g.bytes, `${what} (${size(g.bytes)}) added at ${added} and replaced at ${hidden}: the first version stays in the image; write the file once.`, [g.addedBy, g.hiddenBy], topFiles(g.files));
    }
  }

  for (const d of a.duplicates) {
    const [first, ...rest] = d.copies;
    const others = rest.filter((c) => c.layer !== first!.layer);
    const places = [first!, ...others].map((c) => `\`${c.path}\` (${whereOf(L(c.layer))})`).join(" and ");
    make("duplicate", d.wastedBytes, `the same ${size(d.sizeBytes)} file in ${new Set(d.copies.map((c) => c.layer)).size} layers: ${places}: add it once (copy or link it in the step that needs it).`, [first!.layer, ...new Set(others.map((c) => c.layer))], d.copies.map((c) => c.path));
  }

  // caches a layer leaves in the final image
  const left = new Map<string, { layer: number; cache: (typeof CACHES)[number]; files: { path: string; sizeBytes: number }[]; bytes: number }>();
  for (const f of a.finalFiles) {
    const cache = cacheOf(f.path);
    if (cache === undefined || L(f.layer).lines === undefined) continue;
    const key = `${f.layer}\0${cache.prefix}`;
    let g = left.get(key);
    if (g === undefined) left.set(key, (g = { layer: f.layer, cache, files: [], bytes: 0 }));
    g.files.push(f);
    g.bytes += f.sizeBytes;
  }
  for (const g of left.values()) {
    make("cache-left", g.bytes, `${g.cache.label} (${size(g.bytes)}) added at ${whereOf(L(g.layer))} stay in the image: ${g.cache.left}.`, [g.layer], topFiles(g.files));
  }

  // a COPY of the whole build context that brought what .dockerignore usually excludes
  for (const l of a.layers) {
    if (!/^(COPY|ADD) (--\S+ )*\.\/? \S/.test(l.createdBy)) continue;
    const byName = new Map<string, { bytes: number; files: { path: string; sizeBytes: number }[] }>();
    for (const f of a.finalFiles) {
      if (f.layer !== l.index) continue;
      const parts = f.path.split("/");
      const dir = parts.slice(0, -1).find((p) => IGNORABLE_DIRS.has(p));
      const name = dir ?? IGNORABLE_SUFFIXES.find((s) => f.path.endsWith(s));
      if (name === undefined) continue;
      const label = dir !== undefined ? dir : `*${name}`;
      let g = byName.get(label);
      if (g === undefined) byName.set(label, (g = { bytes: 0, files: [] }));
      g.bytes += f.sizeBytes;
      g.files.push(f);
    }
    if (byName.size === 0) continue;
    const parts = [...byName].sort((x, y) => y[1].bytes - x[1].bytes);
    const bytes = parts.reduce((s, [, g]) => s + g.bytes, 0);
    make("context", bytes, `COPY of the whole context at ${whereOf(l)} brings ${size(bytes)} that \`.dockerignore\` could exclude: ${parts.map(([n, g]) => `\`${n}\` ${size(g.bytes)}`).join(", ")}.`, [l.index], topFiles(parts.flatMap(([, g]) => g.files)));
  }
  return out.sort((x, y) => y.bytes - x.bytes);
}
