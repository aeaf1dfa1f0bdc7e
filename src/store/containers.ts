import { rmSync } from "node:fs";
import { mkdir, readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { isDigest, type Digest } from "../image/digest.js";
import { StoreError } from "./errors.js";

/** `c/<id>/`: container directories; their record.json is the runtime's. */
export class Containers {
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, "c");
  }

  /** The container's directory (the id checked, not whether it exists). */
  path(id: string): string {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(id)) throw new StoreError(`invalid container id ${JSON.stringify(id)}`);
    return join(this.dir, id);
  }

  async open(id: string, opts: { create?: boolean } = {}): Promise<string> {
    const dir = this.path(id);
    if (opts.create) await mkdir(dir, { recursive: true, mode: 0o711 });
    else if (!(await stat(dir).then(() => true, () => false))) throw new StoreError(`No such container: ${id}`);
    return dir;
  }

  async listIds(): Promise<string[]> {
    return (await readdir(this.dir)).filter((n) => !n.startsWith(".")).sort();
  }

  async remove(id: string): Promise<void> {
    // synchronous: the runtime's own dozen small files (the container's data lives in its
    // snapshot), far cheaper than ~40 thread-pool round trips of an async recursive rm
    rmSync(this.path(id), { recursive: true, force: true });
  }

  /** Image IDs that containers' record.json files name (what rmi and prune must not remove). */
  async imagesInUse(): Promise<Map<Digest, string[]>> {
    const used = new Map<Digest, string[]>();
    for (const [id, rec] of await this.records()) {
      if (rec.imageId !== undefined && isDigest(rec.imageId)) used.set(rec.imageId, [...(used.get(rec.imageId) ?? []), id]);
    }
    return used;
  }

  /** Snapshot ids containers' records name: a container's rw layer outlives the process that made it. */
  async snapshotsInUse(): Promise<Set<string>> {
    const used = new Set<string>();
    for (const [, rec] of await this.records()) if (rec.snapshot?.id !== undefined) used.add(rec.snapshot.id);
    return used;
  }

  /** What the store reads of the containers' records (a container being created has none yet). */
  private async records(): Promise<[string, { imageId?: string; snapshot?: { id?: string } }][]> {
    const out: [string, { imageId?: string; snapshot?: { id?: string } }][] = [];
    for (const id of await this.listIds()) {
      try {
        out.push([id, JSON.parse(await readFile(join(this.dir, id, "record.json"), "utf8")) as { imageId?: string; snapshot?: { id?: string } }]);
      } catch {
        // no record (yet): nothing it holds
      }
    }
    return out;
  }
}
