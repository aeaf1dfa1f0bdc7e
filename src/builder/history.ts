/** BuildKit's history texts (dockerfile2llb's commitToHistory callers), reproduced exactly. */

export const HISTORY_COMMENT = "buildkit.dockerfile.v0";

/** Go's %q for one string (strconv.Quote), close enough for command lines. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + '"';
}

/** Go's %q of a []string: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(" ")}]`;
}

/** Go's %v of a []string: `[a b]`. */
export function goList(list: readonly string[]): string {
  return `[${list.join(" ")}]`;
}

/** time.Duration.String() for nanoseconds. */
export function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e3) out = `${n}ns`;
  else if (n < 1e6) out = `${trim(n / 1e3)}µs`;
  else if (n < 1e9) out = `${trim(n / 1e6)}ms`;
  else {
    const h = Math.floor(n / 3.6e12);
    n -= h * 3.6e12;
    const m = Math.floor(n / 6e10);
    n -= m * 6e10;
    const s = trim(n / 1e9);
    out = h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
  }
  return neg ? "-" + out : out;
}

function trim(x: number): string {
  return String(Number(x.toFixed(9)));
}

/** runCommandString: `|2 A=1 B=2 /bin/sh -c make` when build args are in scope. */
export function runCommandString(args: readonly string[], buildArgs: readonly { key: string; value: string }[]): string {
  const env: string[] = [];
  const index = new Map<string, number>();
  for (const a of buildArgs) {
    const i = index.get(a.key);
    if (i !== undefined) env[i] = `${a.key}=${a.value}`;
    else {
      index.set(a.key, env.length);
      env.push(`${a.key}=${a.value}`);
    }
  }
  const prefix = env.length > 0 ? [`|${env.length}`, ...env] : [];
  return [...prefix, ...args].join(" ");
}

/** RFC 3339 as Go prints it: no fraction when it is zero. */
export function formatTime(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, "Z");
}
