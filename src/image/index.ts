export * from "./digest.js";
export * from "./types.js";
export * from "./reference.js";
export * from "./changes.js";
export * from "./archive.js";
