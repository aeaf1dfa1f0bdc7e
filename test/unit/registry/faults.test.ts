import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { sha256Digest } from "../../../src/image/digest.js";
import { RegistryClient, RegistryError } from "../../../src/registry/index.js";

/** A fake registry boundary: scripted responses per blob GET, to provoke drops, 5xx and 429. */
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, attempt: number) => void;

let server: http.Server | undefined;
async function fakeRegistry(blobHandler: Handler): Promise<{ host: string; requests: string[] }> {
  const requests: string[] = [];
  let attempt = 0;
  server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers.range ?? ""}`.trim());
    if (req.url === "/v2/") {
      res.writeHead(200).end("{}");
      return;
    }
    blobHandler(req, res, attempt++);
  });
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  server = undefined;
});

const blob = randomBytes(512 * 1024);
const desc = { digest: sha256Digest(blob), size: blob.length, mediaType: "application/octet-stream" };
const FAST = { retries: 3, baseDelayMs: 5, maxDelayMs: 20 };

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function serveFrom(res: http.ServerResponse, req: http.IncomingMessage, honourRange: boolean, dropAfter?: number): void {
  const range = /bytes=(\d+)-/.exec(req.headers.range ?? "");
  const start = honourRange && range ? Number(range[1]) : 0;
  const body = blob.subarray(start);
  res.writeHead(start > 0 ? 206 : 200, {
    "Content-Length": String(body.length),
    ...(start > 0 ? { "Content-Range": `bytes ${start}-${blob.length - 1}/${blob.length}` } : {}),
  });
  if (dropAfter === undefined) {
    res.end(body);
    return;
  }
  res.write(body.subarray(0, dropAfter), () => setTimeout(() => res.socket?.destroy(), 20));
}

describe("blob download faults", () => {
  it("resumes a dropped download with a Range request", async () => {
    const fake = await fakeRegistry((req, res, n) => serveFrom(res, req, true, n === 0 ? 100_000 : undefined));
    const client = new RegistryClient({ credentials: async () => undefined, retry: FAST });
    try {
      const got = await collect(client.fetchBlob({ registry: fake.host, repository: "a/b" }, desc));
      expect(got.equals(blob)).toBe(true);
      expect(fake.requests.filter((r) => r.startsWith("GET /v2/a/b/blobs/"))[1]).toMatch(/bytes=\d+-$/);
    } finally {
      client.close();
    }
  });

  it("resumes when the registry ignores Range, skipping bytes already passed on", async () => {
    const fake = await fakeRegistry((req, res, n) => serveFrom(res, req, false, n === 0 ? 200_000 : undefined));
    const client = new RegistryClient({ credentials: async () => undefined, retry: FAST });
    try {
      expect((await collect(client.fetchBlob({ registry: fake.host, repository: "a/b" }, desc))).equals(blob)).toBe(true);
    } finally {
      client.close();
    }
  });

  it("retries 503 and succeeds", async () => {
    const fake = await fakeRegistry((req, res, n) => (n < 2 ? res.writeHead(503).end() : serveFrom(res, req, true)));
    const client = new RegistryClient({ credentials: async () => undefined, retry: FAST });
    try {
      expect((await collect(client.fetchBlob({ registry: fake.host, repository: "a/b" }, desc))).equals(blob)).toBe(true);
    } finally {
      client.close();
    }
  });

  it("gives up on 429 after bounded retries with kind rate-limited", async () => {
    const fake = await fakeRegistry((_req, res) => res.writeHead(429, { "Retry-After": "0" }).end());
    const client = new RegistryClient({ credentials: async () => undefined, retry: FAST });
    try {
      const err = await collect(client.fetchBlob({ registry: fake.host, repository: "a/b" }, desc)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).kind).toBe("rate-limited");
      expect((err as RegistryError).status).toBe(429);
      expect(fake.requests.filter((r) => r.startsWith("GET /v2/a/b")).length).toBe(FAST.retries + 1);
    } finally {
      client.close();
    }
  });

  it("fails on a blob longer than its descriptor", async () => {
    const fake = await fakeRegistry((_req, res) => res.writeHead(200).end(Buffer.concat([blob, Buffer.from("extra")])));
    const client = new RegistryClient({ credentials: async () => undefined, retry: FAST });
    try {
      await expect(collect(client.fetchBlob({ registry: fake.host, repository: "a/b" }, desc))).rejects.toMatchObject({ kind: "digest-mismatch" });
    } finally {
      client.close();
    }
  });
});
