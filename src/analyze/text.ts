import { formatBytes, whereOf, type Advice } from "./advice.js";
import type { ImageAnalysis } from "./analysis.js";

/** The summary `berth image analyze` and `berth build --analyze` print. */
export function renderSummary(a: ImageAnalysis, advice: readonly Advice[]): string {
  const name = a.image.tags[0] ?? a.image.id.slice(7, 19);
  const rows = a.layers.map((l) => [
    String(l.index), l.lines !== undefined ? whereOf(l).replace(/^lines? /, "") : "-", formatBytes(l.sizeBytes), String(l.added), String(l.changed), String(l.removed),
    formatBytes(l.wastedBytes), oneLine(l.command.replace(/\s+# buildkit$/, ""), 60),
  ]);
  const header = ["LAYER", "LINE", "SIZE", "ADDED", "CHANGED", "REMOVED", "WASTED", "INSTRUCTION"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const table = [header, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
  const hiddenBytes = (how: string): number => a.hidden.filter((h) => h.how === how).reduce((s, h) => s + h.sizeBytes, 0);
  const dup = a.duplicates.reduce((s, d) => s + d.wastedBytes, 0);
  const lines = [
    `Image ${name} (${a.image.id.slice(7, 19)}): ${a.layers.length} layers, ${formatBytes(a.sizeBytes)}${a.image.dockerfile !== undefined ? `, built from ${a.image.dockerfile}` : ""}`,
    "",
    table,
    "",
    `Wasted: ${formatBytes(a.wastedBytes)} (removed by a later layer ${formatBytes(hiddenBytes("removed"))}, overwritten ${formatBytes(hiddenBytes("overwritten"))}, duplicate content ${formatBytes(dup)})`,
    `Efficiency (dive's score): ${(a.efficiencyScore * 100).toFixed(2)} %, dive's inefficient bytes ${formatBytes(a.inefficientBytes)} in ${a.fileReference.length} paths, ${(a.wastedUserPercent * 100).toFixed(2)} % of the user's bytes`,
  ];
  if (advice.length > 0) lines.push("", "Advice:", ...advice.map((ad) => `  - ${ad.message}`));
  return lines.join("\n") + "\n";
}

function oneLine(s: string, max: number): string {
  const t = s.replace(/\s+/g, " ");
  return t.length > max ? t.slice(0, max - 1) + "…" : t;
}
