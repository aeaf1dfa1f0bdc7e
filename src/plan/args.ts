import { formatPlatform, hostPlatform } from "../image/platform.js";
import type { Platform } from "../image/types.js";
import type { ArgInstruction } from "../instructions/index.js";

/** Build args Docker accepts without an ARG: they reach RUN but stay out of history and keys. */
export const PROXY_ARGS: ReadonlySet<string> = new Set([
  "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
  "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
]);

/**
 * BuildKit's automatic platform args, set in the global scope (usable in FROM, visible in a
 * stage after `ARG X`): TARGET* the platform built for, BUILD* the one the build runs on.
 */
export function platformArgs(target: Platform = hostPlatform(), build: Platform = hostPlatform()): Map<string, string> {
  const m = new Map<string, string>();
  for (const [prefix, p] of [["BUILD", build], ["TARGET", target]] as const) {
    m.set(`${prefix}PLATFORM`, formatPlatform(p));
    m.set(`${prefix}OS`, p.os);
    m.set(`${prefix}ARCH`, p.architecture);
    m.set(`${prefix}VARIANT`, p.variant ?? "");
  }
  return m;
}

export interface ArgDeclaration {
  key: string;
  /** The default as written (expanded when the ARG is dispatched); undefined for `ARG K`. */
  defaultValue: string | undefined;
}

/** `ARG a b=1 c="x y"` → its declarations (BuildKit splits words, then the first `=`). */
export function argDeclarations(ins: ArgInstruction): ArgDeclaration[] {
  return ins.args.map((d) => ({ key: d.name.raw, defaultValue: d.defaultValue?.raw }));
}

/**
 * `--build-arg K=V` sets K; `--build-arg K` takes K from the environment and is dropped when the
 * environment has no K (docker CLI's behaviour).
 */
export function resolveBuildArgs(
  given: readonly string[] | ReadonlyMap<string, string> | undefined,
  environment: Readonly<Record<string, string | undefined>> = process.env,
): Map<string, string> {
  if (given === undefined) return new Map();
  if (!Array.isArray(given)) return new Map(given as ReadonlyMap<string, string>);
  const out = new Map<string, string>();
  for (const item of given as readonly string[]) {
    const eq = item.indexOf("=");
    if (eq >= 0) out.set(item.slice(0, eq), item.slice(eq + 1));
    else {
      const v = environment[item];
      if (v !== undefined) out.set(item, v);
    }
  }
  return out;
}
