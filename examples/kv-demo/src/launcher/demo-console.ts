import {
  type ConsoleBackend,
  ConsoleActionError,
  type ConsoleHost,
  type ConsoleReport,
  ConsoleServer,
  type ConsoleSnapshot,
  type PingBatch,
  Topic,
} from '@ferry/console';
import type { MigrationPlan, MigrationStatus, ProbeResult } from '@ferry/engine';
import { PAGE_SIZE } from '../guest/layout.ts';
import type { WireEvent } from '../ipc.ts';
import type { PingClient } from './client.ts';

/** How often the ping's replies go to the page. */
const PING_BATCH_MS = 100;

/** A host as the console lists it. */
export interface DemoHost {
  readonly id: string;
  readonly name: string;
  readonly port: number;
  readonly pageSizes: readonly number[];
  readonly note: string;
  /** Only the source runs a guest at first. */
  readonly source: boolean;
  alive(): boolean;
}

/** The console's refusing host runs pages of this size (as an arm64 host with 16 KiB pages), so the engine refuses the guest. */
export const OTHER_PAGE_SIZE = 16 * 1024;

type HostPort = { readonly port: number; alive(): boolean };

/** The demo's hosts as the console lists them: the source, the destination and, with the console, the 16 KiB-page host. */
export function demoHosts(h: { source: HostPort; destination: HostPort; other?: HostPort }): DemoHost[] {
  const hosts: DemoHost[] = [
    { id: 'source', name: 'source', pageSizes: [PAGE_SIZE], note: 'runs the guest', source: true, ...pick(h.source) },
    { id: 'destination', name: 'destination', pageSizes: [PAGE_SIZE], note: 'takes the guest', source: false, ...pick(h.destination) },
  ];
  if (h.other) {
    const note = 'runs 16 KiB pages (as an arm64 host): must refuse this guest';
    hosts.push({ id: 'other', name: 'host-16k', pageSizes: [OTHER_PAGE_SIZE], note, source: false, ...pick(h.other) });
  }
  return hosts;
}

function pick(h: HostPort): { port: number; alive(): boolean } {
  return { port: h.port, alive: () => h.alive() };
}

/** What the console's buttons do in the demo: the launcher's side. */
export interface DemoActions {
  check(target: DemoHost): Promise<ProbeResult>;
  plan(target: DemoHost): Promise<MigrationPlan>;
  /** Starts the migration (the launcher waits for this in console mode). */
  migrate(target: DemoHost): void;
  cancel(): void;
  /** SIGKILLs the migration's destination host. */
  killDestination(): void;
}

/**
 * The kv-demo's console: the launcher's hosts and guest behind `@ferry/console`'s server. It
 * turns the launcher's view (hosts, the ping's replies, the engine's events and status, the guest
 * session, the log) into the console's topics, and the console's buttons into `DemoActions`.
 */
export class DemoConsole implements ConsoleBackend {
  readonly server: ConsoleServer;
  private readonly epochMs = performance.now();
  private readonly hosts: DemoHost[];
  private readonly guest: { memoryBytes: number; pageSize: number; dirtyPagesPerSec: number };
  private readonly maxDowntimeMs: number;
  private readonly actions: DemoActions;
  private state: 'idle' | 'migrating' | 'completed' | 'failed' = 'idle';
  /** Which host runs the guest now. */
  private guestHost: string;
  private target: DemoHost | undefined;
  private pingT: number[] = [];
  private pingMs: number[] = [];
  private readonly pingTimer: NodeJS.Timeout;
  private client: PingClient | undefined;

  private constructor(
    server: ConsoleServer,
    hosts: DemoHost[],
    guest: { memoryBytes: number; pageSize: number },
    maxDowntimeMs: number,
    actions: DemoActions,
  ) {
    this.server = server;
    this.hosts = hosts;
    this.guest = { ...guest, dirtyPagesPerSec: 0 };
    this.maxDowntimeMs = maxDowntimeMs;
    this.actions = actions;
    this.guestHost = hosts.find((h) => h.source)?.id ?? '';
    this.pingTimer = setInterval(() => this.flushPing(), PING_BATCH_MS);
  }

  static async start(options: {
    readonly port: number;
    readonly hosts: DemoHost[];
    readonly guest: { readonly memoryBytes: number; readonly pageSize: number };
    readonly maxDowntimeMs: number;
    readonly actions: DemoActions;
  }): Promise<DemoConsole> {
    let self: DemoConsole | undefined;
    const backend: ConsoleBackend = {
      snapshot: () => (self as DemoConsole).snapshot(),
      act: (action, args) => (self as DemoConsole).act(action, args),
    };
    const server = await ConsoleServer.listen({ backend, port: options.port, title: 'Ferry kv-demo console' });
    self = new DemoConsole(server, options.hosts, options.guest, options.maxDowntimeMs, options.actions);
    self.publishHosts();
    return self;
  }

  get url(): string {
    return this.server.url;
  }

  /** Seconds since the console started: the time axis every chart shares. */
  t(ms = performance.now()): number {
    return (ms - this.epochMs) / 1000;
  }

  snapshot(): ConsoleSnapshot {
    const hosts: ConsoleHost[] = this.hosts.map((h) => ({
      id: h.id,
      name: h.name,
      address: `127.0.0.1:${h.port}`,
      pageSizes: h.pageSizes,
      state: h.alive() ? 'up' : 'down',
      note: h.note,
      guests:
        h.id === this.guestHost
          ? [
              {
                id: 'kv-demo',
                name: 'kv-demo',
                memoryBytes: this.guest.memoryBytes,
                pageSize: this.guest.pageSize,
                dirtyPagesPerSec: this.guest.dirtyPagesPerSec,
                state: this.state === 'migrating' ? 'migrating' : 'running',
              },
            ]
          : [],
    }));
    return {
      hosts,
      maxDowntimeMs: this.maxDowntimeMs,
      actions: ['check', 'plan', 'migrate', 'cancel', 'kill-destination'],
      migration: this.state,
    };
  }

  async act(action: string, args: Readonly<Record<string, unknown>>): Promise<unknown> {
    switch (action) {
      case 'check': {
        const target = this.host(args.target);
        const result = await this.actions.check(target);
        this.server.publish(Topic.CHECK, { target: target.name, result });
        return result;
      }
      case 'plan': {
        const target = this.host(args.target);
        try {
          const plan = await this.actions.plan(target);
          this.guest.dirtyPagesPerSec = plan.inputs.dirtyPagesPerSec;
          this.server.publish(Topic.PLAN, { target: target.name, plan });
          this.publishHosts();
          return plan;
        } catch (err) {
          const e = err as Error & { code?: string };
          this.server.publish(Topic.PLAN, { target: target.name, error: { code: e.code ?? 'ERROR', message: e.message } });
          throw new ConsoleActionError(e.code ?? 'ERROR', e.message);
        }
      }
      case 'migrate': {
        if (this.state !== 'idle') throw new ConsoleActionError('BUSY', `the demo migrates once; the migration is ${this.state}`);
        const target = this.host(args.target);
        this.target = target;
        this.state = 'migrating';
        this.publishHosts();
        this.actions.migrate(target);
        return { started: true, target: target.name };
      }
      case 'cancel':
        if (this.state !== 'migrating') throw new ConsoleActionError('IDLE', 'no migration is running');
        this.actions.cancel();
        return { cancelling: true };
      case 'kill-destination':
        if (this.state !== 'migrating') throw new ConsoleActionError('IDLE', 'no migration is running');
        this.actions.killDestination();
        this.log(`console: killed the destination host (${this.target?.name}) with SIGKILL`);
        this.publishHosts();
        return { killed: this.target?.name };
      default:
        throw new ConsoleActionError('UNKNOWN_ACTION', `no action "${action}"`, 404);
    }
  }

  /** The terminal's Enter: as the Migrate button with this target (ignored once a migration started). */
  migrateFromTerminal(targetId: string): void {
    this.act('migrate', { target: targetId }).catch(() => {});
  }

  /** Which host the migration goes to, once chosen. */
  get migrationTarget(): DemoHost | undefined {
    return this.target;
  }

  /** The ping: every SET/GET reply. */
  followClient(client: PingClient): void {
    this.client = client;
    client.onSample = (sentMs, latencyMs) => {
      this.pingT.push(this.t(sentMs));
      this.pingMs.push(latencyMs);
    };
  }

  migrationEvent(event: WireEvent): void {
    this.server.publish(Topic.MIGRATION, { t: this.t(), event });
    if (event.type === 'completed') {
      this.state = 'completed';
      if (this.target) this.guestHost = this.target.id;
      this.publishHosts();
    } else if (event.type === 'failed') {
      this.state = 'failed';
      this.publishHosts();
    }
  }

  /** A failure that never reached the engine's events (the source host could not start the migration). */
  migrationFailed(code: string, message: string): void {
    if (this.state !== 'migrating') return;
    this.migrationEvent({ type: 'failed', code, message, guestResumed: true });
  }

  status(status: MigrationStatus): void {
    if (status.dirtyPagesPerSec > 0) this.guest.dirtyPagesPerSec = status.dirtyPagesPerSec;
    this.server.publish(Topic.STATUS, { t: this.t(), status });
  }

  session(line: string): void {
    this.server.publish(Topic.SESSION, { t: this.t(), line });
  }

  log(line: string): void {
    this.server.publish(Topic.LOG, { t: this.t(), line });
  }

  report(report: ConsoleReport): void {
    this.flushPing(true);
    this.publishHosts();
    this.server.publish(Topic.REPORT, report);
  }

  publishHosts(): void {
    this.server.publish(Topic.HOSTS, this.snapshot());
  }

  async close(): Promise<void> {
    clearInterval(this.pingTimer);
    await this.server.close();
  }

  private flushPing(always = false): void {
    const client = this.client;
    if (!client || (this.pingT.length === 0 && !always)) return;
    const stats = client.snapshot();
    // The client counts from its own start; the page from the console's.
    const gapEndT = this.t() - (client.elapsedMs - stats.longestGapEndMs) / 1000;
    const batch: PingBatch = {
      t: this.pingT,
      ms: this.pingMs,
      sent: stats.sent,
      answered: stats.answered,
      wrong: stats.wrongAnswers,
      lost: stats.lostWrites,
      longestGapMs: stats.longestGapMs,
      longestGapEndT: stats.longestGapMs > 0 ? gapEndT : 0,
    };
    this.pingT = [];
    this.pingMs = [];
    this.server.publish(Topic.PING, batch);
  }

  private host(id: unknown): DemoHost {
    const host = this.hosts.find((h) => h.id === id);
    if (!host) throw new ConsoleActionError('NO_SUCH_HOST', `no host "${String(id)}"`, 400);
    if (host.source) throw new ConsoleActionError('SAME_HOST', 'the guest runs on that host already', 400);
    return host;
  }
}
