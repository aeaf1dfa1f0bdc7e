/** Checks for literal flag and argument values (values holding `$VAR` are checked after expansion). */

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.ParseDuration, in nanoseconds; undefined if malformed. */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    sign = s[0] === "-" ? -1 : 1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") return undefined;
  let total = 0;
  const re = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (m === null) return undefined;
    total += Number.parseFloat(m[1]!) * DURATION_UNITS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}

const OCTAL_MODE = /^[0-7]+$/;
const SYMBOLIC_MODE = /^[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+(?:,[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+)*$/;

/** `--chmod`: octal (`755`, `0644`) or symbolic (`u+x,go-w`), as BuildKit accepts. */
export function isValidChmod(value: string): boolean {
  if (OCTAL_MODE.test(value)) return Number.parseInt(value, 8) <= 0o7777;
  return SYMBOLIC_MODE.test(value);
}

const PORT_SPEC = /^\d{1,5}(?:-\d{1,5})?(?:\/(?:tcp|udp|sctp))?$/i;

/** An EXPOSE port: `80`, `80/tcp`, `8000-8010/udp`. */
export function isValidPortSpec(value: string): boolean {
  if (!PORT_SPEC.test(value)) return false;
  const [range] = value.split("/");
  return range!.split("-").every((p) => Number(p) <= 65535);
}

const SIGNALS = new Set([
  "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE",
  "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU",
  "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
]);

/** STOPSIGNAL: a number (1–64) or a name, with or without `SIG`, any case (moby's ParseSignal). */
export function isValidSignal(value: string): boolean {
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    return n >= 1 && n <= 64;
  }
  const name = value.toUpperCase().replace(/^SIG/, "");
  if (SIGNALS.has(name)) return true;
  const rt = /^RT(MIN\+|MAX-)(\d+)$/.exec(name);
  return rt !== null && Number(rt[2]) >= 1 && Number(rt[2]) <= 15;
}

/** BuildKit's stage name rule. */
export const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;
