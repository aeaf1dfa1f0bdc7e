export * from "./digest.js";
export * from "./types.js";
export * from "./reference.js";
