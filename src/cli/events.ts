import type { Command } from "commander";
import { BerthError, UsageError } from "../errors.js";
import type { StoreEvent } from "../store/events.js";
import { JSON_VIEW, parseTemplate } from "./template.js";

/** How often a live `berth events` looks for new lines in the store's event log. */
const POLL_MS = 100;

const FILTER_KEYS = new Set(["container", "config", "daemon", "event", "image", "label", "network", "node", "plugin", "scope", "secret", "service", "type", "volume"]);

/**
 * docker/api's GetTimestamp, as `--since`/`--until` read it: a Go duration before `now`
 * ("10m", "1h30m"), a Unix timestamp ("1700000000", "1700000000.5"), or an RFC 3339 date or
 * time (without a zone: local time; "2006-01-02", "2006-01-02T15", "2006-01-02T15:04" …).
 * Returns nanoseconds since the epoch.
 */
export async function parseEventTime(value: string, flag: string, now = Date.now()): Promise<bigint> {
  const { parseGoDuration } = await import("../instructions/values.js");
  const duration = value !== "0" ? parseGoDuration(value) : undefined;
  if (duration !== undefined) return BigInt(now) * 1_000_000n - BigInt(Math.round(duration));
  const unix = /^(\d+)(?:\.(\d{1,9}))?$/.exec(value);
  if (unix !== null) return BigInt(unix[1]!) * 1_000_000_000n + BigInt((unix[2] ?? "").padEnd(9, "0"));
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2}))?(?::(\d{2}))?(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}:\d{2})?$/.exec(value);
  if (m !== null) {
    const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone] = m;
    let ms: number;
    if (zone === undefined) ms = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)).getTime();
    else {
      const offset = /^[zZ]$/.test(zone) ? 0 : (zone.startsWith("-") ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
      ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) - offset * 60_000;
    }
    if (!Number.isNaN(ms)) return BigInt(ms) * 1_000_000n + BigInt(frac.padEnd(9, "0"));
  }
  throw new BerthError(`invalid value for ${flag}: failed to parse value as time or duration: ${JSON.stringify(value)}`, { exitCode: 1 });
}

/** `--filter key=value` flags grouped by key; values of one key are alternatives, keys all must match (Docker's). */
export function parseEventFilters(flags: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of flags) {
    const eq = f.indexOf("=");
    if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value): ${f}`);
    const key = f.slice(0, eq).toLowerCase();
    if (!FILTER_KEYS.has(key)) throw new BerthError(`invalid filter '${key}'`, { exitCode: 1 });
    out.set(key, [...(out.get(key) ?? []), f.slice(eq + 1)]);
  }
  return out;
}

/** An image reference without its tag or digest ("busybox:1.36" → "busybox"). */
function stripTag(ref: string): string {
  const at = ref.indexOf("@");
  const noDigest = at < 0 ? ref : ref.slice(0, at);
  const colon = noDigest.lastIndexOf(":");
  return colon > noDigest.lastIndexOf("/") ? noDigest.slice(0, colon) : noDigest;
}

/** moby's events.Filter.Include, for the filters a store's events can answer. */
export function eventMatches(e: StoreEvent, filters: Map<string, string[]>): boolean {
  const attrs = e.Actor.Attributes;
  const exact = (key: string, ...sources: Array<string | undefined>): boolean => {
    const want = filters.get(key);
    return want === undefined || want.some((v) => sources.includes(v));
  };
  const fuzzyName = (key: string): boolean => {
    const want = filters.get(key);
    return want === undefined || want.some((v) => [e.Actor.ID, attrs.name ?? ""].some((s) => s === v || s.startsWith(v)));
  };
  const events = filters.get("event");
  const actionOk =
    events === undefined ||
    (events.some((v) => ["health_status", "exec_create", "exec_start"].includes(v)) ? events.some((v) => e.Action.startsWith(v)) : events.includes(e.Action));
  const imageName = (e.Type === "image" ? attrs.name : attrs.image) ?? "";
  const labels = filters.get("label") ?? [];
  return (
    actionOk &&
    exact("type", e.Type) &&
    exact("scope", e.scope) &&
    fuzzyName("container") &&
    fuzzyName("network") &&
    fuzzyName("volume") &&
    exact("image", e.Actor.ID, imageName, stripTag(e.Actor.ID), stripTag(imageName)) &&
    labels.every((l) => {
      const eq = l.indexOf("=");
      return eq < 0 ? l in attrs : attrs[l.slice(0, eq)] === l.slice(eq + 1);
    }) &&
    ["config", "daemon", "node", "plugin", "secret", "service"].every((k) => !filters.has(k))
  );
}

/** jsonmessage.RFC3339NanoFixed in local time: "2006-01-02T15:04:05.000000000Z07:00". */
export function rfc3339NanoFixed(timeNano: string): string {
  const ns = BigInt(timeNano);
  const ms = Number(ns / 1_000_000n);
  const d = new Date(ms);
  const offsetMin = -d.getTimezoneOffset();
  const local = new Date(ms + offsetMin * 60_000);
  const zone = offsetMin === 0 ? "Z" : `${offsetMin < 0 ? "-" : "+"}${String(Math.floor(Math.abs(offsetMin) / 60)).padStart(2, "0")}:${String(Math.abs(offsetMin) % 60).padStart(2, "0")}`;
  return `${local.toISOString().slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, "0")}${zone}`;
}

/** docker/cli's prettyPrintEvent: time, type, action, actor, and its attributes sorted by key. */
export function prettyEvent(e: StoreEvent): string {
  const attrs = Object.keys(e.Actor.Attributes).sort().map((k) => `${k}=${e.Actor.Attributes[k]}`);
  return `${rfc3339NanoFixed(e.timeNano)} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs.length > 0 ? ` (${attrs.join(", ")})` : ""}`;
}

/** The event as a template sees it: Docker's events.Message by its Go field names, and by its json tags to `{{json .}}`. */
function templateView(e: StoreEvent): Record<string | symbol, unknown> {
  const json = { ...e, timeNano: BigInt(e.timeNano) };
  return { Status: e.status ?? "", ID: e.id ?? "", From: e.from ?? "", Type: e.Type, Action: e.Action, Actor: e.Actor, Scope: e.scope, Time: e.time, TimeNano: BigInt(e.timeNano), [JSON_VIEW]: json };
}

export function registerEventsCommands(program: Command): void {
  program
    .command("events")
    .description("Get real time events from the store's event log (containers, images, networks)")
    .option("--since <time>", "show events created since this time (RFC 3339, Unix timestamp, or a duration such as 10m)")
    .option("--until <time>", "stream events until this time")
    .option("-f, --filter <filter>", "filter output: container=, image=, event=, type=, label=, network=, volume= (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
    .option("--format <format>", "format output using a Go template, or json")
    .action(async (flags: { since?: string; until?: string; filter?: string[]; format?: string }, cmd: Command) => {
      const { resolveStoreRoot } = await import("../store/root.js");
      const { eventJson, readEvents, readNewEvents } = await import("../store/events.js");
      const root = resolveStoreRoot(cmd.optsWithGlobals<{ root?: string }>().root);
      const since = flags.since === undefined ? undefined : await parseEventTime(flags.since, "--since");
      const until = flags.until === undefined ? undefined : await parseEventTime(flags.until, "--until");
      const filters = parseEventFilters(flags.filter ?? []);
      let render: (e: StoreEvent) => string = prettyEvent;
      if (flags.format === "json") render = eventJson;
      else if (flags.format !== undefined && flags.format !== "") {
        const template = parseTemplate(flags.format);
        template.execute(templateView({ Type: "container", Action: "", Actor: { ID: "", Attributes: {} }, scope: "local", time: 0, timeNano: "0" }));
        render = (e) => template.execute(templateView(e));
      }
      const inRange = (e: StoreEvent): boolean => (since === undefined || BigInt(e.timeNano) >= since) && (until === undefined || BigInt(e.timeNano) <= until);
      const print = (list: StoreEvent[]): void => {
        const out = list.filter((e) => inRange(e) && eventMatches(e, filters)).map((e) => `${render(e)}\n`).join("");
        if (out !== "") process.stdout.write(out);
      };
      const { events, cursor } = readEvents(root);
      // past events only when asked for a time range; without --until, then live until Ctrl-C
      if (since !== undefined || until !== undefined) print(events);
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      if (until !== undefined && until <= nowNs) return;
      // live: until --until's time, or Ctrl-C
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => print(readNewEvents(root, cursor)), POLL_MS);
        if (until !== undefined) {
          setTimeout(() => {
            clearInterval(timer);
            print(readNewEvents(root, cursor));
            resolve();
          }, Number((until - nowNs) / 1_000_000n) + 1);
        }
      });
    });
}
