import http from "node:http";
import https from "node:https";
import { applyDeferredExtraCa } from "../tls-ca.js";
import type { Readable } from "node:stream";

/**
 * The HTTP layer under the registry client: node:http(s) with keep-alive agents.
 *
 * Why node:http and not fetch: blobs flow as Node streams from the socket into hashing and
 * the store's file writer with backpressure and no WHATWG-stream adaptation per chunk; uploads
 * take a Node Readable body directly; redirects (blob GETs are often redirected to object
 * storage) are followed here so that the Authorization header never leaves its host.
 */

export type HttpMethod = "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";

export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  /** A buffer, or a factory so that a retried request can reopen its body stream. */
  body?: Buffer | (() => Readable);
  /** Accept any TLS certificate for this request (an insecure registry). */
  insecureTls?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body stream; callers must consume or `discard()` it so the socket is reused. */
  body: http.IncomingMessage;
  /** The final URL after redirects (Location headers are relative to it). */
  url: URL;
}

/** Network errors worth a retry: the server or the path may come back. */
const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ECONNABORTED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
]);

export function isTransientNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && TRANSIENT_CODES.has(code)) return true;
  return err.message === "socket hang up" || err.message === "aborted";
}

export function isTransientStatus(status: number): boolean {
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

export interface TransportOptions {
  /** Verify TLS certificates (false: accept any, like `--tls-verify=false`). */
  tlsVerify?: boolean;
  /** Idle socket timeout in ms before a request fails with ETIMEDOUT. */
  timeoutMs?: number;
  /** Connections per host; layers go several at once. */
  maxSockets?: number;
}

const MAX_REDIRECTS = 5;

export class HttpTransport {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly insecureHttpsAgent: https.Agent;
  private readonly timeoutMs: number;

  constructor(options: TransportOptions = {}) {
    applyDeferredExtraCa();
    const maxSockets = options.maxSockets ?? 16;
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets });
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets,
      rejectUnauthorized: options.tlsVerify !== false,
    });
    this.insecureHttpsAgent = new https.Agent({ keepAlive: true, maxSockets, rejectUnauthorized: false });
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** One request, following GET/HEAD redirects; no retries (the client decides those). */
  async send(request: HttpRequest): Promise<HttpResponse> {
    let url = request.url;
    let headers = { ...request.headers };
    for (let hop = 0; ; hop++) {
      const res = await this.sendOnce({ ...request, url, headers });
      const location = res.headers.location;
      const redirect = res.status === 301 || res.status === 302 || res.status === 303 || res.status === 307 || res.status === 308;
      if (!redirect || location === undefined || (request.method !== "GET" && request.method !== "HEAD") || hop >= MAX_REDIRECTS) {
        return res;
      }
      discard(res);
      const next = new URL(location, url);
      if (next.host !== url.host) {
        // Credentials are for the registry, not for the storage it redirects to.
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"));
      }
      url = next;
    }
  }

  private sendOnce(request: HttpRequest): Promise<HttpResponse> {
    const isHttps = request.url.protocol === "https:";
    const lib = isHttps ? https : http;
    const headers: Record<string, string> = { "User-Agent": "berth/0.1", ...request.headers };
    const body = request.body;
    if (Buffer.isBuffer(body)) headers["Content-Length"] = String(body.length);
    else if (body === undefined && (request.method === "PUT" || request.method === "POST" || request.method === "PATCH")) {
      headers["Content-Length"] ??= "0";
    }
    return new Promise<HttpResponse>((resolve, reject) => {
      const req = lib.request(request.url, {
        method: request.method,
        headers,
        agent: isHttps ? (request.insecureTls === true ? this.insecureHttpsAgent : this.httpsAgent) : this.httpAgent,
      });
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(err);
      };
      req.setTimeout(this.timeoutMs, () => {
        const err: NodeJS.ErrnoException = new Error(`request to ${request.url.host} timed out`);
        err.code = "ETIMEDOUT";
        fail(err);
      });
      req.on("error", fail);
      req.on("response", (res) => {
        if (settled) {
          res.resume();
          return;
        }
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url: request.url });
      });
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        const stream = body();
        stream.on("error", (err) => fail(err));
        stream.pipe(req);
      }
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    this.insecureHttpsAgent.destroy();
  }
}

/** Drops a response body we do not need, keeping the connection reusable. */
export function discard(res: HttpResponse): void {
  res.body.resume();
}

const MAX_TEXT = 4 * 1024 * 1024;

/** Reads a (small) response body: manifests, tokens, error documents. Capped at 4 MiB. */
export async function readBody(res: HttpResponse, limit = MAX_TEXT): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) {
      res.body.destroy();
      throw new Error(`response body larger than ${limit} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** One header value (the first, if repeated). */
export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
