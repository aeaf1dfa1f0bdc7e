/** The runtime: OCI specs, overlay mounts, runc, transient and managed containers. */
export { RuntimeError } from "./errors.js";
export type { OciSpec, OciProcess, OciMount, OciUser } from "./oci-spec.js";
export { buildSpec, capabilitySet, INIT_PATH } from "./spec.js";
export type { SpecOptions, NetworkMode, MountRequest, ResourceLimits } from "./spec.js";
export { containerArgs } from "./command.js";
export { containerEnv, parseEnvFile } from "./env.js";
export { resolveUser } from "./user.js";
export type { ResolvedUser } from "./user.js";
export { checkExecutable, resolveInRootfs } from "./lookpath.js";
export { mountOverlay, unmountOverlay, overlayOptions, isMounted } from "./overlay.js";
export type { OverlayDirs } from "./overlay.js";
export { Runc, normalizeSignal } from "./runc.js";
export type { RuncState } from "./runc.js";
export { runTransient, cleanupTransient, DEFAULT_TRANSIENT_STATE_DIR } from "./transient.js";
export type { TransientOptions, TransientProcess, TransientResult, OutputSink } from "./transient.js";
