import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busyboxTarball } from "../../helpers/busybox.js";
import { startRegistry, type RegistryFixture } from "../../helpers/registry.js";
import { berth, ok } from "./helpers.js";

/**
 * RepoDigests as Docker keeps them: `repo@sha256:<manifest digest>` recorded by a push or a pull
 * (the digest the registry knows), none for a loaded or imported image; `images --digests`
 * shows them in a DIGEST column, `<none>` where there is none; rmi of the last tag of a
 * repository drops that repository's digest references too.
 */
const work = mkdtempSync("/tmp/berth-store-rd-");
let reg: RegistryFixture;
beforeAll(async () => {
  reg = await startRegistry({ auth: "none" });
}, 60_000);
afterAll(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const inspect = (root: string, name: string): { RepoTags: string[]; RepoDigests: string[]; Id: string } =>
  (JSON.parse(ok(root, ["inspect", "--type", "image", name])) as { RepoTags: string[]; RepoDigests: string[]; Id: string }[])[0]!;

/** `images --digests` as rows of [repo, tag, digest]. */
const digestRows = (root: string): string[][] =>
  ok(root, ["images", "--digests"]).trim().split("\n").slice(1).map((l) => l.split(/\s{2,}/).slice(0, 3)).sort((a, b) => (a.join() < b.join() ? -1 : 1));

describe("RepoDigests", () => {
  it("push and pull record repo@digest; a loaded image has none; rmi drops them with the last tag", () => {
    const a = join(work, "a");
    const id = ok(a, ["import", busyboxTarball(), "local/bb:1"]).trim();
    // imported: no RepoDigests, DIGEST <none>
    expect(inspect(a, "local/bb:1").RepoDigests).toEqual([]);
    expect(digestRows(a)).toEqual([["local/bb", "1", "<none>"]]);

    const repo = `${reg.host}/berth/rd`;
    ok(a, ["tag", "local/bb:1", `${repo}:v1`]);
    const pushed = ok(a, ["push", `${repo}:v1`]);
    const digest = /digest: (sha256:[a-f0-9]{64})/.exec(pushed)?.[1];
    expect(digest).toBeDefined();
    const afterPush = inspect(a, `${repo}:v1`);
    expect(afterPush.RepoDigests).toEqual([`${repo}@${digest}`]);
    // the import's manifest, replaced by the pushed one, is not left behind as an orphan blob
    expect(ok(a, ["system", "check"])).toMatch(/no problems/);
    expect(afterPush.RepoTags.sort()).toEqual([`${repo}:v1`, "local/bb:1"]);
    // one row per tag; the registry's repository has the digest, the local one has none
    expect(digestRows(a)).toEqual([[repo, "v1", digest!], ["local/bb", "1", "<none>"]].sort((x, y) => (x.join() < y.join() ? -1 : 1)));
    // without --digests no DIGEST column
    expect(ok(a, ["images"]).split("\n")[0]).not.toContain("DIGEST");
    // --format with {{.Digest}} gets the digest too, as docker/cli's needDigest does
    expect(ok(a, ["images", "--format", "{{.Repository}} {{.Digest}}", repo]).trim()).toBe(`${repo} ${digest}`);

    // pull into an empty store: the same digest reference; the image resolves by it
    const b = join(work, "b");
    ok(b, ["pull", `${repo}:v1`]);
    expect(inspect(b, `${repo}:v1`).RepoDigests).toEqual([`${repo}@${digest}`]);
    expect(inspect(b, `${repo}@${digest}`).Id).toBe(id);
    expect(digestRows(b)).toEqual([[repo, "v1", digest!]]);

    // save → load: Docker 20.10's load restores tags only
    const saved = join(work, "saved.tar");
    ok(b, ["save", "-o", saved, `${repo}:v1`]);
    const c = join(work, "c");
    ok(c, ["load", "-i", saved]);
    expect(inspect(c, `${repo}:v1`).RepoDigests).toEqual([]);
    expect(digestRows(c)).toEqual([[repo, "v1", "<none>"]]);

    // rmi of the last tag of the repository: the tag, then its digest reference, then the image
    const rmi = ok(b, ["rmi", `${repo}:v1`]);
    expect(rmi.trim().split("\n")).toEqual([`Untagged: ${repo}:v1`, `Untagged: ${repo}@${digest}`, `Deleted: ${id}`]);
    expect(ok(b, ["images", "-q"])).toBe("");

    // an image left with only its digest reference is listed with tag <none>, not dangling-as-<none>
    ok(b, ["pull", `${repo}:v1`]);
    ok(b, ["tag", `${repo}:v1`, "other/name:x"]);
    expect(ok(b, ["rmi", `${repo}:v1`]).trim().split("\n")).toEqual([`Untagged: ${repo}:v1`, `Untagged: ${repo}@${digest}`]);
    expect(inspect(b, "other/name:x").RepoDigests).toEqual([]);
    // rmi by digest reference
    ok(b, ["pull", `${repo}:v1`]);
    const byDigest = berth(b, ["rmi", `${repo}@${digest}`]);
    expect(byDigest.status).toBe(0);
    expect(byDigest.stdout.trim()).toBe(`Untagged: ${repo}@${digest}`);
    expect(inspect(b, `${repo}:v1`).RepoDigests).toEqual([]);
  });
});
