import { DEFAULT_PATH } from "./defaults.js";

/** A `KEY=value` list as a map that keeps first-insertion order (Docker keeps image order). */
function toMap(list: readonly string[], into: Map<string, string>): void {
  for (const entry of list) {
    const eq = entry.indexOf("=");
    if (eq <= 0) continue;
    into.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
}

/**
 * The container's environment: the image's Env, then the user's overrides (-e, --env-file),
 * then the defaults Docker adds when missing (PATH, HOSTNAME, HOME, TERM for a terminal).
 * An override without `=` (`-e NAME`) takes the value from `hostEnv`, or is dropped when the
 * host has no such variable — as Docker does.
 */
export function containerEnv(options: {
  imageEnv?: readonly string[];
  overrides?: readonly string[];
  hostEnv?: Readonly<Record<string, string | undefined>>;
  hostname?: string;
  home?: string;
  terminal?: boolean;
}): string[] {
  const env = new Map<string, string>();
  if (options.hostname !== undefined) env.set("HOSTNAME", options.hostname);
  toMap(options.imageEnv ?? [], env);
  for (const entry of options.overrides ?? []) {
    const eq = entry.indexOf("=");
    if (eq < 0) {
      const value = options.hostEnv?.[entry];
      if (value !== undefined) env.set(entry, value);
      else env.delete(entry);
    } else if (eq > 0) {
      env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
  }
  if (!env.has("PATH")) env.set("PATH", DEFAULT_PATH);
  if (options.terminal === true && !env.has("TERM")) env.set("TERM", "xterm");
  if (!env.has("HOME")) env.set("HOME", options.home ?? "/");
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/**
 * Parse an --env-file: one `KEY=value` or `KEY` per line, `#` comments and blank lines
 * skipped, no quote processing (Docker's rules). Returns the entries; throws on a bad name
 * with the line number.
 */
export function parseEnvFile(text: string, file: string): string[] {
  const out: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/^\s+/, "");
    if (line === "" || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    const name = eq < 0 ? line.trimEnd() : line.slice(0, eq);
    if (name === "" || /\s/.test(name)) {
      throw new Error(`${file}:${i + 1}: variable '${name}' contains whitespaces or is empty`);
    }
    out.push(eq < 0 ? name : line);
  });
  return out;
}
