import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolvConf } from "../../../src/runtime/container/init-layer.js";
import { createNetwork, defaultNetwork, findNetwork, listUserNetworks, parseCidr, numberToIp } from "../../../src/runtime/network/records.js";
import { formatPort } from "../../../src/runtime/container/ports.js";
import { attachedNetworks } from "../../../src/runtime/container/record.js";
import { dropNetworkHosts, HOSTS_MARKER } from "../../../src/runtime/network/attach.js";

describe("resolvConf (Docker's rules for a container's /etc/resolv.conf)", () => {
  const host = "# generated\nsearch corp.example\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0 trust-ad\n";
  it.each<[string, Parameters<typeof resolvConf>[1], string]>([
    ["loopback nameservers dropped, the rest kept", {}, "nameserver 10.0.0.2\nsearch corp.example\noptions edns0 trust-ad\n"],
    ["--dns replaces the nameservers", { dns: ["192.0.2.1", "192.0.2.2"] }, "nameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch corp.example\noptions edns0 trust-ad\n"],
    ["--dns-search replaces the search list", { dnsSearch: ["a.test", "b.test"] }, "nameserver 10.0.0.2\nsearch a.test b.test\noptions edns0 trust-ad\n"],
  ])("%s", (_name, options, expected) => {
    expect(resolvConf(host, options)).toBe(expected);
  });
  it("a host with only loopback resolvers gets the fallback", () => {
    expect(resolvConf("nameserver 127.0.0.53\n", { fallbackNameservers: ["8.8.8.8", "8.8.4.4"] })).toBe("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  });
});

describe("network records", () => {
  const dir = mkdtempSync("/tmp/berth-unit-net-");
  const root = { root: dir, networksDir: () => join(dir, "networks") };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("parses CIDRs to their network address and refuses bad ones", () => {
    expect(parseCidr("10.1.2.3/16")).toEqual({ base: (10 * 256 + 1) * 65536, prefix: 16 });
    expect(numberToIp(parseCidr("192.168.7.9/20").base)).toBe("192.168.0.0");
    for (const bad of ["10.0.0.0", "10.0.0.0/33", "300.0.0.0/8", "10.0.0/24", "10.0.0.0/31"]) expect(() => parseCidr(bad)).toThrow(/invalid subnet/);
  });

  it("gives new networks Docker's pools in order, never overlapping, and finds them by name or ID prefix", async () => {
    const a = await createNetwork(root, "a");
    const b = await createNetwork(root, "b", { subnet: "10.7.0.0/24" });
    const c = await createNetwork(root, "c");
    expect([a.subnet, a.gateway, b.subnet, b.gateway, c.subnet]).toEqual(["172.18.0.0/16", "172.18.0.1", "10.7.0.0/24", "10.7.0.1", "172.19.0.0/16"]);
    await expect(createNetwork(root, "d", { subnet: "10.7.0.128/25" })).rejects.toThrow(/overlaps/);
    await expect(createNetwork(root, "e", { subnet: "172.17.5.0/24" })).rejects.toThrow(/overlaps .*bridge/);
    await expect(createNetwork(root, "a")).rejects.toThrow(/already exists/);
    for (const name of ["bridge", "host", "none"]) await expect(createNetwork(root, name)).rejects.toThrow(/predefined/);
    await expect(createNetwork(root, "bad/name")).rejects.toThrow(/invalid network name/);
    await expect(createNetwork(root, "g", { subnet: "10.9.0.0/24", gateway: "10.8.0.1" })).rejects.toThrow(/gateway/);
    expect(listUserNetworks(root).map((n) => n.name)).toEqual(["a", "b", "c"]);
    expect(findNetwork(root, "b").id).toBe(b.id);
    expect(findNetwork(root, b.id.slice(0, 10)).name).toBe("b");
    expect(findNetwork(root, "bridge")).toEqual(defaultNetwork(root));
    expect(() => findNetwork(root, "zzz")).toThrow(/network zzz not found/);
  });
});

describe("formatPort", () => {
  it("brackets IPv6 addresses as Docker's ps does", () => {
    expect(formatPort({ hostIp: "0.0.0.0", hostPort: 8080, containerPort: 80, protocol: "tcp" })).toBe("0.0.0.0:8080->80/tcp");
    expect(formatPort({ hostIp: "::", hostPort: 8080, containerPort: 80, protocol: "tcp" })).toBe("[::]:8080->80/tcp");
  });
});

describe("a container's networks", () => {
  const base = { network: "bridge" } as Parameters<typeof attachedNetworks>[0];
  it("come from --network (and its aliases) until connect/disconnect writes the list", () => {
    expect(attachedNetworks(base)).toEqual([{ name: "bridge" }]);
    expect(attachedNetworks({ ...base, network: "front", networkAliases: ["www"] })).toEqual([{ name: "front", aliases: ["www"] }]);
    expect(attachedNetworks({ ...base, network: "none" })).toEqual([]);
    expect(attachedNetworks({ ...base, network: "host" })).toEqual([]);
    expect(attachedNetworks({ ...base, network: "front", networks: [{ name: "back" }] })).toEqual([{ name: "back" }]);
    expect(attachedNetworks({ ...base, networks: [] })).toEqual([]);
  });

  it("a network's section leaves a container's /etc/hosts, the others' stay", () => {
    const dir = mkdtempSync("/tmp/berth-unit-hosts-");
    try {
      const file = join(dir, "hosts");
      const head = "127.0.0.1\tlocalhost\n10.0.0.3\tbox\n";
      const a = `${HOSTS_MARKER}a\n10.1.0.2\tx 111\n10.1.0.3\tbox 333\n`;
      const b = `${HOSTS_MARKER}b\n10.2.0.2\ty 222\n10.2.0.3\tbox 333\n`;
      writeFileSync(file, head + a + b);
      dropNetworkHosts(file, "a");
      expect(readFileSync(file, "utf8")).toBe(head + b);
      dropNetworkHosts(file, "c");
      expect(readFileSync(file, "utf8")).toBe(head + b);
      dropNetworkHosts(file, "b");
      expect(readFileSync(file, "utf8")).toBe(head);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
