/**
 * The web console (@ferry/console) for the QEMU example: the two QEMU hosts and the VM, Ferry's
 * migration live from its events and `status()`, every ping reply to the VM plotted as it comes,
 * and the VM's serial console in the session pane. The run is scripted (src/scenario.ts), so the
 * page watches; its only button is Cancel.
 */
import {
  type ConsoleBackend,
  type ConsoleReport,
  type ConsoleSnapshot,
  ConsoleServer,
  downtimeParts,
  MigrationFollower,
  type PingBatch,
  Topic,
} from '@ferry/console';
import type { MigrationEvent, MigrationHandle } from '@ferry/engine';
import type { ScenarioObserver, ScenarioReport } from './scenario.ts';
import type { Heartbeat } from './serial-console.ts';

/** Ping replies go to the page in batches this often, ms. */
const PING_EVERY_MS = 200;
/** A heartbeat line in the session pane at most this often per VM, ms (the guest sends one every 10 ms). */
const HEARTBEAT_LINE_EVERY_MS = 250;

type VmState = 'booting' | 'running' | 'paused' | 'migrating' | 'moved' | 'stopped' | 'not started';

export class QemuConsole {
  private readonly server: ConsoleServer;
  private readonly follower: MigrationFollower;
  private readonly epochMs = Date.now();
  private readonly startedAt = performance.now();
  private readonly vms: Record<'source' | 'destination', VmState> = { source: 'booting', destination: 'not started' };
  private migration = 'idle';
  private handle: MigrationHandle | undefined;
  private pingT: number[] = [];
  private pingMs: number[] = [];
  private ping = { answered: 0, lastAtMs: 0, longestGapMs: 0, longestGapEndT: 0 };
  private readonly lastBeatLineAt = { source: 0, destination: 0 };
  private readonly pingTimer: NodeJS.Timeout;

  private constructor(
    server: ConsoleServer,
    private readonly guest: { ramBytes: number; ratePagesPerSec: number; maxDowntimeMs: number },
  ) {
    this.server = server;
    this.follower = new MigrationFollower(server, () => this.t());
    this.pingTimer = setInterval(() => this.flushPing(), PING_EVERY_MS);
    this.pingTimer.unref();
  }

  static async start(o: { port?: number; ramBytes: number; ratePagesPerSec: number; maxDowntimeMs: number }): Promise<QemuConsole> {
    let self: QemuConsole | undefined;
    const backend: ConsoleBackend = {
      snapshot: () => self!.snapshot(),
      act: async (action) => {
        if (action !== 'cancel') throw new Error(`the QEMU example's run is scripted; no ${action}`);
        if (!self?.handle) throw new Error('no migration to cancel yet');
        self.handle.cancel(new Error('cancelled from the console'));
        return { cancelled: true };
      },
    };
    const server = await ConsoleServer.listen({ backend, ...(o.port !== undefined && { port: o.port }), title: 'Ferry: a QEMU VM' });
    self = new QemuConsole(server, o);
    self.publishHosts();
    return self;
  }

  get url(): string {
    return this.server.url;
  }

  /** What the scenario reports as it runs, published to the page. */
  readonly observer: ScenarioObserver = {
    serial: (vm, line, beat) => this.serial(vm, line, beat),
    ping: (atEpochMs, rttMs) => this.onPing(atEpochMs, rttMs),
    step: (line) => this.step(line),
    migrationStarted: (handle) => {
      this.handle = handle;
      void this.follower.follow(handle);
    },
    migrationEvent: (event) => this.onEvent(event),
  };

  /** The run's outcome, as the page's report panel shows it. */
  finish(report: ScenarioReport, text: string, ok: boolean): void {
    this.flushPing();
    const m = report.migration;
    const result: ConsoleReport = {
      ok,
      outcome: report.error === undefined ? 'completed' : report.runningOn === 'source' ? 'rolled-back' : 'error',
      ...(m && { downtimeMs: m.downtimeMs }),
      ...(m?.downtimeParts && { downtimeParts: downtimeParts(m.downtimeParts) }),
      wrong: report.checker.bad,
      lost: report.state.readBack === report.state.written ? 0 : 1,
      longestGapMs: report.ping?.longestGapMs ?? report.heartbeatGapMs,
      ...(report.error !== undefined && { reason: report.error }),
      text,
    };
    this.vms.source = report.runningOn === 'source' ? 'running' : 'stopped';
    this.vms.destination = report.runningOn === 'destination' ? 'running' : 'stopped';
    this.migration = report.error === undefined ? 'completed' : 'failed';
    this.publishHosts();
    this.server.publish(Topic.REPORT, result);
  }

  async close(): Promise<void> {
    clearInterval(this.pingTimer);
    await this.server.close();
  }

  private snapshot(): ConsoleSnapshot {
    const vm = (on: 'source' | 'destination') => ({
      id: 'vm',
      name: 'QEMU VM (busybox guest, page dirtier and key-value service)',
      memoryBytes: this.guest.ramBytes,
      pageSize: 4096,
      dirtyPagesPerSec: this.guest.ratePagesPerSec,
      state: this.vms[on],
    });
    const runsOn: 'source' | 'destination' | undefined =
      this.vms.destination === 'running' || this.vms.destination === 'moved'
        ? 'destination'
        : this.vms.source !== 'stopped'
          ? 'source'
          : undefined;
    return {
      hosts: (['source', 'destination'] as const).map((h) => ({
        id: h,
        name: h,
        address: h === 'source' ? 'QEMU, shared RAM file' : 'QEMU -incoming defer',
        pageSizes: [4096],
        state: this.vms[h] === 'stopped' || this.vms[h] === 'not started' ? 'down' : 'up',
        note: h === 'source' ? 'runs the VM' : 'takes the VM',
        guests: runsOn === h ? [vm(h)] : [],
      })),
      maxDowntimeMs: this.guest.maxDowntimeMs,
      actions: ['cancel'],
      migration: this.migration,
    };
  }

  private t(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  private publishHosts(): void {
    this.server.publish(Topic.HOSTS, this.snapshot());
  }

  private step(line: string): void {
    if (line.startsWith('the source VM runs')) this.vms.source = 'running';
    if (line.startsWith('starting the destination')) this.vms.destination = 'booting';
    this.server.publish(Topic.LOG, { t: this.t(), line });
    this.publishHosts();
  }

  private serial(vm: 'source' | 'destination', line: string, beat?: Heartbeat): void {
    if (beat) {
      // Heartbeats come every 10 ms: a person reads a few a second.
      if (beat.atMs - this.lastBeatLineAt[vm] < HEARTBEAT_LINE_EVERY_MS) return;
      this.lastBeatLineAt[vm] = beat.atMs;
      line = `heartbeat ${beat.seq}: ${beat.writes} pages written, ${beat.checked} checked, ${beat.bad} bad`;
    }
    this.server.publish(Topic.SESSION, { t: this.t(), line: `[${vm}] ${line}` });
  }

  private onPing(atEpochMs: number, rttMs: number): void {
    const t = (atEpochMs - this.epochMs) / 1000;
    const p = this.ping;
    if (p.lastAtMs > 0 && atEpochMs - p.lastAtMs > p.longestGapMs) {
      p.longestGapMs = atEpochMs - p.lastAtMs;
      p.longestGapEndT = t;
    }
    p.lastAtMs = atEpochMs;
    p.answered++;
    this.pingT.push(t);
    this.pingMs.push(rttMs);
  }

  private flushPing(): void {
    if (this.pingT.length === 0) return;
    const p = this.ping;
    // ICMP has no wrong answers, and a lost reply is a gap: the counters the page keeps for a service stay 0.
    const batch: PingBatch = {
      t: this.pingT,
      ms: this.pingMs,
      sent: p.answered,
      answered: p.answered,
      wrong: 0,
      lost: 0,
      longestGapMs: p.longestGapMs,
      longestGapEndT: p.longestGapEndT,
    };
    this.pingT = [];
    this.pingMs = [];
    this.server.publish(Topic.PING, batch);
  }

  private onEvent(event: MigrationEvent): void {
    this.follower.onEvent(event);
    if (event.type === 'phase') {
      this.migration = event.to === 'completed' || event.to === 'failed' ? event.to : 'migrating';
      if (event.to === 'precopy') this.vms.source = 'migrating';
      if (event.to === 'paused') this.vms.source = 'paused';
      if (event.to === 'completed') {
        this.vms.source = 'moved';
        this.vms.destination = 'running';
      }
      if (event.to === 'failed') this.vms.source = 'running';
      this.publishHosts();
    }
  }
}
