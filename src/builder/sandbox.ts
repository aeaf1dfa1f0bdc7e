import { mkdirSync } from "node:fs";
import { RuntimeError } from "../runtime/errors.js";
import type { EgressStack } from "../runtime/network/index.js";
import { trace } from "../sys/trace.js";

/**
 * A RUN step's network (RUN --network, berth build --network): "default" is the build's
 * sandbox, "none" loopback only, "host" the host's own namespace (entitlement network.host).
 */
export type RunNetwork = "default" | "none" | "host";

/**
 * The build's network sandbox, as BuildKit gives its RUN steps one (a namespace from a pool,
 * with the hostname buildkitsandbox): a network namespace of its own, shared by the build's
 * RUN steps, with outbound access and DNS through a user-space stack (pasta, or slirp4netns).
 * Nothing of it is in the host's namespace, so a step cannot reach the host's 127.0.0.1
 * services nor see its traffic. Leased on first use from the pool of sandboxes kept between
 * builds (runtime/network/sandbox-pool.ts), so a build whose RUNs are all cached pays nothing
 * and the next build pays no start-up; with BERTH_SANDBOX_POOL=off, or when every pooled one is
 * busy, a throw-away one is made for this build alone (a namespace held by a process of its
 * own, the stack berth's child), gone at close() or with berth's process if it dies.
 */
export class BuildSandbox {
  private made: Promise<{ netns: string; nameserver: string | undefined; broken(): string | undefined; close(tainted: boolean): Promise<void> }> | undefined;
  private closed = false;
  private tainted = false;

  constructor(
    private readonly options: {
      /** The build's state dir (a throw-away pasta's pid file goes there). */
      runDir: string;
      /** The build's environment: BERTH_NETWORK_STACK forces a stack (chooseEgressStack), BERTH_SANDBOX_POOL=off skips the pool, =DIR puts it elsewhere. */
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
      const { chooseEgressStack, needsDnsRelay, readHostResolvConf } = await import("../runtime/network/index.js");
      const stack = chooseEgressStack(this.options.environment);
      // a relay when the host's nameservers answer only in its own namespace (127.0.0.53 …)
      const dnsRelay = needsDnsRelay(readHostResolvConf());
      // the build's environment says, else berth's own
      const pool = this.options.environment.BERTH_SANDBOX_POOL ?? process.env.BERTH_SANDBOX_POOL;
      if (pool !== "off") {
        const { leaseSandbox, sandboxPool } = await import("../runtime/network/sandbox-pool.js");
        const leased = await leaseSandbox({ stack, dnsRelay }, sandboxPool({ ...process.env, BERTH_SANDBOX_POOL: pool }));
        if (leased !== undefined) {
          trace("build: sandbox network leased");
          return { netns: leased.netns, nameserver: leased.nameserver, broken: leased.broken, close: (tainted: boolean) => leased.release({ tainted }) };
        }
      }
      return this.throwAway(stack, dnsRelay);
    })().catch((err: unknown) => {
      // the step that needed it fails with this, and says what else it could do
      throw new RuntimeError(`the build's network sandbox: ${(err as Error).message} (a RUN that needs no network: RUN --network=none)`, { cause: err });
    });
    this.made.catch(() => undefined);
  }

  private async throwAway(stack: EgressStack, dnsRelay: boolean) {
    const { attachEgress, createNetns } = await import("../runtime/network/index.js");
    mkdirSync(this.options.runDir, { recursive: true });
    const ns = await createNetns();
    try {
      const egress = await attachEgress({ netns: ns.path, runDir: this.options.runDir, stack, dnsRelay });
      let died: string | undefined;
      void egress.exited.then((why) => (died = why));
      trace("build: sandbox network ready");
      return {
        netns: ns.path,
        nameserver: egress.nameserver,
        broken: () => died,
        close: async () => {
          await Promise.all([egress.stop(), ns.close()]);
        },
      };
    } catch (err) {
      await ns.close();
      throw err;
    }
  }

  /** The namespace's path for runc, once its network is configured. */
  async ready(): Promise<{ netns: string; nameserver: string | undefined }> {
    if (this.closed) throw new RuntimeError("the build's network sandbox is closed");
    this.start();
    const made = await this.made!;
    const died = made.broken();
    if (died !== undefined) throw new RuntimeError(`the build's network sandbox is gone: ${died}`);
    return { netns: made.netns, nameserver: made.nameserver };
  }

  /**
   * A step with every capability (RUN --security=insecure) runs on it: it could have changed
   * the namespace's addresses, routes or firewall, so it is not given to another build.
   */
  taint(): void {
    this.tainted = true;
  }

  /** Gives the sandbox back (a throw-away one: stops the stack and ends the namespace's holder). */
  async close(): Promise<void> {
    this.closed = true;
    const made = await this.made?.catch(() => undefined);
    if (made === undefined) return;
    await made.close(this.tainted);
  }
}
