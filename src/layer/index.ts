export { applyLayer, contentSizeOf, type ApplyOptions, type ApplyResult } from "./apply.js";
export { diffDirectory, digestDirectory, type DiffOptions } from "./diff.js";
export { parallelGzip } from "./pgzip.js";
export { LayerError } from "./errors.js";
export { reassembleTar, TarSplitRecorder } from "./tarsplit.js";
