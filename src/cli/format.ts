/** Output helpers shaped like Docker's CLI (go-units sizes and durations, tabwriter tables). */

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

/** tabwriter.NewWriter(out, 20, 1, 3, ' ', 0): columns at least 20 wide, 3 spaces of padding. */
/** `--label key=value` flags (repeatable) as Docker reads them: a key alone has an empty value. */
export function parseLabels(flags: readonly string[] | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const l of flags ?? []) {
    const eq = l.indexOf("=");
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? "" : l.slice(eq + 1);
  }
  return labels;
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(20, ...[h, ...rows.map((r) => r[i] ?? "")].map((c) => c.length + 3)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("").trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** stringutils.Ellipsis: at most `max` characters, the last one "…" when cut. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join("")}…`;
}

/**
 * A small subset of Go templates for `--format`: `{{.A.B}}`, `{{json .A}}`, `{{json .}}`,
 * and `json` alone (one JSON object per line, as Docker's `--format json`).
 */
export function renderTemplate(template: string, value: unknown): string {
  if (template === "json") return JSON.stringify(value);
  const get = (path: string): unknown => {
    let cur: unknown = value;
    for (const key of path.split(".").filter(Boolean)) cur = cur !== null && typeof cur === "object" ? (cur as Record<string, unknown>)[key] : undefined;
    return cur;
  };
  const out = template.replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_m, json: string | undefined, path: string) => {
    const v = get(path);
    if (json) return JSON.stringify(v ?? null);
    if (v === undefined || v === null) return "<no value>";
    return typeof v === "object" ? JSON.stringify(v) : String(v);
  });
  return out.replace(/\\n/g, "\n").replace(/\\t/g, "\t");
}
