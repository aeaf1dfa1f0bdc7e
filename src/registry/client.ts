import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { Readable, Transform } from "node:stream";
import { isDigest, sha256Digest, type Digest } from "../image/digest.js";
import { MediaType, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from "../image/types.js";
import { RegistryAuth, repositoryScope } from "./auth.js";
import { dockerConfigCredentials, type CredentialLookup, type Credentials } from "./credentials.js";
import { RegistryError, kindForStatus } from "./errors.js";
import {
  HttpTransport,
  discard,
  header,
  isTransientNetworkError,
  isTransientStatus,
  readBody,
  type HttpRequest,
  type HttpResponse,
} from "./http.js";
import { formatPlatform, hostPlatform, selectPlatform } from "../image/platform.js";
import { ProgressMeter, type ProgressCallback } from "./progress.js";
import {
  DOCKER_HUB,
  formatRemoteReference,
  manifestSelector,
  type RemoteReference,
  type RemoteRepository,
} from "./remote-reference.js";
import { DEFAULT_RETRY, backoffDelay, wait, type RetryPolicy } from "./retry.js";

export interface RegistryClientOptions {
  /** false: every registry may be plain http or present any certificate (`--tls-verify=false`). */
  tlsVerify?: boolean;
  /** Registries (host[:port]) that may be plain http or present any certificate. Loopback always may. */
  insecureRegistries?: readonly string[];
  /** Where logins come from; default the Docker config file (`$DOCKER_CONFIG/config.json`). */
  credentials?: CredentialLookup;
  retry?: RetryPolicy;
  /** Idle socket timeout per request, ms. */
  timeoutMs?: number;
  /** Connections per registry host. */
  maxSockets?: number;
}

/** A manifest as fetched: its exact bytes (digests are over them), media type and digest. */
export interface RawManifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

/** An image manifest resolved for one platform, with the index it was picked from (if any). */
export interface ResolvedManifest extends RawManifest {
  manifest: ImageManifest;
  index?: RawManifest;
}

/** Something a blob upload can (re)open from an offset: a store blob, a file, a buffer. */
export interface BlobSource {
  size: number;
  open(start: number): Readable;
}

export type PushBlobResult = "exists" | "mounted" | "uploaded";

export interface FetchBlobOptions {
  /** Hash while streaming and fail at the end on a mismatch (default true). */
  verify?: boolean;
  onProgress?: ProgressCallback;
  /** The image reference for progress events and errors. */
  reference?: string;
}

export interface PushBlobOptions {
  /** A repository on the same registry that has the blob: ask for a cross-repository mount first. */
  mountFrom?: string;
  /** Upload in PATCH chunks of this many bytes (resumable); default one monolithic PUT. */
  chunkSize?: number;
  /** Skip the existence check (the caller just did it). */
  skipExistenceCheck?: boolean;
  onProgress?: ProgressCallback;
  reference?: string;
}

const MANIFEST_ACCEPT = [MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList].join(", ");
const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.OciIndex, MediaType.DockerManifestList]);
const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.OciManifest, MediaType.DockerManifest]);

interface Endpoint {
  base: URL;
  insecureTls: boolean;
}

interface RequestTarget {
  registry: string;
  scopes: string[];
  /** What the user asked for, for error messages. */
  reference: string;
  /** Retry 5xx/429/connection resets (false for requests whose body cannot be resent). */
  retry?: boolean;
}

/**
 * An OCI distribution-spec client. One instance keeps connections, pings and tokens for many
 * operations on many registries; `close()` releases the sockets.
 */
export class RegistryClient {
  private readonly transport: HttpTransport;
  private readonly auth: RegistryAuth;
  private readonly retry: RetryPolicy;
  private readonly tlsVerify: boolean;
  private readonly insecure: ReadonlySet<string>;
  private readonly endpoints = new Map<string, Promise<Endpoint>>();

  constructor(options: RegistryClientOptions = {}) {
    this.transport = new HttpTransport({
      tlsVerify: options.tlsVerify,
      timeoutMs: options.timeoutMs,
      maxSockets: options.maxSockets,
    });
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.auth = new RegistryAuth(this.transport, options.credentials ?? dockerConfigCredentials(), this.retry);
    this.tlsVerify = options.tlsVerify !== false;
    this.insecure = new Set(options.insecureRegistries ?? []);
  }

  close(): void {
    this.transport.close();
  }

  /** May this registry be reached over plain http or unverified TLS? */
  isInsecure(registry: string): boolean {
    if (!this.tlsVerify || this.insecure.has(registry)) return true;
    const host = hostOf(registry);
    return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
  }

  /** Checks that the registry answers the `/v2/` API and learns its auth scheme. */
  async ping(registry: string): Promise<void> {
    await this.endpoint(registry);
  }

  /**
   * Verifies credentials against a registry (what `berth login` does before storing them):
   * Basic registries must accept them on `/v2/`, bearer registries' token servers must issue a token.
   */
  async login(registry: string, creds: Credentials): Promise<void> {
    const { base, insecureTls } = await this.endpoint(registry);
    const res = await this.transport.send({
      method: "GET",
      url: new URL("/v2/", base),
      insecureTls,
      headers: creds.username === undefined ? {} : { Authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ""}`).toString("base64")}` },
    });
    discard(res);
    if (res.status === 200) return;
    if (res.status !== 401) throw new RegistryError(kindForStatus(res.status), registry, "login failed", { status: res.status });
    const challenge = this.auth.learnChallenge(registry, header(res, "www-authenticate"));
    if (challenge?.scheme === "bearer") {
      await this.auth.verifyLogin(registry, creds);
      return;
    }
    throw new RegistryError("unauthorized", registry, "login failed: wrong username or password", { status: 401 });
  }

  /**
   * The image manifest for a reference. An index or manifest list is resolved to the entry for
   * `platform` (default this host, linux/amd64 here). Every manifest is checked against its digest.
   */
  async getManifest(ref: RemoteReference, options: { platform?: Platform } = {}): Promise<ResolvedManifest> {
    const text = formatRemoteReference(ref);
    const top = await this.fetchManifest(ref, manifestSelector(ref), text);
    if (MANIFEST_TYPES.has(top.mediaType)) return { ...top, manifest: parseImageManifest(top, text) };
    if (!INDEX_TYPES.has(top.mediaType)) {
      throw new RegistryError("unsupported", text, `unsupported manifest media type ${JSON.stringify(top.mediaType)}`);
    }
    const index = parseJson<ImageIndex>(top.bytes, text);
    if (!Array.isArray(index.manifests)) throw new RegistryError("protocol", text, "index has no manifests list");
    const wanted = options.platform ?? hostPlatform();
    const entry = selectPlatform(index, wanted);
    if (entry === undefined) {
      const offered = index.manifests.flatMap((d) => (d.platform === undefined ? [] : [formatPlatform(d.platform)]));
      throw new RegistryError("unsupported", text, `no image for platform ${formatPlatform(wanted)} (the index offers ${offered.join(", ") || "none"})`);
    }
    if (!isDigest(entry.digest)) throw new RegistryError("protocol", text, `index entry has an invalid digest ${JSON.stringify(entry.digest)}`);
    const child = await this.fetchManifest(ref, entry.digest, text);
    if (!MANIFEST_TYPES.has(child.mediaType)) {
      throw new RegistryError("unsupported", text, `index entry ${entry.digest} is a ${child.mediaType}, not an image manifest`);
    }
    return { ...child, manifest: parseImageManifest(child, text), index: top };
  }

  /** One manifest by tag or digest, exact bytes, digest verified (a digest selector must match). */
  async fetchManifest(repo: RemoteRepository, selector: string, reference = `${repo.registry}/${repo.repository}${isDigest(selector) ? "@" : ":"}${selector}`): Promise<RawManifest> {
    const res = await this.request(
      { registry: repo.registry, scopes: [repositoryScope(repo.repository, ["pull"])], reference },
      (base) => ({ method: "GET", url: apiUrl(base, repo, `manifests/${selector}`), headers: { Accept: MANIFEST_ACCEPT } }),
    );
    if (res.status !== 200) await this.fail(res, reference, "manifest");
    const bytes = await readBody(res).catch((err: unknown) => {
      throw new RegistryError("protocol", reference, `reading manifest: ${(err as Error).message}`, { cause: err });
    });
    const digest = sha256Digest(bytes);
    if (isDigest(selector) && selector !== digest) {
      throw new RegistryError("digest-mismatch", reference, `manifest content hashes to ${digest}, not ${selector}`);
    }
    const announced = header(res, "docker-content-digest");
    if (announced !== undefined && announced.startsWith("sha256:") && announced !== digest) {
      throw new RegistryError("digest-mismatch", reference, `manifest content hashes to ${digest}, the registry says ${announced}`);
    }
    const contentType = (header(res, "content-type") ?? "").split(";")[0]?.trim() ?? "";
    const mediaType = contentType !== "" && contentType !== "application/json" ? contentType : mediaTypeInside(bytes);
    return { digest, mediaType, bytes };
  }

  /** Does the repository have this blob? (HEAD; a 404 is `false`, other failures throw.) */
  async blobExists(repo: RemoteRepository, digest: Digest, actions: ("pull" | "push")[] = ["pull"]): Promise<boolean> {
    const reference = `${repo.registry}/${repo.repository}@${digest}`;
    const res = await this.request(
      { registry: repo.registry, scopes: [repositoryScope(repo.repository, actions)], reference },
      (base) => ({ method: "HEAD", url: apiUrl(base, repo, `blobs/${digest}`) }),
    );
    if (res.status === 200 || res.status === 404) {
      discard(res);
      return res.status === 200;
    }
    return this.fail(res, reference, "checking blob");
  }

  /**
   * A blob as a stream. Bytes are hashed as they pass and the stream fails at the end if they
   * do not match `desc.digest`/`desc.size`, so a consumer that commits only on a clean end (the
   * store's putBlob) never keeps bad data. A dropped connection resumes with a Range request
   * (or skips the bytes already sent if the registry ignores Range).
   */
  fetchBlob(repo: RemoteRepository, desc: Pick<Descriptor, "digest" | "size" | "mediaType">, options: FetchBlobOptions = {}): Readable {
    const reference = options.reference ?? `${repo.registry}/${repo.repository}@${desc.digest}`;
    const meter = new ProgressMeter(options.onProgress, { direction: "pull", reference, digest: desc.digest, mediaType: desc.mediaType, total: desc.size });
    const verify = options.verify !== false;
    const self = this;
    async function* chunks(): AsyncGenerator<Buffer> {
      const hash = verify ? createHash("sha256") : undefined;
      let offset = 0;
      for (let attempt = 0; ; attempt++) {
        const headers: Record<string, string> = {};
        if (offset > 0) headers.Range = `bytes=${offset}-`;
        const res = await self.request(
          { registry: repo.registry, scopes: [repositoryScope(repo.repository, ["pull"])], reference },
          (base) => ({ method: "GET", url: apiUrl(base, repo, `blobs/${desc.digest}`), headers }),
        );
        if (res.status !== 200 && res.status !== 206) await self.fail(res, reference, "blob");
        // A registry that ignores Range resends from 0: drop what we already passed on.
        let skip = res.status === 200 ? offset : 0;
        if (res.status === 206) {
          const start = /bytes (\d+)-/.exec(header(res, "content-range") ?? "")?.[1];
          if (start === undefined || Number(start) !== offset) {
            discard(res);
            throw new RegistryError("protocol", reference, `registry answered Range bytes=${offset}- with ${header(res, "content-range") ?? "no Content-Range"}`);
          }
        }
        meter.state(attempt === 0 ? "downloading" : "retrying");
        try {
          for await (const raw of res.body) {
            let chunk = raw as Buffer;
            if (skip > 0) {
              if (chunk.length <= skip) {
                skip -= chunk.length;
                continue;
              }
              chunk = chunk.subarray(skip);
              skip = 0;
            }
            offset += chunk.length;
            if (offset > desc.size) {
              res.body.destroy();
              throw new RegistryError("digest-mismatch", reference, `blob ${desc.digest} is larger than its descriptor's ${desc.size} bytes`);
            }
            hash?.update(chunk);
            meter.add(chunk.length, "downloading");
            yield chunk;
          }
          if (offset < desc.size) {
            // The body ended early without an error: treat it as a dropped connection.
            const err: NodeJS.ErrnoException = new Error("blob body ended early");
            err.code = "ECONNRESET";
            throw err;
          }
          break;
        } catch (err) {
          if (err instanceof RegistryError || !isTransientNetworkError(err) || attempt >= self.retry.retries) {
            if (err instanceof RegistryError) throw err;
            throw new RegistryError("unreachable", reference, `download of ${desc.digest} failed at byte ${offset}: ${(err as Error).message}`, { cause: err });
          }
          await wait(backoffDelay(self.retry, attempt));
        }
      }
      if (hash !== undefined) {
        const actual = `sha256:${hash.digest("hex")}`;
        if (actual !== desc.digest) {
          throw new RegistryError("digest-mismatch", reference, `digest mismatch: unexpected content digest ${actual}, expected ${desc.digest}`);
        }
      }
      meter.state("done");
    }
    return Readable.from(chunks(), { objectMode: false, highWaterMark: 1 << 20 });
  }

  /**
   * Uploads a blob unless the repository has it: existence check, then a cross-repository
   * mount when `mountFrom` names a repository holding it, else a monolithic PUT (or PATCH
   * chunks with `chunkSize`, resumed from the registry's Range after a dropped connection).
   */
  async pushBlob(repo: RemoteRepository, desc: Pick<Descriptor, "digest" | "size" | "mediaType">, source: BlobSource, options: PushBlobOptions = {}): Promise<PushBlobResult> {
    const reference = options.reference ?? `${repo.registry}/${repo.repository}@${desc.digest}`;
    const meter = new ProgressMeter(options.onProgress, { direction: "push", reference, digest: desc.digest, mediaType: desc.mediaType, total: desc.size });
    if (options.skipExistenceCheck !== true && (await this.blobExists(repo, desc.digest, ["pull", "push"]))) {
      meter.state("exists", desc.size);
      return "exists";
    }
    const scopes = [repositoryScope(repo.repository, ["pull", "push"])];
    const mountFrom = options.mountFrom !== undefined && options.mountFrom !== repo.repository ? options.mountFrom : undefined;
    if (mountFrom !== undefined) scopes.push(repositoryScope(mountFrom, ["pull"]));
    const target: RequestTarget = { registry: repo.registry, scopes, reference };

    for (let attempt = 0; ; attempt++) {
      const startUrl = (base: URL): URL => {
        const u = apiUrl(base, repo, "blobs/uploads/");
        if (mountFrom !== undefined && attempt === 0) {
          u.searchParams.set("mount", desc.digest);
          u.searchParams.set("from", mountFrom);
        }
        return u;
      };
      const started = await this.request(target, (base) => ({ method: "POST", url: startUrl(base) }));
      if (started.status === 201) {
        discard(started);
        meter.state("mounted", desc.size);
        return "mounted";
      }
      if (started.status !== 202) await this.fail(started, reference, "starting blob upload");
      discard(started);
      let location = uploadLocation(started);
      try {
        if (options.chunkSize === undefined || desc.size <= options.chunkSize) {
          const put = new URL(location);
          put.searchParams.set("digest", desc.digest);
          meter.state("uploading", 0);
          const res = await this.request({ ...target, retry: false }, () => ({
            method: "PUT",
            url: put,
            headers: { "Content-Type": "application/octet-stream", "Content-Length": String(desc.size) },
            body: () => source.open(0).pipe(countingStream((n) => meter.add(n, "uploading"))),
          }));
          if (res.status !== 201) await this.fail(res, reference, "uploading blob");
          discard(res);
        } else {
          location = await this.uploadChunks(target, location, desc.size, options.chunkSize, source, meter);
          const put = new URL(location);
          put.searchParams.set("digest", desc.digest);
          const res = await this.request({ ...target, retry: false }, () => ({ method: "PUT", url: put }));
          if (res.status !== 201) await this.fail(res, reference, "completing blob upload");
          discard(res);
        }
        meter.state("done", desc.size);
        return "uploaded";
      } catch (err) {
        const transient = isTransientNetworkError(err) || (err instanceof RegistryError && (err.kind === "server" || err.kind === "unreachable"));
        if (!transient) throw err;
        if (attempt >= this.retry.retries) {
          if (err instanceof RegistryError) throw err;
          throw new RegistryError("unreachable", reference, `upload of ${desc.digest} failed: ${(err as Error).message}`, { cause: err });
        }
        meter.state("retrying", 0);
        await wait(backoffDelay(this.retry, attempt));
      }
    }
  }

  private async uploadChunks(target: RequestTarget, startLocation: string, size: number, chunkSize: number, source: BlobSource, meter: ProgressMeter): Promise<string> {
    let location = startLocation;
    let offset = 0;
    let failures = 0;
    while (offset < size) {
      const end = Math.min(offset + chunkSize, size);
      const from = offset;
      try {
        const res = await this.request({ ...target, retry: false }, () => ({
          method: "PATCH",
          url: new URL(location),
          headers: {
            "Content-Type": "application/octet-stream",
            "Content-Range": `${from}-${end - 1}`,
            "Content-Length": String(end - from),
          },
          body: () => source.open(from).pipe(sliceStream(end - from)),
        }));
        if (res.status !== 202) await this.fail(res, target.reference, "uploading blob chunk");
        discard(res);
        location = uploadLocation(res);
        meter.add(end - from, "uploading");
        offset = end;
      } catch (err) {
        if (!isTransientNetworkError(err) || failures >= this.retry.retries) throw err;
        failures++;
        await wait(backoffDelay(this.retry, failures - 1));
        // Ask the registry how much it kept and go on from there.
        const status = await this.request(target, () => ({ method: "GET", url: new URL(location) }));
        if (status.status !== 204) await this.fail(status, target.reference, "resuming blob upload");
        discard(status);
        location = uploadLocation(status);
        const range = /^(?:bytes=)?0-(\d+)$/.exec(header(status, "range") ?? "");
        offset = range?.[1] === undefined ? 0 : Number(range[1]) + 1;
        meter.state("retrying", offset);
      }
    }
    return location;
  }

  /** Uploads a manifest (last, after its blobs) under a tag or digest; returns its digest. */
  async putManifest(ref: RemoteReference, bytes: Buffer, mediaType: string): Promise<Digest> {
    const reference = formatRemoteReference(ref);
    const digest = sha256Digest(bytes);
    const selector = ref.digest ?? ref.tag ?? "latest";
    if (ref.digest !== undefined && ref.digest !== digest) {
      throw new RegistryError("digest-mismatch", reference, `manifest hashes to ${digest}`);
    }
    const res = await this.request(
      { registry: ref.registry, scopes: [repositoryScope(ref.repository, ["pull", "push"])], reference },
      (base) => ({ method: "PUT", url: apiUrl(base, ref, `manifests/${selector}`), headers: { "Content-Type": mediaType }, body: bytes }),
    );
    if (res.status !== 201) await this.fail(res, reference, "uploading manifest");
    discard(res);
    const announced = header(res, "docker-content-digest");
    if (announced !== undefined && announced.startsWith("sha256:") && announced !== digest) {
      throw new RegistryError("digest-mismatch", reference, `registry stored the manifest as ${announced}, expected ${digest}`);
    }
    return digest;
  }

  /**
   * Every repository a registry lists in its `/v2/_catalog` (the distribution spec's optional
   * listing, scope `registry:catalog:*`), page by page (`Link: <…>; rel="next"`).
   */
  async catalog(registry: string): Promise<string[]> {
    const names: string[] = [];
    let next: string | undefined = "/v2/_catalog?n=1000";
    for (let pages = 0; next !== undefined && pages < 1000; pages++) {
      const path: string = next;
      const res = await this.request({ registry, scopes: ["registry:catalog:*"], reference: registry }, (base) => ({ method: "GET", url: new URL(path, base) }));
      if (res.status !== 200) await this.fail(res, registry, "catalog");
      const body = JSON.parse((await readBody(res)).toString("utf8")) as { repositories?: unknown };
      if (!Array.isArray(body.repositories)) throw new RegistryError("protocol", registry, "the catalog is not a list of repositories");
      names.push(...body.repositories.filter((r): r is string => typeof r === "string"));
      next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, "link") ?? "")?.[1];
    }
    return names;
  }

  /** Docker Hub's search API (what `docker search` asks for docker.io): its results as it sends them. */
  async searchHub(term: string, limit: number): Promise<Array<{ name: string; description?: string; star_count?: number; is_official?: boolean }>> {
    const url = new URL("https://index.docker.io/v1/search");
    url.searchParams.set("q", term);
    url.searchParams.set("n", String(limit));
    let res: HttpResponse;
    try {
      res = await this.transport.send({ method: "GET", url });
    } catch (err) {
      throw new RegistryError("unreachable", DOCKER_HUB, `cannot search Docker Hub: ${url.host} is unreachable: ${(err as Error).message}`, { cause: err });
    }
    if (res.status !== 200) await this.fail(res, DOCKER_HUB, "search");
    const body = JSON.parse((await readBody(res)).toString("utf8")) as { results?: unknown };
    if (!Array.isArray(body.results)) throw new RegistryError("protocol", DOCKER_HUB, "the search answer has no results list");
    return body.results as Array<{ name: string; description?: string; star_count?: number; is_official?: boolean }>;
  }

  /** The API endpoint of a registry: https, or for an insecure one https-without-verification falling back to http (Docker's order). */
  private endpoint(registry: string): Promise<Endpoint> {
    let p = this.endpoints.get(registry);
    if (p === undefined) {
      p = this.discoverEndpoint(registry);
      this.endpoints.set(registry, p);
      p.catch(() => this.endpoints.delete(registry));
    }
    return p;
  }

  private async discoverEndpoint(registry: string): Promise<Endpoint> {
    const host = registry === DOCKER_HUB ? "registry-1.docker.io" : registry;
    const insecure = this.isInsecure(registry);
    const candidates: Endpoint[] = [{ base: new URL(`https://${host}`), insecureTls: insecure }];
    if (insecure) candidates.push({ base: new URL(`http://${host}`), insecureTls: false });
    let lastError: unknown;
    for (const candidate of candidates) {
      for (let attempt = 0; ; attempt++) {
        let res: HttpResponse;
        try {
          res = await this.transport.send({ method: "GET", url: new URL("/v2/", candidate.base), insecureTls: candidate.insecureTls });
        } catch (err) {
          lastError = err;
          // A plain-http server answers a TLS hello with garbage: move on to http at once;
          // only the last candidate is retried.
          const last = candidate === candidates[candidates.length - 1];
          if (last && isTransientNetworkError(err) && attempt < this.retry.retries) {
            await wait(backoffDelay(this.retry, attempt));
            continue;
          }
          break;
        }
        if (isTransientStatus(res.status) && attempt < this.retry.retries) {
          discard(res);
          await wait(backoffDelay(this.retry, attempt, header(res, "retry-after")));
          continue;
        }
        discard(res);
        if (res.status === 200) {
          this.auth.learnChallenge(registry, undefined);
          return candidate;
        }
        if (res.status === 401) {
          this.auth.learnChallenge(registry, header(res, "www-authenticate"));
          return candidate;
        }
        throw new RegistryError(kindForStatus(res.status), registry, `${candidate.base.origin}/v2/ is not a registry API endpoint`, { status: res.status });
      }
    }
    const message = lastError instanceof Error ? lastError.message : String(lastError);
    throw new RegistryError("unreachable", registry, `registry unreachable: ${message}`, { cause: lastError });
  }

  /** A request with auth (a 401 refreshes the token once) and bounded retries. */
  private async request(target: RequestTarget, build: (base: URL) => HttpRequest): Promise<HttpResponse> {
    const endpoint = await this.endpoint(target.registry);
    const canRetry = target.retry !== false;
    let refreshedAuth = false;
    for (let attempt = 0; ; ) {
      const authorization = await this.auth.authorization(target.registry, target.scopes, target.reference);
      const req = build(endpoint.base);
      req.insecureTls = endpoint.insecureTls;
      if (authorization !== undefined) req.headers = { ...req.headers, Authorization: authorization };
      let res: HttpResponse;
      try {
        res = await this.transport.send(req);
      } catch (err) {
        if (canRetry && isTransientNetworkError(err) && attempt < this.retry.retries) {
          await wait(backoffDelay(this.retry, attempt++));
          continue;
        }
        if (!canRetry && isTransientNetworkError(err)) throw err;
        throw new RegistryError("unreachable", target.reference, `registry ${target.registry} unreachable: ${(err as Error).message}`, { cause: err });
      }
      if (res.status === 401 && !refreshedAuth) {
        // A token may have expired or the registry may have changed its mind: learn the
        // challenge again and retry once with fresh authorization.
        refreshedAuth = true;
        discard(res);
        this.auth.invalidate(target.registry, target.scopes);
        this.auth.learnChallenge(target.registry, header(res, "www-authenticate"));
        continue;
      }
      if (canRetry && isTransientStatus(res.status) && attempt < this.retry.retries) {
        discard(res);
        await wait(backoffDelay(this.retry, attempt++, header(res, "retry-after")));
        continue;
      }
      return res;
    }
  }

  /** Throws the RegistryError for an unexpected response, with the registry's own error code and message. */
  private async fail(res: HttpResponse, reference: string, what: string): Promise<never> {
    let code: string | undefined;
    let message: string | undefined;
    try {
      const body = JSON.parse((await readBody(res, 64 * 1024)).toString("utf8")) as { errors?: { code?: string; message?: string }[] };
      code = body.errors?.[0]?.code;
      message = body.errors?.[0]?.message;
    } catch {
      // not a distribution-spec error document
    }
    const kind = kindForStatus(res.status);
    if (kind === "unauthorized") {
      // Docker's words (the registry's UNAUTHORIZED error), and what to do about it
      const registry = res.url.host === "registry-1.docker.io" ? DOCKER_HUB : res.url.host;
      const detail = `unauthorized: ${message ?? "authentication required"}; log in with \`berth login ${registry}\` (or check the username and password stored for it)`;
      throw new RegistryError(kind, reference, detail, { status: res.status, code });
    }
    const defaults: Record<string, string> = {
      denied: "access denied",
      "not-found": `${what} not found`,
      "rate-limited": "too many requests (rate limited by the registry)",
    };
    const detail = [defaults[kind] ?? `${what} failed`, code, message].filter((s) => s !== undefined && s !== "").join(": ");
    throw new RegistryError(kind, reference, detail, { status: res.status, code });
  }
}

function hostOf(registry: string): string {
  if (registry.startsWith("[")) return registry.slice(1, registry.indexOf("]"));
  const colon = registry.lastIndexOf(":");
  return colon > 0 && registry.indexOf(":") === colon ? registry.slice(0, colon) : registry;
}

function apiUrl(base: URL, repo: RemoteRepository, tail: string): URL {
  return new URL(`/v2/${repo.repository}/${tail}`, base);
}

function uploadLocation(res: HttpResponse): string {
  const location = header(res, "location");
  if (location === undefined) throw new RegistryError("protocol", res.url.toString(), "upload response without a Location header");
  return new URL(location, res.url).toString();
}

function parseJson<T>(bytes: Buffer, reference: string): T {
  try {
    return JSON.parse(bytes.toString("utf8")) as T;
  } catch (err) {
    throw new RegistryError("protocol", reference, `manifest is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** A registry that says `application/json` (or nothing): the media type the document names itself. */
function mediaTypeInside(bytes: Buffer): string {
  try {
    const doc = JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown; manifests?: unknown; config?: unknown; schemaVersion?: unknown };
    if (typeof doc.mediaType === "string") return doc.mediaType;
    if (Array.isArray(doc.manifests)) return MediaType.OciIndex;
    if (doc.config !== undefined) return MediaType.OciManifest;
    if (doc.schemaVersion === 1) return "application/vnd.docker.distribution.manifest.v1+json";
  } catch {
    // fall through
  }
  return "application/octet-stream";
}

function parseImageManifest(raw: RawManifest, reference: string): ImageManifest {
  const m = parseJson<ImageManifest>(raw.bytes, reference);
  const validDescriptor = (d: Descriptor | undefined): boolean =>
    d !== undefined && typeof d.mediaType === "string" && typeof d.digest === "string" && isDigest(d.digest) && Number.isSafeInteger(d.size) && d.size >= 0;
  if (m.schemaVersion !== 2 || !validDescriptor(m.config) || !Array.isArray(m.layers) || !m.layers.every(validDescriptor)) {
    throw new RegistryError("protocol", reference, `manifest ${raw.digest} is not a valid schema 2 image manifest`);
  }
  return m;
}

/** Passes bytes through, reporting how many went by. */
function countingStream(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

/** Passes the first `length` bytes and ends. */
function sliceStream(length: number): Transform {
  let left = length;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (left <= 0) return cb();
      const part = chunk.length <= left ? chunk : chunk.subarray(0, left);
      left -= part.length;
      this.push(part);
      if (left === 0) this.push(null); // end the request body without reading the rest
      cb();
    },
  });
}
