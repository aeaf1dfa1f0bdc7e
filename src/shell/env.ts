/**
 * The variables a word is expanded against: an ordered `KEY=value` list as the planner keeps
 * it (a later entry wins, an entry without `=` is set to the empty string, as BuildKit's
 * `BuildEnvs`), a Map, or a plain record.
 */
export type ShellEnv = readonly string[] | ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/** Normalizes any ShellEnv to a Map (no copy when it already is one). */
export function shellEnvToMap(env: ShellEnv): ReadonlyMap<string, string> {
  if (env instanceof Map) return env;
  const map = new Map<string, string>();
  if (Array.isArray(env)) {
    for (const entry of env as readonly string[]) {
      const eq = entry.indexOf("=");
      if (eq < 0) map.set(entry, "");
      else map.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    return map;
  }
  // Own enumerable keys only: a record must not leak `constructor` or `__proto__` lookups.
  for (const [key, value] of Object.entries(env as Readonly<Record<string, string>>)) map.set(key, value);
  return map;
}
