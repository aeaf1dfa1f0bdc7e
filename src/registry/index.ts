/** The registry module's public face: an OCI distribution client, auth, Docker-config logins. */
export { RegistryError, type RegistryErrorKind } from "./errors.js";
export {
  DOCKER_HUB,
  formatRemoteReference,
  manifestSelector,
  parseRemoteReference,
  type RemoteReference,
  type RemoteRepository,
} from "./remote-reference.js";
export {
  RegistryClient,
  type BlobSource,
  type FetchBlobOptions,
  type PushBlobOptions,
  type PushBlobResult,
  type RawManifest,
  type RegistryClientOptions,
  type ResolvedManifest,
} from "./client.js";
export {
  dockerConfigCredentials,
  dockerConfigPath,
  readCredentials,
  removeCredentials,
  storeCredentials,
  type CredentialLookup,
  type Credentials,
} from "./credentials.js";
export { parseChallenges, type AuthChallenge } from "./challenge.js";
export { repositoryScope } from "./auth.js";
export { formatPlatform, hostPlatform, parsePlatform, selectPlatform } from "../image/platform.js";
export type { ProgressCallback, TransferProgress, TransferState } from "./progress.js";
export { DEFAULT_RETRY, type RetryPolicy } from "./retry.js";
export { mapLimit } from "./limit.js";
export { pullAllPlatforms, pullByName, pullImage, type PullOptions, type PullResult, type PullStore, type PulledImage, type PulledLayer } from "./pull.js";
export { pushImage, pushStoredImage, pushStoredTag, type PushOptions, type PushResult, type PushSource, type PushStore } from "./push.js";
export {
  CACHE_ARTIFACT_TYPE,
  CACHE_INDEX_MEDIA_TYPE,
  fetchCacheIndex,
  fetchCacheLayers,
  pushCache,
  type CacheIndex,
  type CacheRecord,
  type PushCacheOptions,
} from "./cache.js";
