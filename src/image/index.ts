export * from "./digest.js";
export * from "./types.js";
export * from "./reference.js";
export * from "./changes.js";
export * from "./archive.js";
export { ArchiveError } from "./errors.js";
export { importRootfs, loadArchive, type ImportOptions, type LoadResult } from "./archive-load.js";
export { saveImages, saveImagesToFile } from "./archive-save.js";
export type { ArchiveStore, ArchiveImage, ArchiveLayer, ArchivePreparedLayer } from "./archive-store.js";
