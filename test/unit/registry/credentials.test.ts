import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dockerConfigPath, readCredentials, removeCredentials, storeCredentials } from "../../../src/registry/index.js";

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-creds-"));
  path = join(dir, "config.json");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("Docker config credentials", () => {
  it("honours DOCKER_CONFIG", () => {
    expect(dockerConfigPath({ DOCKER_CONFIG: "/x/y" })).toBe("/x/y/config.json");
    expect(dockerConfigPath({ HOME: "/h" })).toMatch(/\.docker\/config\.json$/);
  });

  it("stores auths as base64 user:password, mode 0600, keeping other settings", async () => {
    await writeFile(path, JSON.stringify({ auths: { "other.io": { auth: Buffer.from("a:b").toString("base64") } }, credsStore: "", psFormat: "x" }));
    await storeCredentials("127.0.0.1:5000", { username: "me", password: "p:w" }, path);
    const json = JSON.parse(await readFile(path, "utf8")) as { auths: Record<string, { auth: string }>; psFormat: string };
    expect(json.psFormat).toBe("x");
    expect(Buffer.from(json.auths["127.0.0.1:5000"]!.auth, "base64").toString()).toBe("me:p:w");
    expect(json.auths["other.io"]).toBeDefined();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readCredentials("127.0.0.1:5000", path)).toEqual({ username: "me", password: "p:w" });
  });

  it("reads Docker Hub's v1 key and https:// keys written by docker login", async () => {
    await writeFile(
      path,
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: Buffer.from("hub:secret").toString("base64") },
          "https://reg.example:8443": { auth: Buffer.from("u:p").toString("base64") },
          "tok.example": { identitytoken: "refresh-me" },
        },
      }),
    );
    expect(await readCredentials("docker.io", path)).toEqual({ username: "hub", password: "secret" });
    expect(await readCredentials("reg.example:8443", path)).toEqual({ username: "u", password: "p" });
    expect(await readCredentials("tok.example", path)).toEqual({ identityToken: "refresh-me" });
    expect(await readCredentials("nowhere", path)).toBeUndefined();
  });

  it("logout removes only that registry", async () => {
    await storeCredentials("a.io", { username: "x", password: "y" }, path);
    await storeCredentials("docker.io", { username: "x", password: "y" }, path);
    expect(await removeCredentials("a.io", path)).toBe(true);
    expect(await removeCredentials("a.io", path)).toBe(false);
    const json = JSON.parse(await readFile(path, "utf8")) as { auths: Record<string, unknown> };
    expect(Object.keys(json.auths)).toEqual(["https://index.docker.io/v1/"]);
  });

  it("names the file when it is not JSON", async () => {
    await writeFile(path, "{not json");
    await expect(readCredentials("a.io", path)).rejects.toThrow(path);
  });

  it("reads nothing from a missing file", async () => {
    expect(await readCredentials("a.io", join(dir, "none.json"))).toBeUndefined();
  });
});

describe("Docker credential helpers", () => {
  it("stores, reads and erases through docker-credential-<credsStore>, keeping no secret in the file", async () => {
    const bin = join(dir, "bin");
    const { mkdir, chmod } = await import("node:fs/promises");
    await mkdir(bin);
    const db = join(dir, "helper-db");
    // a credential helper speaking Docker's protocol, keeping one entry per server URL in files
    await writeFile(
      join(bin, "docker-credential-berthtest"),
      `#!/bin/sh
set -e
input=$(cat)
case "$1" in
  store) url=$(printf '%s' "$input" | sed 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/'); mkdir -p "${db}"; printf '%s' "$input" > "${db}/$(printf '%s' "$url" | tr '/:' '__')" ;;
  get) f="${db}/$(printf '%s' "$input" | tr '/:' '__')"; if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) rm -f "${db}/$(printf '%s' "$input" | tr '/:' '__')" ;;
esac
`,
    );
    await chmod(join(bin, "docker-credential-berthtest"), 0o755);
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath ?? ""}`;
    try {
      await writeFile(path, JSON.stringify({ credsStore: "berthtest", auths: {} }));
      expect(await readCredentials("reg.example:5000", path)).toBeUndefined();
      await storeCredentials("reg.example:5000", { username: "u", password: "s3cret" }, path);
      expect(await readFile(path, "utf8")).not.toContain("s3cret");
      expect(await readCredentials("reg.example:5000", path)).toEqual({ username: "u", password: "s3cret" });
      expect(await removeCredentials("reg.example:5000", path)).toBe(true);
      expect(await readCredentials("reg.example:5000", path)).toBeUndefined();
      // a per-registry helper that does not exist is a clear error naming it
      await writeFile(path, JSON.stringify({ credHelpers: { "other.io": "nonexistent" } }));
      await expect(readCredentials("other.io", path)).rejects.toThrow(/docker-credential-nonexistent/);
    } finally {
      process.env.PATH = oldPath;
    }
  });
});
