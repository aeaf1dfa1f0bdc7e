import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildError } from "../../../src/builder/index.js";
import type { Store } from "../../../src/store/index.js";
import { readImageFile, runBuild, statImage, workspace, writeContext } from "./helpers.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
let server: Server;
let base = "";
const BODY = "served over http\n";
beforeAll(async () => {
  ws = await workspace("remote");
  server = createServer((req, res) => {
    if (req.url === "/files/data.txt") {
      res.writeHead(200, { "content-type": "text/plain", "last-modified": "Tue, 14 Nov 2023 22:13:20 GMT" });
      res.end(BODY);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  ws?.cleanup();
});

describe("ADD from a URL and secrets from the environment", () => {
  it("downloads with --checksum, keeps the name, 0600, not unpacked; a wrong checksum fails", async () => {
    const sum = "sha256:" + createHash("sha256").update(BODY).digest("hex");
    const r = await runBuild(ws, writeContext(join(ws.dir, "c1"), { Dockerfile: `FROM busybox\nADD --checksum=${sum} ${base}/files/data.txt /dl/\n` }));
    expect(await readImageFile(r.image, "/dl/data.txt")).toBe(BODY);
    expect(statImage(r.image, "/dl/data.txt")!.mode & 0o777).toBe(0o600);
    const bad = "sha256:" + "0".repeat(64);
    const err = await runBuild(ws, writeContext(join(ws.dir, "c2"), { Dockerfile: `FROM busybox\nADD --checksum=${bad} ${base}/files/data.txt /dl/\n` })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).step?.range.start.line).toBe(2);
  }, 60_000);

  it("--secret env= reaches RUN --mount=type=secret,env= and no layer", async () => {
    const r = await runBuild(ws, writeContext(join(ws.dir, "c3"), { Dockerfile: "FROM busybox\nRUN --mount=type=secret,id=tok,env=TOKEN printf %s \"$TOKEN\" | wc -c > /ok\n" }), {
      secrets: [{ id: "tok", env: "MY_TOKEN" }],
      environment: { MY_TOKEN: "s3cr3t-env-value" },
    });
    expect((await readImageFile(r.image, "/ok"))?.trim()).toBe("16");
    expect(JSON.stringify(r.image.config)).not.toContain("s3cr3t");
  }, 60_000);

  it("a required secret that is missing fails the step", async () => {
    const err = await runBuild(ws, writeContext(join(ws.dir, "c4"), { Dockerfile: "FROM busybox\nRUN --mount=type=secret,id=nope,required=true true\n" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).message).toContain("secret nope");
  }, 60_000);
});
