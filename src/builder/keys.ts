import { createHash } from "node:crypto";

/** What a layer step's cache key is made of; kept (per Dockerfile position) to explain misses. */
export interface KeyInputs {
  /** The parent chain's key, or the base image's ID. */
  parent: string;
  /** The instruction as evaluated (after expansion, flags included). */
  instruction: string;
  /** KEY=value of every env var and build arg that reaches the step, sorted. */
  env: string[];
  /** COPY/ADD and bind mounts: the selection's content digest. */
  contentDigest?: string;
  /** Per-entry checksums (path → sum) to name changed files; omitted for huge selections. */
  files?: Record<string, string>;
}

export function cacheKey(k: KeyInputs): string {
  const h = createHash("sha256");
  h.update("berth-cache-v1\n");
  h.update(k.parent + "\n");
  h.update(k.instruction + "\n");
  for (const e of k.env) h.update(e + "\0");
  h.update("\n" + (k.contentDigest ?? "") + "\n");
  return "sha256:" + h.digest("hex");
}

/**
 * The chain key after a linked layer (`COPY --link`): the layer's own key (which leaves the
 * parent out) stacked on the parent chain, so the steps after it still depend on both.
 */
export function stackedKey(parentChain: string, layerKey: string): string {
  return cacheKey({ parent: parentChain, instruction: `link ${layerKey}`, env: [] });
}

function envMap(list: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of list) {
    const i = e.indexOf("=");
    m.set(i < 0 ? e : e.slice(0, i), i < 0 ? "" : e.slice(i + 1));
  }
  return m;
}

/** The longest value an explanation quotes in full; longer ones are cut, their length said. */
const SHOWN = 200;

/** A value as the explanation quotes it: JSON, cut to SHOWN characters (a build arg may be megabytes). */
function shown(v: string): string {
  const q = JSON.stringify(v);
  return q.length <= SHOWN ? q : `${q.slice(0, SHOWN)}…" (${v.length} characters)`;
}

/** Why `now` misses where `before` (the same Dockerfile position's last build) was cached. */
export function explainMiss(before: KeyInputs | undefined, now: KeyInputs): string[] {
  if (before === undefined) return ["no earlier build of this step"];
  const reasons: string[] = [];
  if (before.instruction !== now.instruction) reasons.push(`instruction changed: ${shown(before.instruction)} → ${shown(now.instruction)}`);
  const a = envMap(before.env);
  const b = envMap(now.env);
  for (const [k, v] of b) {
    if (!a.has(k)) reasons.push(`${k} is new (=${shown(v)})`);
    else if (a.get(k) !== v) reasons.push(`${k} changed: ${shown(a.get(k) ?? "")} → ${shown(v)}`);
  }
  for (const k of a.keys()) if (!b.has(k)) reasons.push(`${k} is no longer set`);
  if ((before.contentDigest ?? "") !== (now.contentDigest ?? "")) {
    if (before.files !== undefined && now.files !== undefined) {
      const changed: string[] = [];
      for (const [p, s] of Object.entries(now.files)) {
        const old = before.files[p];
        if (old === undefined) changed.push(`file ${p} was added`);
        else if (old !== s) changed.push(`file ${p} changed`);
      }
      for (const p of Object.keys(before.files)) if (!(p in now.files)) changed.push(`file ${p} was removed`);
      if (changed.length > 20) reasons.push(...changed.slice(0, 20), `… and ${changed.length - 20} more changed files`);
      else if (changed.length > 0) reasons.push(...changed);
      else reasons.push("the copied files' metadata changed");
    } else reasons.push("the copied files changed");
  }
  if (reasons.length === 0 && before.parent !== now.parent) reasons.push("an earlier step (or the base image) changed");
  if (reasons.length === 0) reasons.push("the cached result is no longer in the store");
  return reasons;
}
