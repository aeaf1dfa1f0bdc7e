import { recordEvent } from "../../store/events.js";

/** Docker's network events: the network as the actor, its name and driver, and the container for connect/disconnect. */
export function networkEvent(storeRoot: string, action: string, network: { id: string; name: string }, container?: string): void {
  recordEvent(storeRoot, "network", action, network.id, { name: network.name, type: "bridge", ...(container !== undefined ? { container } : {}) });
}

/**
 * A container joining its networks as it starts, or leaving them as it stops: one `connect`
 * or `disconnect` per network, as Docker's daemon logs them.
 */
export function endpointEvents(storeRoot: string, action: "connect" | "disconnect", endpoints: readonly { network: string; networkId: string }[], container: string): void {
  const seen = new Set<string>();
  for (const ep of endpoints) {
    if (seen.has(ep.networkId)) continue;
    seen.add(ep.networkId);
    networkEvent(storeRoot, action, { id: ep.networkId, name: ep.network }, container);
  }
}
