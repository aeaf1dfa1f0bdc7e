import { describe, expect, it } from "vitest";
import { buildkitHosts, containerResolvConf, needsDnsRelay } from "../../../src/runtime/network/index.js";

describe("a build step's /etc/hosts (BuildKit's)", () => {
  it("localhost and buildkitsandbox on 127.0.0.1, localhost on ::1", () => {
    expect(buildkitHosts()).toBe("127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n");
  });
  it("another hostname, and extra hosts after", () => {
    expect(buildkitHosts("box", [{ host: "db", ip: "10.1.2.3" }])).toBe("127.0.0.1\tlocalhost box\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.2.3\tdb\n");
  });
});

// host resolv.conf | options | expected (moby's resolvconf: Parse, TransformForLegacyNw, Generate(false))
const cases: { name: string; host: string; options?: Parameters<typeof containerResolvConf>[1]; want: string }[] = [
  { name: "a plain host file is kept", host: "nameserver 10.255.255.53\n", want: "nameserver 10.255.255.53\n" },
  {
    name: "comments and blank lines go; search (the last), options (all) and unknown lines stay, in moby's order",
    host: "# generated\n\ndomain old.example\noptions ndots:2\nsortlist 10.0.0.0\nnameserver 10.0.0.2\n; note\nsearch a.example b.example\noptions edns0 rotate\n",
    want: "nameserver 10.0.0.2\nsearch a.example b.example\noptions ndots:2 edns0 rotate\nsortlist 10.0.0.0\n",
  },
  {
    name: "loopback nameservers work only in the host's namespace: removed",
    host: "nameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\n",
    want: "nameserver 10.0.0.2\n",
  },
  {
    name: "IPv6 nameservers go without IPv6, stay with it",
    host: "nameserver 10.0.0.2\nnameserver fd00::53\n",
    want: "nameserver 10.0.0.2\n",
  },
  { name: "…stay with it", host: "nameserver 10.0.0.2\nnameserver fd00::53\n", options: { ipv6: true }, want: "nameserver 10.0.0.2\nnameserver fd00::53\n" },
  { name: "none left: Docker's defaults", host: "nameserver 127.0.0.53\noptions edns0 trust-ad\n", want: "nameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0 trust-ad\n" },
  { name: "none left: the relay given instead", host: "nameserver 127.0.0.53\n", options: { fallback: ["169.254.1.1"] }, want: "nameserver 169.254.1.1\n" },
  { name: "no file at all: the relay", host: "", options: { fallback: ["10.0.2.3"] }, want: "nameserver 10.0.2.3\n" },
  { name: "the host's network keeps loopback nameservers", host: "nameserver 127.0.0.53\n", options: { hostNetwork: true }, want: "nameserver 127.0.0.53\n" },
  { name: "an address that does not parse is dropped", host: "nameserver dns.example\nnameserver 10.0.0.2\n", want: "nameserver 10.0.0.2\n" },
];

describe("a build step's /etc/resolv.conf (BuildKit's, through moby's resolvconf)", () => {
  for (const c of cases) {
    it(c.name, () => {
      expect(containerResolvConf(c.host, c.options)).toBe(c.want);
    });
  }
  it("a relay is needed only when no nameserver works outside the host's namespace", () => {
    expect(needsDnsRelay("nameserver 10.255.255.53\n")).toBe(false);
    expect(needsDnsRelay("nameserver 127.0.0.53\n")).toBe(true);
    expect(needsDnsRelay("nameserver fd00::53\n")).toBe(true);
    expect(needsDnsRelay("nameserver fd00::53\n", { ipv6: true })).toBe(false);
    expect(needsDnsRelay(undefined)).toBe(true);
  });
});
