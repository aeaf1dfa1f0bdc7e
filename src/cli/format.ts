import { parseTemplate } from "./template.js";

/** Output helpers shaped like Docker's CLI (go-units sizes and durations, tabwriter tables). */

import { UsageError } from "../errors.js";

/**
 * go-units HumanSizeWithPrecision: decimal units, 3 significant digits by default ("4.26MB",
 * "900B", "12.3kB"), as `docker images` prints; `precision` 4 is go-units HumanSize (prune reports).
 */
export function humanSize(bytes: number, precision = 3): string {
  return scaled(bytes, 1000, ["B", "kB", "MB", "GB", "TB", "PB"], precision);
}

/** go-units BytesSize: binary units, 4 significant digits ("1.5MiB", "64MiB"), as `docker stats` prints memory. */
export function bytesSize(bytes: number): string {
  return scaled(bytes, 1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], 4);
}

function scaled(bytes: number, base: number, units: readonly string[], precision: number): string {
  let v = bytes;
  let i = 0;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  return `${parseFloat(v.toPrecision(precision))}${units[i]}`;
}

/** go-units HumanDuration, as `docker images` prints CREATED ("2 weeks ago"). */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return "Less than a second";
  if (s === 1) return "1 second";
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return "About a minute";
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

export function since(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "N/A";
  const t = Date.parse(iso);
  return Number.isNaN(t) ? "N/A" : `${humanDuration(now - t)} ago`;
}

/** Docker's `2024-01-02 03:04:05 +0000 UTC` timestamp form used in JSON output. */
export function dockerTime(iso: string | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "").replace("Z", "")} +0000 UTC`;
}

/** `--label key=value` flags (repeatable) as Docker reads them: a key alone has an empty value. */
export function parseLabels(flags: readonly string[] | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const l of flags ?? []) {
    const eq = l.indexOf("=");
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? "" : l.slice(eq + 1);
  }
  return labels;
}

/** tabwriter.NewWriter(out, 20, 1, 3, ' ', 0): columns at least 20 wide, 3 spaces of padding. */
export function table(header: string[], rows: string[][]): string {
  return alignColumns([header, ...rows], 20);
}

/** tabwriter with `minWidth` and 3 spaces of padding: every cell but a line's last is padded to its column's width. */
function alignColumns(lines: readonly string[][], minWidth: number): string {
  const widths: number[] = [];
  for (const cells of lines) cells.forEach((c, i) => i < cells.length - 1 && (widths[i] = Math.max(widths[i] ?? minWidth, [...c].length + 3)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + c.length - [...c].length))).join("").trimEnd();
  return lines.map((cells) => `${line(cells)}\n`).join("");
}

/** stringutils.Ellipsis: at most `max` characters, the last one "…" when cut. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join("")}…`;
}

/** `--format` of a single object (inspect, version, info): `json`, or a Go template run over it. */
export function renderTemplate(template: string, value: unknown): string {
  if (template === "json") return JSON.stringify(value);
  return parseTemplate(template).execute(value);
}

/**
 * `--format` of a listing command, as docker/cli's formatter.Context: `json` (`{{json .}}` a
 * row), `table TEMPLATE` (a header row of `titles` above the rows, tab-aligned), or a template
 * a row; `\t` and `\n` written in the flag are tabs and newlines. The template is parsed
 * before any row is written, so a bad one prints nothing.
 */
export function formatRows(format: string, rows: readonly unknown[], titles: Record<string, string>): string {
  if (format === "json") return rows.map((r) => `${JSON.stringify(r)}\n`).join("");
  const isTable = format.startsWith("table");
  const text = (isTable ? format.slice("table".length) : format).replace(/^ +| +$/g, "").replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  const template = parseTemplate(text);
  const lines = rows.map((r) => template.execute(r));
  if (!isTable) return lines.map((l) => `${l}\n`).join("");
  return alignColumns([template.executeHeader(titles), ...lines].map((l) => l.split("\t")), 10);
}

/** Go's bool flags: `--flag=false` / `--flag false` / `--flag` (`--tls-verify`, `--sig-proxy`). */
export function parseBool(flag: string): (value: string) => boolean {
  return (value) => {
    if (value === "true" || value === "1") return true;
    if (value === "false" || value === "0") return false;
    throw new UsageError(`invalid value ${JSON.stringify(value)} for ${flag}: want true or false`);
  };
}
