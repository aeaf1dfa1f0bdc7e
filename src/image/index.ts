export * from "./digest.js";
export * from "./types.js";
