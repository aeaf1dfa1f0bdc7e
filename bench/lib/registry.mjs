// A throwaway docker-registry on 127.0.0.1 for the benchmarks (the tests have their own,
// with auth variants, in test/helpers/registry.ts).
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import http from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function startRegistry(storage) {
  const port = await freePort();
  const config = join(storage, "..", "registry.yml");
  await mkdir(storage, { recursive: true });
  await writeFile(config, `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child = spawn("/usr/bin/docker-registry", ["serve", config], { stdio: "ignore" });
  for (let i = 0; i < 300; i++) {
    const ok = await new Promise((r) => http.get(`http://127.0.0.1:${port}/v2/`, (res) => { res.resume(); r(res.statusCode === 200); }).on("error", () => r(false)));
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, stop: () => new Promise((r) => { child.once("exit", r); child.kill("SIGTERM"); }) };
}
