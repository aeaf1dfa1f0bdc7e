import type { BuildOptions } from "../builder/options.js";

/**
 * `berth build --cache-from/--cache-to`: BuildKit's `type=…,key=value` values parsed (errors
 * name the flag), and the registry settings `berth pull/push` use (BERTH_INSECURE_REGISTRIES).
 */
export async function cacheFlags(from: readonly string[], to: readonly string[]): Promise<Pick<BuildOptions, "cacheFrom" | "cacheTo" | "registry">> {
  if (from.length === 0 && to.length === 0) return {};
  const { parseCacheFrom, parseCacheTo } = await import("../builder/cache-options.js");
  const { insecureRegistriesFromEnv } = await import("./registry.js");
  return {
    cacheFrom: from.flatMap((f) => parseCacheFrom(f)),
    cacheTo: to.flatMap((t) => parseCacheTo(t)),
    registry: { insecureRegistries: insecureRegistriesFromEnv() },
  };
}
