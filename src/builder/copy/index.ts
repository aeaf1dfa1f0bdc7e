/** COPY/ADD layer writing: the writer, --chown/--chmod, ADD archives and URLs, heredoc sources. */
export { writeAdd } from "./add.js";
export { addArchive, detectArchive, detectCompression, type AddArchiveOptions, type Compression } from "./archive.js";
export { parseChmod, type ModeFunction } from "./chmod.js";
export { CopyError } from "./errors.js";
export { heredocSource, type HeredocSource } from "./heredoc.js";
export { layeredFileReader, resolveChown, type Owner, type RootfsFileReader } from "./owner.js";
export { TargetView } from "./target-view.js";
export { classifyAddSource, downloadUrl, type DownloadOptions, type DownloadedFile } from "./url.js";
export { writeCopy, type WriteCopyOptions, type WriteCopyResult } from "./writer.js";
