import type { Digest } from "../image/digest.js";
import type { ContainerConfig, HistoryEntry, ImageConfig } from "../image/types.js";
import type { LayerInfo } from "../store/index.js";

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** An ARG in scope: its value (undefined for `ARG K` without value). */
export interface ArgInScope {
  key: string;
  value: string | undefined;
}

/** A stage while it is built: the image config so far, its layers and the cache chain key. */
export interface StageState {
  config: ImageConfig;
  layers: LayerInfo[];
  /** The cache key of the last layer step (or the base's identity). */
  key: string;
  /** ARGs declared in this stage (and inherited from a base stage), in order. */
  args: ArgInScope[];
  /** CMD set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  /** The base image's created time (history of a stage without new layers). */
  baseCreated: string | undefined;
  /** History entries this build added, with their layer flag; times filled at the end. */
  newHistory: { entry: HistoryEntry; layerCreated?: string }[];
}

export function cloneConfig(c: ImageConfig): ImageConfig {
  return JSON.parse(JSON.stringify(c)) as ImageConfig;
}

export function containerConfig(s: StageState): ContainerConfig {
  s.config.config ??= {};
  return s.config.config;
}

/** BuildKit's emptyImage: what `FROM scratch` starts from. */
export function scratchConfig(platform: string): ImageConfig {
  const [os = "linux", architecture = "amd64", variant] = platform.split("/");
  return {
    architecture,
    os,
    ...(variant !== undefined && variant !== "" ? { variant } : {}),
    config: { Env: [`PATH=${DEFAULT_PATH}`] },
    rootfs: { type: "layers", diff_ids: [] as Digest[] },
    history: [],
  };
}

/** Sets KEY in an env list (`KEY=value`), keeping its position when present (BuildKit's addEnv). */
export function addEnv(env: string[], key: string, value: string): string[] {
  const i = env.findIndex((e) => (e.indexOf("=") < 0 ? e : e.slice(0, e.indexOf("="))) === key);
  if (i >= 0) env[i] = `${key}=${value}`;
  else env.push(`${key}=${value}`);
  return env;
}

export function envKeys(env: readonly string[]): Set<string> {
  return new Set(env.map((e) => (e.indexOf("=") < 0 ? e : e.slice(0, e.indexOf("=")))));
}

/**
 * The variables instructions expand against and RUN sees: ARG values first, then the image's
 * ENV over them — Docker: "an ENV instruction always overrides an ARG of the same name".
 */
export function stageEnv(s: StageState): Map<string, string> {
  const m = new Map<string, string>();
  for (const a of s.args) if (a.value !== undefined) m.set(a.key, a.value);
  for (const e of s.config.config?.Env ?? []) {
    const i = e.indexOf("=");
    m.set(i < 0 ? e : e.slice(0, i), i < 0 ? "" : e.slice(i + 1));
  }
  return m;
}

/** `KEY=value` for the process: the image ENV, then ARG values ENV does not override. */
export function processEnv(s: StageState): string[] {
  const env = [...(s.config.config?.Env ?? [])];
  const keys = envKeys(env);
  const seen = new Set<string>();
  for (let i = s.args.length - 1; i >= 0; i--) {
    const a = s.args[i] as ArgInScope;
    if (a.value === undefined || keys.has(a.key) || seen.has(a.key)) continue;
    seen.add(a.key);
  }
  for (const a of s.args) if (a.value !== undefined && seen.has(a.key)) {
    env.push(`${a.key}=${lastValue(s, a.key)}`);
    seen.delete(a.key);
  }
  return env;
}

function lastValue(s: StageState, key: string): string {
  for (let i = s.args.length - 1; i >= 0; i--) if (s.args[i]?.key === key) return s.args[i]?.value ?? "";
  return "";
}
