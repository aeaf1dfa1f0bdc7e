import { join } from "node:path";
import type { Digest } from "../image/digest.js";
import { formatReference, normalizeTag, parseReference, InvalidReferenceError } from "../image/reference.js";
import type { HeldLock } from "../sys/flock.js";
import { readRecordFile, writeFileAtomic } from "./atomic.js";
import { NoSuchImageError, StoreError } from "./errors.js";
import type { Locks } from "./locks.js";

/** `refs.json`: tags and digest references → image ID, changed under the "refs" lock. */
export class Refs {
  readonly path: string;

  constructor(root: string, private readonly locks: Locks, private readonly imageExists: (id: Digest) => Promise<boolean>) {
    this.path = join(root, "refs.json");
  }

  async read(): Promise<Record<string, Digest>> {
    try {
      return JSON.parse(await readRecordFile(this.path)) as Record<string, Digest>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw new StoreError(`${this.path} is unreadable: ${(err as Error).message}; run \`berth system check --repair\``);
    }
  }

  /** Changes refs.json under the refs lock; `change` returns false to leave it untouched. */
  async update(change: (refs: Record<string, Digest>) => boolean | Promise<boolean>): Promise<void> {
    await this.locks.with("refs", async () => {
      const refs = await this.read();
      if (await change(refs)) await writeFileAtomic(this.path, refsText(refs));
    });
  }

  /** The refs lock, for a caller that publishes refs.json itself (Images.add). */
  hold(): Promise<HeldLock> {
    return this.locks.hold("refs");
  }

  async tag(ref: string, id: Digest): Promise<void> {
    const key = tagKey(ref);
    if (!(await this.imageExists(id))) throw new NoSuchImageError(id);
    // already so (a no-op rebuild re-tags): refs.json is replaced by rename, so a read without
    // the lock is a consistent state, and skipping the lock saves a flock process
    if (!refsChange(await this.read(), id, [key], [])) return;
    await this.update((refs) => refsChange(refs, id, [key], []));
  }

  /**
   * Records `repo@sha256:<manifest digest>` → image, as Docker does after a pull or push (the
   * digest the registry knows: the image's RepoDigests). Like Docker's reference store, a digest
   * reference never moves to another image: the first one stays.
   */
  async addDigestReference(ref: string, id: Digest): Promise<void> {
    const key = digestKey(ref);
    if (!(await this.imageExists(id))) throw new NoSuchImageError(id);
    if (!refsChange(await this.read(), id, [], [key])) return;
    await this.update((refs) => refsChange(refs, id, [], [key]));
  }

  async untag(ref: string): Promise<void> {
    const key = normalizeTag(ref);
    let found = true;
    await this.update((refs) => {
      if (!(key in refs)) {
        found = false;
        return false;
      }
      delete refs[key];
      return true;
    });
    if (!found) throw new NoSuchImageError(ref);
  }
}

/** A tag as refs.json keys it (`docker.io/library/busybox:latest`); exit 125 when invalid. */
export function tagKey(ref: string): string {
  try {
    return normalizeTag(ref);
  } catch (err) {
    throw new StoreError((err as Error).message, { exitCode: 125 });
  }
}

/** A digest reference as refs.json keys it (`repo@sha256:…`); exit 125 when invalid. */
export function digestKey(ref: string): string {
  try {
    const parsed = parseReference(ref);
    if (parsed.digest === undefined) throw new InvalidReferenceError(ref, "a digest reference needs a digest");
    return formatReference({ ...parsed, tag: undefined });
  } catch (err) {
    throw new StoreError((err as Error).message, { exitCode: 125 });
  }
}

/** refs.json's text: sorted keys, one per line. */
export function refsText(refs: Record<string, Digest>): string {
  const sorted = Object.fromEntries(Object.entries(refs).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `${JSON.stringify(sorted, null, 1)}\n`;
}

/**
 * Points `tags` at `id` (a tag moves) and adds `digests` (a digest reference never moves, as in
 * Docker's reference store); returns whether `refs` changed.
 */
export function refsChange(refs: Record<string, Digest>, id: Digest, tags: readonly string[], digests: readonly string[]): boolean {
  let changed = false;
  for (const k of tags) {
    if (refs[k] === id) continue;
    refs[k] = id;
    changed = true;
  }
  for (const k of digests) {
    if (refs[k] !== undefined) continue;
    refs[k] = id;
    changed = true;
  }
  return changed;
}
