import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { eventMatches, parseEventFilters, parseEventTime, prettyEvent } from "../../../src/cli/events.js";
import { EVENTS_LOG, EVENTS_LOG_LIMIT, readEvents, readNewEvents, recordEvent, type StoreEvent } from "../../../src/store/events.js";

const ev = (over: Partial<StoreEvent> & { attrs?: Record<string, string> } = {}): StoreEvent => ({
  Type: "container",
  Action: "start",
  scope: "local",
  time: 1796675741,
  timeNano: "1796675741655025000",
  ...over,
  Actor: over.Actor ?? { ID: "1880d421343c0000", Attributes: over.attrs ?? { image: "busybox", name: "web", a: "b" } },
});

describe("berth events: times, filters, lines", () => {
  const now = Date.UTC(2026, 11, 7, 20, 0, 0);
  it.each([
    ["10m", BigInt(now - 600_000) * 1_000_000n],
    ["1h30m", BigInt(now - 5_400_000) * 1_000_000n],
    ["1796675741", 1796675741_000_000_000n],
    ["1796675741.5", 1796675741_500_000_000n],
    ["2026-12-07T20:00:00Z", BigInt(now) * 1_000_000n],
    ["2026-12-07T21:00:00.25+01:00", BigInt(now) * 1_000_000n + 250_000_000n],
  ])("--since %s", async (value, want) => {
    expect(await parseEventTime(value, "--since", now)).toBe(want);
  });

  it("a value that is no time names the flag and exits 1", async () => {
    await expect(parseEventTime("yesterday", "--until", now)).rejects.toMatchObject({ exitCode: 1, message: 'invalid value for --until: failed to parse value as time or duration: "yesterday"' });
  });

  it("filters as moby's: values of one key are alternatives, keys must all match", () => {
    const f = (...flags: string[]) => parseEventFilters(flags);
    expect(eventMatches(ev(), f("container=web"))).toBe(true);
    expect(eventMatches(ev(), f("container=1880d4"))).toBe(true);
    expect(eventMatches(ev(), f("container=other"))).toBe(false);
    expect(eventMatches(ev(), f("event=die", "event=start"))).toBe(true);
    expect(eventMatches(ev(), f("event=die"))).toBe(false);
    expect(eventMatches(ev(), f("type=image"))).toBe(false);
    expect(eventMatches(ev(), f("image=busybox:latest"))).toBe(false);
    expect(eventMatches(ev({ attrs: { image: "busybox:latest", name: "web" } }), f("image=busybox"))).toBe(true);
    expect(eventMatches(ev(), f("label=a"))).toBe(true);
    expect(eventMatches(ev(), f("label=a=b", "type=container"))).toBe(true);
    expect(eventMatches(ev(), f("label=a=c"))).toBe(false);
    expect(() => f("colour=red")).toThrow("invalid filter 'colour'");
    expect(() => f("container")).toThrow("bad format of filter (expected name=value)");
  });

  it("prints Docker's line: time with nanoseconds, type, action, actor, sorted attributes", () => {
    process.env.TZ = "UTC";
    expect(prettyEvent(ev())).toBe("2026-12-07T20:35:41.655025000Z container start 1880d421343c0000 (a=b, image=busybox, name=web)");
  });
});

describe("the store's event log", () => {
  const roots: string[] = [];
  afterEach(() => {
    for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
  });

  it("appends one JSON line per event, reads them back in order, and follows new ones across a rotation", () => {
    const root = mkdtempSync(join(tmpdir(), "berth-events-"));
    roots.push(root);
    recordEvent(root, "container", "create", "c1", { name: "one" });
    recordEvent(root, "image", "tag", "sha256:abc", { name: "x:1" });
    const { events, cursor } = readEvents(root);
    expect(events.map((e) => `${e.Type} ${e.Action} ${e.Actor.ID}`)).toEqual(["container create c1", "image tag sha256:abc"]);
    expect(BigInt(events[1]!.timeNano)).toBeGreaterThanOrEqual(BigInt(events[0]!.timeNano));
    expect(readNewEvents(root, cursor)).toEqual([]);

    // fill past the limit: the log rotates to events.log.1 and a follower misses nothing
    const padding = "x".repeat(1000);
    const n = Math.ceil(EVENTS_LOG_LIMIT / 1100) + 10;
    for (let i = 0; i < n; i++) recordEvent(root, "container", "start", `c${i}`, { padding });
    const seen = readNewEvents(root, cursor);
    expect(seen.map((e) => e.Actor.ID)).toEqual(Array.from({ length: n }, (_, i) => `c${i}`));
    expect(statSync(join(root, `${EVENTS_LOG}.1`)).size).toBeGreaterThan(EVENTS_LOG_LIMIT);
    expect(statSync(join(root, EVENTS_LOG)).size).toBeLessThan(EVENTS_LOG_LIMIT);
    // and the whole kept history is both files
    expect(readEvents(root).events.length).toBe(n + 2);
  });
});
