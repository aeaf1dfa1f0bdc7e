import type { CacheExportGroup } from "./cache-exchange.js";
import type { Digest } from "../image/digest.js";
import type { Platform } from "../image/types.js";
import type { ImageRecord } from "../store/index.js";
import type { BuilderStore } from "./store-port.js";
import type { RegistryClientOptions } from "../registry/index.js";
import type { CacheExchangeStats } from "./cache-exchange.js";
import type { CacheExportSpec, CacheImportSpec } from "./cache-options.js";
import type { BuildEventSink } from "./events.js";
import type { Entitlement } from "./entitlements.js";

export interface SecretSpec {
  id: string;
  /** A host file holding the secret. */
  src?: string;
  /** An environment variable holding the secret. */
  env?: string;
}

/** `--ssh ID=SOCKET`: an SSH agent's socket that `RUN --mount=type=ssh,id=ID` may use. */
export interface SshSpec {
  id: string;
  socket: string;
}

export interface BuildOptions {
  /** The build context directory. */
  context: string;
  /** The Dockerfile path (default `<context>/Dockerfile`). */
  dockerfile?: string;
  /** The Dockerfile's text (`-f -`); `dockerfile` then only names it. */
  dockerfileText?: string;
  /** An open store, or its root. */
  store?: BuilderStore;
  root?: string;
  tags?: string[];
  /** `K=V` or `K` (taken from `environment`). */
  buildArgs?: string[];
  environment?: Readonly<Record<string, string | undefined>>;
  target?: string;
  noCache?: boolean;
  /** Check the registry for every base image, even one in the store (`--pull`). */
  pull?: boolean;
  /** Stage names whose steps skip the cache. */
  noCacheFilter?: string[];
  /**
   * Entitlements this build grants (`--allow`): `security.insecure` lets `RUN --security=insecure`
   * run privileged, `network.host` lets `RUN --network=host` share the host's network.
   */
  allow?: Entitlement[];
  /**
   * RUN's network unless a RUN says (`--network`): "default" (the build's sandbox: a network
   * namespace of its own with outbound access through pasta or slirp4netns), "none" (loopback
   * only) or "host" (the host's namespace; needs `allow: ["network.host"]`).
   */
  network?: "host" | "none" | "default";
  /**
   * How RUN steps are isolated (`--isolation`, else $BERTH_ISOLATION): "default", a container
   * (runc: namespaces, an overlay root, Docker's confinement), or "chroot", a chroot with the
   * job's own privileges and nothing else, for containers that allow neither mounts nor user
   * namespaces (Buildah's mode of that name; see run/chroot.ts).
   */
  isolation?: Isolation;
  labels?: Record<string, string>;
  secrets?: SecretSpec[];
  ssh?: SshSpec[];
  platform?: string;
  /** Seconds; also read from SOURCE_DATE_EPOCH in `environment` / build args. */
  sourceDateEpoch?: number;
  onEvent?: BuildEventSink;
  signal?: AbortSignal;
  /** The OCI runtime binary (default runc). */
  runtime?: string;
  /** runc state dir for build containers. */
  stateDir?: string;
  /** `--cache-from`: shared build caches to look keys up in when the store misses (src/builder/cache-options.ts parses the flag). */
  cacheFrom?: CacheImportSpec[];
  /** `--cache-to`: where to export this build's cache once the image is made. */
  cacheTo?: CacheExportSpec[];
  /**
   * One platform's build of `build --platform a,b` (set by buildPlatforms): its `--cache-to`
   * entries go into one cache with the other platforms', which member 0 exports.
   */
  cacheGroup?: { group: CacheExportGroup; member: number };
  /** Registry client settings for `type=registry` caches (TLS, insecure registries, credentials). */
  registry?: RegistryClientOptions;
}

export interface BuildResult {
  imageId: Digest;
  image: ImageRecord;
  tags: string[];
  warnings: string[];
  cachedSteps: number;
  executedSteps: number;
  /** Present when --cache-from / --cache-to were given. */
  cacheExchange?: CacheExchangeStats;
  /** `--platform a,b`: each platform's image (imageId is then the image index's digest). */
  platformImages?: { platform: Platform; imageId: Digest }[];
}

export type Isolation = "default" | "chroot";

/**
 * `--isolation` / $BERTH_ISOLATION: default (also Buildah's oci and rootless, Docker's
 * process, which are berth's default isolation) or chroot.
 */
export function parseIsolation(value: string | undefined): Isolation {
  if (value === undefined || value === "" || value === "default" || value === "oci" || value === "rootless" || value === "process") return "default";
  if (value === "chroot") return "chroot";
  throw new Error(`unsupported isolation ${JSON.stringify(value)} (want default or chroot)`);
}
