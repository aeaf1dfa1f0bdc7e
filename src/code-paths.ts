/**
 * The kinds of work a run did (`copy:run`, `run:hit`, `stages` …), for bin/berth's V8 code
 * cache: the cache holds the functions the run that wrote it compiled, so a later run down
 * another path compiles its own functions again (a rebuild pays for it when the cache was
 * written by another kind of build). bin/berth rewrites the cache, with what this
 * run compiled added, when a run names a kind its cache has not seen; the kinds are few, so it
 * settles after a handful of runs.
 */
export function noteCodePath(kind: string): void {
  const g = globalThis as { __berthCodePaths?: Set<string> };
  (g.__berthCodePaths ??= new Set()).add(kind);
}
