/** COPY/ADD layer writing: the writer, --chown/--chmod, ADD archives and URLs, heredoc sources. */
export { parseChmod, type ModeFunction } from "./chmod.js";
export { CopyError } from "./errors.js";
export { resolveChown, type Owner, type RootfsFileReader } from "./owner.js";
export { TargetView } from "./target-view.js";
export { writeCopy, type WriteCopyOptions, type WriteCopyResult } from "./writer.js";
