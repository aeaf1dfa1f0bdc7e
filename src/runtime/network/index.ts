/**
 * Networks without touching the host's namespace: namespaces held by a process tied to berth's
 * life, outbound access through a user-space stack (pasta or slirp4netns), and the files a
 * container's resolver reads.
 */
export { createNetns } from "./netns.js";
export type { NetnsHolder } from "./netns.js";
export { attachEgress, chooseEgressStack, EGRESS_STACKS, PASTA_DNS, SLIRP_DNS } from "./egress.js";
export type { Egress, EgressOptions, EgressStack } from "./egress.js";
export { BUILD_HOSTNAME, buildkitHosts, containerResolvConf, needsDnsRelay, readHostResolvConf } from "./etc-files.js";
export type { ResolvConfOptions } from "./etc-files.js";
