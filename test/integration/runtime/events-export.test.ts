import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRun, eventually, leftovers, makeHarness, type Harness } from "./harness.js";

const ID = /[0-9a-f]{64}/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}(Z|[+-]\d{2}:\d{2})$/;

/** `berth events`, `inspect --format` templates and `berth export` on real runc containers. */
describe.runIf(canRun)("events, templates and export", () => {
  let h: Harness;
  let tmp: string;

  beforeAll(async () => {
    h = await makeHarness("events");
    tmp = mkdtempSync("/tmp/berth-rt-events-");
  });
  afterAll(async () => {
    await h.cleanup();
    rmSync(tmp, { recursive: true, force: true });
    expect(leftovers(h)).toEqual({ mounts: [], processes: [], runcState: [] });
  });

  it("a live `berth events` shows a container's create, start, die and destroy as they happen, as Docker's lines", async () => {
    const live = h.spawnBerth(["events", "--filter", "type=container"]);
    let out = "";
    live.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 500)); // it has read the log's end
    const run = await h.berth(["run", "--rm", "--name", "evt", "--label", "team=a", "--network", "none", "busybox", "sh", "-c", "exit 3"]);
    expect(run.code).toBe(3);
    const lines = await eventually(() => {
      const l = out.split("\n").filter((x) => x !== "");
      return l.length >= 4 ? l : undefined;
    });
    live.kill("SIGINT");
    expect(lines.map((l) => l.split(" ").slice(1, 3).join(" "))).toEqual(["container create", "container start", "container die", "container destroy"]);
    const [time, , , id, ...attrs] = lines[2]!.split(" ");
    expect(time).toMatch(TIME);
    expect(id).toMatch(ID);
    expect(attrs.join(" ")).toBe("(exitCode=3, image=busybox, name=evt, team=a)");
  });

  it("--since/--until replay the log, --filter and --format pick and shape, an --until ahead streams until then", async () => {
    expect((await h.berth(["run", "-d", "--name", "keep", "--network", "none", "busybox", "sleep", "30"])).code).toBe(0);
    expect((await h.berth(["exec", "keep", "sh", "-c", "exit 2"])).code).toBe(2);
    expect((await h.berth(["stop", "-t", "0", "keep"])).code).toBe(0);
    expect((await h.berth(["tag", "busybox", "mine:1"])).code).toBe(0);

    const keep = await h.berth(["events", "--since", "5m", "--until", "0s", "--filter", "container=keep", "--format", "{{.Action}} {{.Actor.Attributes.name}}"]);
    expect(keep).toMatchObject({ code: 0, stderr: "" });
    expect(keep.stdout).toBe("create keep\nstart keep\nexec_create: sh -c exit 2 keep\nexec_start: sh -c exit 2 keep\nexec_die keep\nkill keep\ndie keep\nstop keep\n");
    const exec = await h.berth(["events", "--since", "5m", "--until", "0s", "--filter", "event=exec_start", "--format", "{{.Action}}"]);
    expect(exec.stdout).toBe("exec_start: sh -c exit 2\n"); // Docker's prefix match for exec_start
    const die = await h.berth(["system", "events", "--since", "5m", "--until", "0s", "--filter", "event=die", "--format", '{{.Actor.Attributes.name}}={{index .Actor.Attributes "exitCode"}}']);
    expect(die.stdout).toBe("evt=3\nkeep=137\n");
    expect((await h.berth(["volume", "create", "evvol"])).code).toBe(0);
    expect((await h.berth(["volume", "rm", "evvol"])).code).toBe(0);
    const vol = await h.berth(["events", "--since", "5m", "--until", "0s", "--filter", "volume=evvol", "--format", "{{.Type}} {{.Action}} {{.Actor.ID}}"]);
    expect(vol.stdout).toBe("volume create evvol\nvolume destroy evvol\n");
    const df = await h.berth(["system", "df", "--format", "{{.Type}}={{.TotalCount}}"]);
    expect(df.stdout.split("\n")[0]).toMatch(/^Images=\d+$/);
    const tag = await h.berth(["events", "--since", "5m", "--until", "0s", "--filter", "type=image", "--format", "json"]);
    const message = JSON.parse(tag.stdout.trim()) as Record<string, unknown>;
    expect(message).toMatchObject({ Type: "image", Action: "tag", Actor: { Attributes: { name: "mine:1" } }, scope: "local" });
    expect(tag.stdout).toMatch(/"timeNano":\d{19}\}/);
    // {{json .}} is the message by its json tags, as Docker's; {{.TimeNano}} exact
    const jsonTemplate = await h.berth(["events", "--since", "5m", "--until", "0s", "--filter", "type=image", "--format", "{{json .}}"]);
    expect(jsonTemplate.stdout).toBe(tag.stdout);
    const nano = await h.berth(["events", "--since", "5m", "--until", "0s", "--filter", "type=image", "--format", "{{.TimeNano}} {{.Time}}"]);
    expect(nano.stdout.trim()).toBe(`${/"timeNano":(\d+)/.exec(tag.stdout)![1]} ${message.time as number}`);

    // a time range before anything happened is empty; a bad time names the flag
    expect((await h.berth(["events", "--since", "2000-01-01", "--until", "2000-01-02T00:00:00Z"])).stdout).toBe("");
    const bad = await h.berth(["events", "--since", "soon"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('invalid value for --since: failed to parse value as time or duration: "soon"');
    const badFilter = await h.berth(["events", "--filter", "colour=red"]);
    expect(badFilter.code).toBe(1);
    expect(badFilter.stderr).toContain("invalid filter 'colour'");

    const t0 = Date.now();
    // only --until: the past up to then (as Docker's daemon replays its buffer), then live until then
    const ahead = h.berth(["events", "--since", "0s", "--until", `${Math.floor(Date.now() / 1000) + 2}`, "--format", "{{.Action}} {{.Actor.Attributes.name}}"]);
    await new Promise((r) => setTimeout(r, 700));
    expect((await h.berth(["tag", "busybox", "mine:2"])).code).toBe(0);
    const until = await ahead;
    expect(until).toMatchObject({ code: 0, stdout: "tag mine:2\n" });
    expect(Date.now() - t0).toBeGreaterThan(900);
  });

  it("a container's networks log connect as it starts and disconnect as it stops, between its own events; commit and save log theirs", async () => {
    const since = `${Math.floor(Date.now() / 1000) - 1}`;
    expect((await h.berth(["network", "create", "evnet"])).code).toBe(0);
    const run = await h.berth(["run", "-d", "--name", "netev", "--network", "evnet", "busybox", "sleep", "30"]);
    expect(run.code, run.stderr).toBe(0);
    const id = run.stdout.trim();
    // connected while running: its own connect now, and a disconnect from both at the stop
    expect((await h.berth(["network", "connect", "bridge", "netev"])).code).toBe(0);
    expect((await h.berth(["stop", "-t", "0", "netev"])).code).toBe(0);
    const log = await h.berth(["events", "--since", since, "--until", "0s", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.container}}"]);
    const mine = log.stdout
      .split("\n")
      .filter((l) => l.startsWith("container ") ? l.includes(" netev ") : l.endsWith(` ${id}`))
      .filter((l) => !l.startsWith("container kill"))
      .map((l) => l.replace(` ${id}`, "").replace(/ <no value>$/, "").trim());
    expect(mine).toEqual([
      "container create netev",
      "network connect evnet",
      "container start netev",
      "network connect bridge",
      "container die netev",
      "network disconnect evnet",
      "network disconnect bridge",
      "container stop netev",
    ]);
    const network = await h.berth(["events", "--since", since, "--until", "0s", "--filter", "type=network", "--filter", "event=connect", "--format", "{{.Actor.ID}} {{.Actor.Attributes.type}}"]);
    const evnetId = (await h.berth(["network", "inspect", "-f", "{{.Id}}", "evnet"])).stdout.trim();
    expect(network.stdout.split("\n")[0]).toBe(`${evnetId} bridge`);

    const commit = await h.berth(["commit", "-m", "snap", "netev", "evimg:1"]);
    expect(commit.code, commit.stderr).toBe(0);
    const imageId = commit.stdout.trim();
    const committed = await h.berth(["events", "--since", since, "--until", "0s", "--filter", "event=commit", "--format", "{{.Type}} {{.Actor.ID}} {{json .Actor.Attributes}}"]);
    const attrs = JSON.parse(committed.stdout.slice(committed.stdout.indexOf("{"))) as Record<string, string>;
    expect(committed.stdout.startsWith(`container ${id} `)).toBe(true);
    expect(attrs).toMatchObject({ comment: "snap", imageID: imageId, imageRef: "evimg:1", name: "netev", image: "busybox" });

    const busyboxId = (await h.berth(["images", "-q", "--no-trunc", "busybox"])).stdout.trim();
    expect((await h.berth(["save", "-o", join(tmp, "saved.tar"), "evimg:1", "busybox", imageId])).code).toBe(0);
    const saved = await h.berth(["events", "--since", since, "--until", "0s", "--filter", "event=save", "--format", "{{.Type}} {{.Actor.ID}} {{.Actor.Attributes.name}}"]);
    expect(saved.stdout.split("\n").filter((l) => l !== "").sort()).toEqual([`image ${busyboxId} ${busyboxId}`, `image ${imageId} ${imageId}`].sort());
    // a save that fails logs nothing
    expect((await h.berth(["save", "-o", join(tmp, "none.tar"), "nope:1"])).code).not.toBe(0);
    expect((await h.berth(["events", "--since", since, "--until", "0s", "--filter", "event=save", "--format", "x"])).stdout).toBe("x\nx\n");
    rmSync(join(tmp, "saved.tar"));
    await h.berth(["rm", "netev"]);
    await h.berth(["rmi", "evimg:1"]);
    await h.berth(["network", "rm", "evnet"]);
  }, 60_000);

  it("inspect --format runs Go templates: range, index, json, join, slices and maps as Go prints them; a bad template exits 64", async () => {
    expect((await h.berth(["create", "--name", "tpl", "-e", "A=1", "-e", "B=2", "--label", "x.y=z", "--network", "none", "busybox", "echo", "hi"])).code).toBe(0);
    const f = async (template: string) => h.berth(["inspect", "--format", template, "tpl"]);
    expect((await f("{{range .Config.Env}}{{println .}}{{end}}")).stdout).toBe("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nA=1\nB=2\n\n");
    expect((await f("{{.Config.Cmd}} {{json .Config.Cmd}} {{join .Config.Cmd \",\"}} {{len .Config.Env}}")).stdout).toBe('[echo hi] ["echo","hi"] echo,hi 3\n');
    expect((await f('{{index .Config.Labels "x.y"}} {{.Config.Labels}}')).stdout).toBe("z map[x.y:z]\n");
    expect((await f("{{if .State.Running}}up{{else}}{{upper .State.Status}}{{end}}")).stdout).toBe("CREATED\n");
    expect((await h.berth(["container", "inspect", "-f", "{{.Name}}", "tpl"])).stdout).toBe("/tpl\n");
    const bad = await f("{{range}}");
    expect(bad).toMatchObject({ code: 64, stdout: "" });
    expect(bad.stderr.trim()).toBe("template parsing error: template: :1: missing value for range");
    const ps = await h.berth(["ps", "-a", "--filter", "name=tpl", "--format", "table {{.Names}}\\t{{.State}}"]);
    expect(ps.stdout).toBe("NAMES     STATE\ntpl       created\n");
  });

  it("export writes the container's merged file system as a tar, running or stopped, and refuses a terminal", async () => {
    expect((await h.berth(["run", "-d", "--name", "exp", "--network", "none", "-v", `${tmp}:/mnt/host`, "busybox", "sh", "-c", "echo hi > /hello; rm /bin/ls; sleep 30"])).code).toBe(0);
    await eventually(async () => ((await h.berth(["exec", "exp", "cat", "/hello"])).stdout === "hi\n" ? true : undefined));
    const list = (file: string) => execFileSync("tar", ["-tf", file], { encoding: "utf8" }).split("\n").filter((l) => l !== "");
    const running = join(tmp, "running.tar");
    expect(await h.berth(["export", "-o", running, "exp"])).toMatchObject({ code: 0, stdout: "" });
    const entries = list(running);
    expect(entries).toContain("hello");
    expect(entries).toContain("bin/sh");
    expect(entries).not.toContain("bin/ls"); // deleted in the container: gone, and no whiteout in its place
    expect(entries.some((e) => e.includes(".wh."))).toBe(false);
    expect(entries.some((e) => e.startsWith("proc/") || e.startsWith("mnt/host/"))).toBe(false);
    expect(statSync(running).mode & 0o777).toBe(0o600);
    expect(readdirSync(tmp).filter((n) => n.includes("berth-tmp"))).toEqual([]);

    expect((await h.berth(["stop", "-t", "0", "exp"])).code).toBe(0);
    const stdout = join(tmp, "stopped.tar");
    execFileSync("sh", ["-c", `BERTH_ROOT=${h.root} ${join(import.meta.dirname, "../../../bin/berth")} container export exp > ${stdout}`]);
    expect(execFileSync("tar", ["-xOf", stdout, "hello"], { encoding: "utf8" })).toBe("hi\n");
    expect(list(stdout).sort()).toEqual(entries.sort());

    const tty = execFileSync("script", ["-qc", `BERTH_ROOT=${h.root} ${join(import.meta.dirname, "../../../bin/berth")} export exp; echo rc=$?`, "/dev/null"], { encoding: "utf8" });
    expect(tty).toContain("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    expect(tty).toContain("rc=1");
    const missing = await h.berth(["export", "-o", join(tmp, "none.tar"), "nope"]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("nope");
    expect(readdirSync(tmp).sort()).toEqual(["running.tar", "stopped.tar"]);
  });
});
