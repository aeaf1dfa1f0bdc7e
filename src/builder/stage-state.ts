import type { Digest } from "../image/digest.js";
import type { ContainerConfig, HistoryEntry, ImageConfig, Platform } from "../image/types.js";
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
  /** BuildKit's state env: the image ENV, then ENV and ARG values as dispatched. */
  env: Map<string, string>;
  /** CMD set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  /** The base image's created time (history of a stage without new layers). */
  baseCreated: string | undefined;
  /**
   * History entries this build added, with their layer flag; times filled at the end; `lines`:
   * the first and last Dockerfile line of the instruction that made a layer (see ImageSource).
   */
  newHistory: { entry: HistoryEntry; layerCreated?: string; lines?: [number, number] }[];
}

export function cloneConfig(c: ImageConfig): ImageConfig {
  return JSON.parse(JSON.stringify(c)) as ImageConfig;
}

export function containerConfig(s: StageState): ContainerConfig {
  s.config.config ??= {};
  return s.config.config;
}

/** BuildKit's emptyImage: what `FROM scratch` starts from. */
export function scratchConfig(platform: Platform): ImageConfig {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
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

/** An env list (`KEY=value`) as an ordered map; an entry without "=" is set to "". */
export function envListToMap(list: readonly string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of list ?? []) {
    const i = e.indexOf("=");
    m.set(i < 0 ? e : e.slice(0, i), i < 0 ? "" : e.slice(i + 1));
  }
  return m;
}

/**
 * The variables instructions expand against and RUN sees: BuildKit's state env, where ENV and
 * every ARG with a value are set in order (a later one wins). Docker's reference says an ENV
 * always overrides an ARG of the same name; BuildKit only does so when the ENV comes later —
 * `ENV X=a` then `ARG X=b` gives RUN X=b — and berth matches BuildKit.
 */
export function stageEnv(s: StageState): Map<string, string> {
  return s.env;
}

/** `KEY=value` for the process (and the cache key). */
export function processEnv(s: StageState): string[] {
  return [...s.env].map(([k, v]) => `${k}=${v}`);
}

/** BuildKit: "make sure that PATH is always set" in the image config (not on Windows). */
export function ensurePath(config: ImageConfig): void {
  const c = (config.config ??= {});
  if (!(c.Env ?? []).some((e) => e === "PATH" || e.startsWith("PATH="))) c.Env = [...(c.Env ?? []), `PATH=${DEFAULT_PATH}`];
}
