import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { SourceStat } from "./source-fs.js";

type Row = [size: number, mtimeMs: number, ctimeMs: number, ino: number, sha256hex: string];

/**
 * Memoized content hashes keyed by host path and validated by (size, mtime, ctime, inode): an
 * unchanged file is stat'ed, never re-read. ctime catches a same-second rewrite that restores the
 * mtime. Persisted as one JSON file the caller chooses (the store keeps it); a missing or
 * corrupt file is an empty cache, never an error.
 */
export class StatCache {
  private rows = new Map<string, Row>();
  private dirty = false;
  private readonly touched = new Set<string>();
  hits = 0;
  misses = 0;

  constructor(readonly file?: string) {}

  static load(file: string): StatCache {
    const cache = new StatCache(file);
    try {
      const data = JSON.parse(readFileSync(file, "utf8")) as { version?: number; rows?: Record<string, Row> };
      if (data.version === 1 && data.rows) cache.rows = new Map(Object.entries(data.rows));
    } catch {
      // no cache yet, or unreadable: start empty
    }
    return cache;
  }

  get(hostPath: string, st: SourceStat): string | undefined {
    const r = this.rows.get(hostPath);
    if (r && r[0] === st.size && r[1] === st.mtimeMs && r[2] === st.ctimeMs && r[3] === st.ino) {
      this.hits++;
      this.touched.add(hostPath);
      return r[4];
    }
    this.misses++;
    return undefined;
  }

  set(hostPath: string, st: SourceStat, hex: string): void {
    this.rows.set(hostPath, [st.size, st.mtimeMs, st.ctimeMs, st.ino, hex]);
    this.touched.add(hostPath);
    this.dirty = true;
  }

  get size(): number {
    return this.rows.size;
  }

  /**
   * Writes the cache (temp file + rename) when something changed. With `prune`, rows not used
   * since load are dropped, so files deleted from the context do not accumulate.
   */
  save(file = this.file, options: { prune?: boolean } = {}): void {
    if (options.prune) {
      for (const k of this.rows.keys()) {
        if (!this.touched.has(k)) {
          this.rows.delete(k);
          this.dirty = true;
        }
      }
    }
    if (!this.dirty || file === undefined) return;
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ version: 1, rows: Object.fromEntries(this.rows) }));
    renameSync(tmp, file);
    this.dirty = false;
  }
}
