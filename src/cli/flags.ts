/** A repeatable option's values, in order (commander's reducer for `-e A -e B`). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `save`/`load`/`rmi --platform`: a comma-separated list (docker/cli's string slice). */
export async function platformsFlag(value: string | undefined): Promise<{ platforms?: import("../image/types.js").Platform[] }> {
  return value === undefined ? {} : { platforms: (await import("../image/platform.js")).parsePlatformList(value) };
}
