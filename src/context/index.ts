/** The build context and COPY/ADD sources: .dockerignore, resolution, checksums. */
export { BuildContext, type LoadContextOptions } from "./build-context.js";
export { checksumSelection, explainSelectionChange, type ChecksumOptions, type EntryChecksum, type SelectionChange, type SelectionChecksum } from "./checksum.js";
export { parseDockerignore, parseDockerignoreLines, readDockerignore } from "./dockerignore.js";
export { ContextError } from "./errors.js";
export { BadPatternError, cleanPath, containsWildcards, goMatch } from "./path-match.js";
export { PatternError, PatternMatcher } from "./patternmatcher.js";
export { resolveCopySources, selectSourceTree, type ResolveOptions, type ResolvedSource, type SelectedEntry } from "./resolve.js";
export { joinRel, lstatSource, resolveChrooted, resolveInTree, statFromNode, type EntryType, type SourceFs, type SourceStat } from "./source-fs.js";
export { StatCache } from "./stat-cache.js";
export { DirSourceFs, LayeredSourceFs, overlayOpaque } from "./tree-source.js";
export { WORKER_LIMITS } from "./worker-limits.js";
