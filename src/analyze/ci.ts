import { BerthError } from "../errors.js";
import type { ImageAnalysis } from "./analysis.js";

/** dive's CI rules (cmd/dive/cli/internal/command/ci/rules.go), their keys and defaults. */
export interface CiThresholds {
  lowestEfficiency: string;
  highestWastedBytes: string;
  highestUserWastedPercent: string;
}

export const DIVE_CI_DEFAULTS: CiThresholds = { lowestEfficiency: "0.9", highestWastedBytes: "disabled", highestUserWastedPercent: "0.1" };

/** A threshold or `.dive-ci` file berth cannot read: bad input, exit 125. */
export class CiConfigError extends BerthError {
  constructor(message: string) {
    super(message, { exitCode: 125 });
  }
}

const KEYS: Record<string, keyof CiThresholds> = {
  lowestEfficiency: "lowestEfficiency",
  "lowest-efficiency": "lowestEfficiency",
  highestWastedBytes: "highestWastedBytes",
  "highest-wasted-bytes": "highestWastedBytes",
  highestUserWastedPercent: "highestUserWastedPercent",
  "highest-user-wasted-percent": "highestUserWastedPercent",
};

/**
 * The `rules:` of a `.dive-ci` file (YAML; only its flat `key: value` lines under `rules:` are
 * dive's thresholds, in either spelling dive accepts; other keys, plugins for one, are ignored).
 */
export function parseDiveCi(text: string, file: string): Partial<CiThresholds> {
  const out: Partial<CiThresholds> = {};
  let inRules = false;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\s+#.*$/, "").replace(/^#.*$/, "");
    if (line.trim() === "" || line.trim() === "---") continue;
    if (!/^\s/.test(line)) {
      inRules = /^rules:\s*$/.test(line);
      continue;
    }
    if (!inRules) continue;
    const m = /^\s+([A-Za-z/-]+[A-Za-z0-9/_-]*):\s*(.*?)\s*$/.exec(line);
    if (m === null) throw new CiConfigError(`${file}: cannot read the line ${JSON.stringify(raw.trim())}`);
    const key = KEYS[m[1]!];
    if (key !== undefined) out[key] = m[2]!.replace(/^(["'])(.*)\1$/, "$2");
  }
  return out;
}

/** go-humanize ParseBytes: `20MB`, `20Mb`, `1.5 GiB`, `512`; decimal units unless `i`. */
export function parseBytes(text: string): number {
  const m = /^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (m === null) throw new CiConfigError(`invalid highestWastedBytes config value, given ${JSON.stringify(text)}`);
  const n = Number(m[1]!.replace(/,/g, ""));
  const unit = m[2]!.toLowerCase();
  const powers: Record<string, number> = { "": 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, ki: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, mi: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3, gi: 1024 ** 3, t: 1e12, tb: 1e12, tib: 1024 ** 4, ti: 1024 ** 4 };
  const p = powers[unit];
  if (p === undefined) throw new CiConfigError(`invalid highestWastedBytes config value, given ${JSON.stringify(text)}: unhandled size name: ${unit}`);
  return Math.floor(n * p);
}

/** go-humanize Bytes: `83 MB`, `9.5 kB`, `12 B`. */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
  const e = Math.floor(Math.log(n) / Math.log(1000));
  const val = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : val.toFixed(0)} ${units[e]}`;
}

const disabled = (v: string): boolean => ["", "disabled", "off", "false"].includes(v.trim().toLowerCase());

function ratio(key: string, v: string): number {
  const n = Number(v);
  if (v.trim() === "" || Number.isNaN(n)) throw new CiConfigError(`invalid ${key} config value, given ${JSON.stringify(v)}`);
  if (n < 0 || n > 1) throw new CiConfigError(`${key} config value is outside allowed range (0-1), given '${n.toFixed(6)}'`);
  return n;
}

export type RuleStatus = "PASS" | "FAIL" | "SKIP";
export interface RuleResult {
  rule: keyof CiThresholds;
  status: RuleStatus;
  message: string;
}

/** Checks thresholds before any analysis: a bad value is an error (as dive refuses to start). */
export function checkThresholds(t: CiThresholds): void {
  if (!disabled(t.lowestEfficiency)) ratio("lowestEfficiency", t.lowestEfficiency);
  if (!disabled(t.highestWastedBytes)) parseBytes(t.highestWastedBytes);
  if (!disabled(t.highestUserWastedPercent)) ratio("highestUserWastedPercent", t.highestUserWastedPercent);
}

/** dive's evaluation of its three rules, sorted by name as its report lists them. */
export function evaluateCi(a: ImageAnalysis, t: CiThresholds): { pass: boolean; results: RuleResult[] } {
  const results: RuleResult[] = [];
  const rule = (name: keyof CiThresholds, check: (v: string) => string | undefined): void => {
    const v = t[name];
    if (disabled(v)) return void results.push({ rule: name, status: "SKIP", message: "disabled" });
    const failed = check(v);
    results.push(failed !== undefined ? { rule: name, status: "FAIL", message: failed } : { rule: name, status: "PASS", message: v });
  };
  rule("lowestEfficiency", (v) => {
    const th = ratio("lowestEfficiency", v);
    return th > a.efficiencyScore ? `image efficiency is too low (efficiency=${a.efficiencyScore.toFixed(2)} < threshold=${th})` : undefined;
  });
  rule("highestWastedBytes", (v) => {
    const th = parseBytes(v);
    return a.inefficientBytes > th ? `too many bytes wasted (wasted-bytes=${a.inefficientBytes} > threshold=${th})` : undefined;
  });
  rule("highestUserWastedPercent", (v) => {
    const th = ratio("highestUserWastedPercent", v);
    return a.wastedUserPercent > th ? `too many bytes wasted, relative to the user bytes added (%-user-wasted-bytes=${a.wastedUserPercent.toFixed(2)} > threshold=${th})` : undefined;
  });
  results.sort((x, y) => (x.rule < y.rule ? -1 : 1));
  return { pass: results.every((r) => r.status !== "FAIL"), results };
}

/** dive's CI report: Analysis, Inefficient Files, Evaluation and the PASS/FAIL line. */
export function renderCiReport(a: ImageAnalysis, ev: { pass: boolean; results: RuleResult[] }): string {
  const kv = (k: string, v: string): string => `  ${(k + ":").padEnd(18)} ${v}`;
  const lines = [
    "Analysis:",
    kv("efficiency", `${(a.efficiencyScore * 100).toFixed(2)} %`),
    kv("wastedBytes", `${a.inefficientBytes} bytes${a.inefficientBytes > 0 ? ` (${humanizeBytes(a.inefficientBytes)})` : " "}`),
    kv("userWastedPercent", a.inefficientBytes > 0 ? `${(a.wastedUserPercent * 100).toFixed(2)} %` : "0 %"),
    "",
  ];
  if (a.fileReference.length === 0) lines.push("Inefficient Files: (None)");
  else {
    lines.push("Inefficient Files:", `  ${"Count".padEnd(5)}  ${"Wasted Space".padEnd(12)}  File Path`);
    for (const f of a.fileReference) lines.push(`  ${String(f.count).padEnd(5)}  ${humanizeBytes(f.sizeBytes).padEnd(12)}  ${f.file}`);
  }
  lines.push("", "Evaluation:");
  for (const r of ev.results) lines.push(`  ${r.status}  ${r.rule}${r.message !== "" ? ` (${r.message})` : ""}`);
  const tally = (["PASS", "FAIL", "SKIP"] as const).map((s) => [s === "PASS" ? "pass" : s === "FAIL" ? "fail" : "skip", ev.results.filter((r) => r.status === s).length] as const);
  lines.push("", `${ev.pass ? "PASS" : "FAIL"} [${tally.filter(([, n]) => n > 0).map(([k, n]) => `${k}:${n}`).join(" ")}]`);
  return lines.join("\n") + "\n";
}
