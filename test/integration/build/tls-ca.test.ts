import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workspace, writeContext } from "./helpers.js";

// NODE_EXTRA_CA_CERTS through bin/berth run as an executable, as users run it: its shebang hides
// the variable from Node (which would parse it at every start) and berth applies it before its
// first TLS connection (src/tls-ca.ts). An ADD of an https URL served with a certificate only that
// file trusts must work with it and fail without it.

const BERTH = join(__dirname, "../../../bin/berth");
let ws: Awaited<ReturnType<typeof workspace>>;
let server: Server;
let url: string;
let cert: string;

beforeAll(async () => {
  ws = await workspace("tls-ca");
  cert = join(ws.dir, "cert.pem");
  const key = join(ws.dir, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
  server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.end("served over tls\n"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/f.txt`;
}, 60_000);
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  ws?.cleanup();
});

/** bin/berth as an executable (its shebang), asynchronously: the server answers from this process. */
function berth(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(BERTH, ["--root", join(ws.dir, "store"), ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (out += b.toString()));
    child.on("close", (code) => resolve({ code, out }));
  });
}

describe("NODE_EXTRA_CA_CERTS, applied late", () => {
  it("an ADD of an https URL trusts the file's certificates, and fails without them", async () => {
    const ctx = writeContext(join(ws.dir, "ctx"), { Dockerfile: `FROM busybox\nADD ${url} /f.txt\nRUN cat /f.txt\n` });
    const env = { ...process.env, BERTH_ROOT: "" };
    delete env.NODE_EXTRA_CA_CERTS;
    const trusted = await berth(["build", "--no-cache", "--progress=plain", ctx], { ...env, NODE_EXTRA_CA_CERTS: cert });
    expect(trusted.out).toContain("served over tls");
    expect(trusted.code).toBe(0);
    const untrusted = await berth(["build", "--no-cache", "--progress=plain", ctx], env);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.out).toContain(url);
  }, 60_000);
});
