import { mkdirSync } from "node:fs";
import { RuntimeError } from "../runtime/errors.js";
import type { Egress, NetnsHolder } from "../runtime/network/index.js";
import { trace } from "../runtime/trace.js";

/**
 * A RUN step's network (RUN --network, berth build --network): "default" is the build's
 * sandbox, "none" loopback only, "host" the host's own namespace (entitlement network.host).
 */
export type RunNetwork = "default" | "none" | "host";

/**
 * The build's network sandbox, as BuildKit gives its RUN steps one (a namespace from a pool,
 * with the hostname buildkitsandbox): a network namespace of its own, made once per build and
 * shared by its RUN steps, with outbound access and DNS through a user-space stack (pasta, or
 * slirp4netns). Nothing of it is in the host's namespace, so a step cannot reach the host's
 * 127.0.0.1 services nor see its traffic. Made on first use only, so a build whose RUNs are
 * all cached pays nothing; everything goes at close(), and with berth's process if it dies.
 */
export class BuildSandbox {
  private made: Promise<{ ns: NetnsHolder; egress: Egress }> | undefined;
  private died: string | undefined;
  private closed = false;

  constructor(
    private readonly o: {
      /** The build's state dir (pasta's pid file goes there). */
      runDir: string;
      /** The build's environment: BERTH_NETWORK_STACK forces a stack (chooseEgressStack). */
      environment: Readonly<Record<string, string | undefined>>;
    },
  ) {}

  /** Whether it was started (close() has something to do). */
  get started(): boolean {
    return this.made !== undefined;
  }

  /** Starts making it, once; the build's next RUN that needs it waits for it (ready()). */
  start(): void {
    if (this.made !== undefined || this.closed) return;
    this.made = (async () => {
      trace("build: sandbox network starting");
      const { attachEgress, chooseEgressStack, createNetns, needsDnsRelay, readHostResolvConf } = await import("../runtime/network/index.js");
      const stack = chooseEgressStack(this.o.environment);
      mkdirSync(this.o.runDir, { recursive: true });
      const ns = await createNetns();
      try {
        // a relay when the host's nameservers answer only in its own namespace (127.0.0.53 …)
        const egress = await attachEgress({ netns: ns.path, runDir: this.o.runDir, stack, dnsRelay: needsDnsRelay(readHostResolvConf()) });
        void egress.exited.then((why) => (this.died = why));
        trace("build: sandbox network ready");
        return { ns, egress };
      } catch (err) {
        await ns.close();
        throw err;
      }
    })();
    this.made.catch(() => undefined);
  }

  /** The namespace's path for runc, once its network is configured. */
  async ready(): Promise<{ netns: string; nameserver: string | undefined }> {
    if (this.closed) throw new RuntimeError("the build's network sandbox is closed");
    this.start();
    const { ns, egress } = await this.made!;
    if (this.died !== undefined) throw new RuntimeError(`the build's network sandbox is gone: ${this.died}`);
    return { netns: ns.path, nameserver: egress.nameserver };
  }

  /** Stops the stack and ends the namespace's holder; waits for both. */
  async close(): Promise<void> {
    this.closed = true;
    const made = await this.made?.catch(() => undefined);
    if (made === undefined) return;
    await Promise.all([made.egress.stop(), made.ns.close()]);
  }
}
