import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { sha256Digest } from "../../../src/image/digest.js";
import { RegistryClient } from "../../../src/registry/index.js";

/**
 * A fake registry upload endpoint (the boundary faked to provoke faults the real one won't):
 * keeps received bytes per upload session, answers status GETs with Range, can drop the
 * connection in the middle of a chosen request's body.
 */
let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  server = undefined;
});

interface Fake {
  host: string;
  log: string[];
  stored: Map<string, Buffer>;
}

async function fakeUploads(dropRequest: (method: string, n: number) => number | undefined): Promise<Fake> {
  const sessions = new Map<string, Buffer>();
  const stored = new Map<string, Buffer>();
  const log: string[] = [];
  const counts: Record<string, number> = {};
  let next = 0;
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const method = req.method ?? "GET";
    counts[method] = (counts[method] ?? 0) + 1;
    log.push(`${method} ${url.pathname}${url.search}`);
    if (url.pathname === "/v2/") return void res.writeHead(200).end();
    if (method === "HEAD") return void res.writeHead(404).end();
    if (method === "POST") {
      const id = String(next++);
      sessions.set(id, Buffer.alloc(0));
      return void res.writeHead(202, { Location: `/v2/a/b/blobs/uploads/${id}?_state=s${id}`, Range: "0-0" }).end();
    }
    const id = url.pathname.split("/").pop() ?? "";
    const have = sessions.get(id);
    if (have === undefined) return void res.writeHead(404).end();
    if (method === "GET") {
      return void res.writeHead(204, { Location: `/v2/a/b/blobs/uploads/${id}?_state=x`, Range: `0-${have.length - 1}` }).end();
    }
    const drop = dropRequest(method, counts[method] ?? 0);
    let got = 0;
    req.on("data", (c: Buffer) => {
      if (drop !== undefined && got + c.length > drop) {
        sessions.set(id, Buffer.concat([sessions.get(id)!, c.subarray(0, drop - got)]));
        got = drop;
        req.socket.destroy();
        return;
      }
      got += c.length;
      sessions.set(id, Buffer.concat([sessions.get(id)!, c]));
    });
    req.on("end", () => {
      const body = sessions.get(id)!;
      if (method === "PATCH") {
        return void res.writeHead(202, { Location: `/v2/a/b/blobs/uploads/${id}?_state=p`, Range: `0-${body.length - 1}` }).end();
      }
      const digest = url.searchParams.get("digest") ?? "";
      if (`sha256:${createHash("sha256").update(body).digest("hex")}` !== digest) return void res.writeHead(400).end('{"errors":[{"code":"DIGEST_INVALID"}]}');
      stored.set(digest, body);
      res.writeHead(201, { "Docker-Content-Digest": digest }).end();
    });
  });
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, log, stored };
}

const blob = randomBytes(256 * 1024);
const desc = { digest: sha256Digest(blob), size: blob.length, mediaType: "application/octet-stream" };
const source = { size: blob.length, open: (start: number) => Readable.from([blob.subarray(start)]) };
const FAST = { retries: 3, baseDelayMs: 5, maxDelayMs: 20 };

describe("blob upload faults", () => {
  it("a chunked upload dropped mid-chunk resumes from the registry's Range", async () => {
    const fake = await fakeUploads((method, n) => (method === "PATCH" && n === 2 ? 10_000 : undefined));
    const client = new RegistryClient({ credentials: async () => undefined, retry: FAST });
    try {
      expect(await client.pushBlob({ registry: fake.host, repository: "a/b" }, desc, source, { chunkSize: 64 * 1024 })).toBe("uploaded");
      expect(fake.stored.get(desc.digest)?.equals(blob)).toBe(true);
      expect(fake.log.filter((l) => l.startsWith("POST"))).toHaveLength(1); // resumed, not restarted
      expect(fake.log.some((l) => l.startsWith("GET /v2/a/b/blobs/uploads/"))).toBe(true);
    } finally {
      client.close();
    }
  });

  it("a monolithic upload dropped mid-body starts a new upload session", async () => {
    const fake = await fakeUploads((method, n) => (method === "PUT" && n === 1 ? 50_000 : undefined));
    const client = new RegistryClient({ credentials: async () => undefined, retry: FAST });
    try {
      expect(await client.pushBlob({ registry: fake.host, repository: "a/b" }, desc, source)).toBe("uploaded");
      expect(fake.stored.get(desc.digest)?.equals(blob)).toBe(true);
      expect(fake.log.filter((l) => l.startsWith("POST"))).toHaveLength(2);
    } finally {
      client.close();
    }
  });
});
