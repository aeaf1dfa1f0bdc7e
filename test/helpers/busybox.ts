// The busybox base image for tests: one implementation, shared with `npm run demo`.
// @ts-expect-error: a plain JS module outside the TypeScript project
export { BUSYBOX, busyboxRootfs, busyboxTarball, hasBusybox } from "../../scripts/lib/busybox.mjs";
