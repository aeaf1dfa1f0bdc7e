export { analyzeImage, type ImageAnalysis, type LayerAnalysis, type HiddenFile, type DuplicateContent, type FileReference } from "./analysis.js";
export { listLayer, type LayerListing, type LayerEntry } from "./layers.js";
export { adviseImage, type Advice } from "./advice.js";
export { exportAnalysis, diveFileList, type DiveFileInfo } from "./export.js";
export { renderHtml } from "./html.js";
export { renderSummary } from "./text.js";
export { CiConfigError, DIVE_CI_DEFAULTS, checkThresholds, evaluateCi, parseDiveCi, renderCiReport, type CiThresholds } from "./ci.js";
export { layerTree, type TreeNode, type Diff } from "./tree.js";
export { AnalyzeView, parseKeys, runInteractive, terminalColours, type Key } from "./tui.js";
