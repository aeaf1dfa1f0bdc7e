import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createReadStream, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { importRootfs } from "../../../src/image/index.js";
import type { Store } from "../../../src/store/index.js";
import { debianTarball } from "../../helpers/debian.js";
import { imageFs, readImageFile, runBuild, workspace, writeContext, berthCli } from "./helpers.js";

// RUN --mount=type=ssh against a real ssh-agent (openssh-client) holding a generated key: the
// container gets a socket of its own that forwards to the agent, as BuildKit's does.

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
let agent: ChildProcess | undefined;
let agentSocket = "";

beforeAll(async () => {
  ws = await workspace("ssh");
  agentSocket = join(ws.dir, "agent.sock");
  const key = join(ws.dir, "id_test");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "berth-test-key", "-f", key]);
  agent = spawn("ssh-agent", ["-D", "-a", agentSocket], { stdio: "ignore" });
  for (let i = 0; i < 200 && !existsSync(agentSocket); i++) await new Promise((r) => setTimeout(r, 10));
  execFileSync("ssh-add", ["-q", key], { env: { ...process.env, SSH_AUTH_SOCK: agentSocket }, stdio: "ignore" });
}, 60_000);
afterAll(() => {
  agent?.kill();
  ws?.cleanup();
});

function berth(args: string[], env: Record<string, string | undefined> = {}) {
  return berthCli(join(ws.dir, "store"), args, { env });
}

describe("RUN --mount=type=ssh", () => {
  it("mounts a socket at /run/buildkit/ssh_agent.N (or target), owned and moded as asked, with SSH_AUTH_SOCK; nothing of it stays in the layer", async () => {
    const ctx = writeContext(join(ws.dir, "c1"), {
      Dockerfile: [
        "FROM busybox",
        'RUN --mount=type=ssh echo "$SSH_AUTH_SOCK" > /first && stat -c "%F %u:%g %a" /run/buildkit/ssh_agent.0 >> /first',
        'RUN --mount=type=ssh,id=other,target=/tmp/a.sock,uid=1000,gid=100,mode=0660 echo "$SSH_AUTH_SOCK" > /second && stat -c "%F %u:%g %a" /tmp/a.sock >> /second',
        'RUN --mount=type=ssh,id=missing echo "$SSH_AUTH_SOCK" > /third && ls -A /run/buildkit >> /third 2>&1; true',
        "",
      ].join("\n"),
    });
    const r = await runBuild(ws, ctx, { ssh: [{ id: "default", socket: agentSocket }, { id: "other", socket: agentSocket }] });
    expect(await readImageFile(r.image, "/first")).toBe("/run/buildkit/ssh_agent.0\nsocket 0:0 600\n");
    expect(await readImageFile(r.image, "/second")).toBe("/tmp/a.sock\nsocket 1000:100 660\n");
    // an id the build was not given (and not required): no socket, the variable all the same
    expect(await readImageFile(r.image, "/third")).toMatch(/^\/run\/buildkit\/ssh_agent\.0\nls: \/run\/buildkit: No such file or directory\n$/);
    const fs = imageFs(r.image);
    expect(fs.lstat("run")).toBeUndefined();
    expect(fs.lstat("tmp/a.sock")).toBeUndefined();
    // the key has the socket's place, id, owner and mode, not the agent's keys
    const again = await runBuild(ws, ctx, { ssh: [{ id: "default", socket: agentSocket }, { id: "other", socket: agentSocket }] });
    expect(again.cachedSteps).toBe(3);
    const changed = writeContext(join(ws.dir, "c1b"), { Dockerfile: readFileSync(join(ctx, "Dockerfile"), "utf8").replace("uid=1000", "uid=1001") });
    const third = await runBuild(ws, changed, { ssh: [{ id: "default", socket: agentSocket }, { id: "other", socket: agentSocket }] });
    expect(third.executedNames.some((n) => n.includes("uid=1001"))).toBe(true);
    expect(third.cachedNames.some((n) => n.includes("echo \"$SSH_AUTH_SOCK\" > /first"))).toBe(true);
  }, 120_000);

  it("required=true without that id is an error naming it", async () => {
    const ctx = writeContext(join(ws.dir, "c2"), { Dockerfile: "FROM busybox\nRUN --mount=type=ssh,id=deploy,required=true true\n" });
    await expect(runBuild(ws, ctx)).rejects.toThrow(/no ssh with id deploy found/);
  }, 60_000);

  it("the agent answers through the forwarded socket (Debian's perl as the client)", async (t) => {
    const { tarball, why } = debianTarball();
    if (tarball === undefined) {
      console.warn(`skipping the ssh agent end-to-end test: ${why ?? ""}`);
      t.skip();
      return;
    }
    await importRootfs(ws.store, createReadStream(tarball), { source: "debian.tar", tag: "debian:bookworm" });
    // SSH2_AGENTC_REQUEST_IDENTITIES (11); the answer (12) lists each key's blob and comment
    const client = [
      "$s = IO::Socket::UNIX->new(Peer => $ENV{SSH_AUTH_SOCK}) or die qq(connect: $!);",
      'print $s pack("NC", 1, 11); read($s, $l, 4); read($s, $b, unpack("N", $l));',
      '($t, $n, $rest) = unpack("CNa*", $b); ($blob, $rest) = unpack("N/a a*", $rest); ($comment) = unpack("N/a", $rest);',
      'print qq(answer $t: $n key $comment\\n);',
    ].join(" ");
    const ctx = writeContext(join(ws.dir, "c3"), { Dockerfile: "FROM debian:bookworm\nRUN --mount=type=bind,source=client.pl,target=/client.pl --mount=type=ssh perl -MIO::Socket::UNIX /client.pl > /agent.txt\n" });
    writeFileSync(join(ctx, "client.pl"), client);
    const r = await runBuild(ws, ctx, { ssh: [{ id: "default", socket: agentSocket }] });
    expect(await readImageFile(r.image, "/agent.txt")).toBe("answer 12: 1 key berth-test-key\n");
  }, 180_000);

  it("--ssh (CLI): default is $SSH_AUTH_SOCK; a key file, a missing path or no SSH_AUTH_SOCK is a usage error", () => {
    const ctx = writeContext(join(ws.dir, "c4"), { Dockerfile: 'FROM busybox\nRUN --mount=type=ssh,required=true test -S "$SSH_AUTH_SOCK"\n' });
    const ok = berth(["build", "-q", "--ssh", "default", ctx], { SSH_AUTH_SOCK: agentSocket });
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    const unset = berth(["build", "-q", "--ssh", "default", ctx], { SSH_AUTH_SOCK: undefined });
    expect(unset.status).toBe(125);
    expect(unset.stderr).toContain("SSH_AUTH_SOCK");
    const keyFile = berth(["build", "-q", "--ssh", `default=${join(ws.dir, "id_test")}`, ctx]);
    expect(keyFile.status).toBe(125);
    expect(keyFile.stderr).toContain("is not a socket");
    const missing = berth(["build", "-q", "--ssh", "default=/nonexistent/agent.sock", ctx]);
    expect(missing.status).toBe(125);
    expect(missing.stderr).toContain("/nonexistent/agent.sock");
  }, 120_000);
});
