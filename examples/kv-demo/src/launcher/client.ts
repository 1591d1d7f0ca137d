import net from 'node:net';
import { LineSplitter } from '../lines.ts';

/** Distinct keys the client writes. */
export const KEY_SPACE = 1000;
/** Requests per millisecond. */
const REQUESTS_PER_MS = 1;
/** After a stall the client skips ahead instead of sending a burst larger than this. */
const MAX_BURST = 50;
/** Wrong answers kept verbatim for the report. */
const MAX_SAMPLES = 5;

const Kind = { SET: 1, GET: 2, CHECK: 3, INFO: 4 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/** A request sent and not yet answered, with the answer it must get. */
interface Pending {
  readonly kind: Kind;
  readonly key: string;
  /** The value the key must hold at this point of the request stream; undefined: no value. */
  readonly expected: string | undefined;
  readonly sentMs: number;
  readonly onReply?: (line: string) => void;
}

export interface ClientStats {
  readonly sent: number;
  readonly answered: number;
  readonly unanswered: number;
  readonly sets: number;
  readonly gets: number;
  /** Replies during the run that differ from what the client's model says. */
  readonly wrongAnswers: number;
  /** Keys whose value at the final check is not the last value written. */
  readonly lostWrites: number;
  readonly keysWritten: number;
  readonly keysChecked: number;
  /** Longest time between two consecutive replies while the client was sending. */
  readonly longestGapMs: number;
  /** When that gap ended, in ms since the client started. */
  readonly longestGapEndMs: number;
  readonly maxLatencyMs: number;
  readonly samples: readonly string[];
  readonly connectionError: string | undefined;
}

/**
 * The "continuous ping": one request per millisecond (half SETs of fresh values, half GETs)
 * pipelined over one connection to the guest's address. The guest answers in order, so the
 * client knows exactly what each GET must return: it keeps its own model of every key, updated
 * as each SET is sent. It checks every answer, measures the longest silence, and at the end
 * reads back every key it ever wrote.
 */
export class PingClient {
  private readonly socket: net.Socket;
  private readonly lines = new LineSplitter();
  private readonly pending: Pending[] = [];
  private pendingHead = 0;
  private readonly model = new Map<string, string>();
  private readonly startMs = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private sendingSinceMs = 0;
  private scheduled = 0;
  private lastReplyMs = 0;
  private seq = 0;
  private onIdle: (() => void) | undefined;
  private stats = {
    sent: 0,
    answered: 0,
    sets: 0,
    gets: 0,
    wrongAnswers: 0,
    lostWrites: 0,
    keysChecked: 0,
    longestGapMs: 0,
    longestGapEndMs: 0,
    maxLatencyMs: 0,
  };
  private readonly samples: string[] = [];
  /** Called with each SET or GET reply: when it was sent (performance.now(), ms) and how long the answer took. */
  onSample: ((sentMs: number, latencyMs: number) => void) | undefined;
  private connectionError: string | undefined;
  private closing = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const line of this.lines.push(chunk)) this.onReply(line);
      } catch (err) {
        this.lose(`bad reply stream: ${(err as Error).message}`);
      }
    });
    socket.on('error', (err) => this.lose(err.message));
    socket.on('close', () => this.lose('connection closed'));
  }

  static connect(port: number): Promise<PingClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => resolve(new PingClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Milliseconds since the client was created. */
  get elapsedMs(): number {
    return performance.now() - this.startMs;
  }

  get outstanding(): number {
    return this.pending.length - this.pendingHead;
  }

  /** Starts the 1-per-millisecond request stream. */
  start(): void {
    this.sendingSinceMs = performance.now();
    this.scheduled = 0;
    this.lastReplyMs = 0;
    this.timer = setInterval(() => this.tick(), 1);
  }

  /** Stops sending, then waits (at most `timeoutMs`) for every answer. */
  async stop(timeoutMs: number): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.idle(timeoutMs);
  }

  /** Reads back every key written and compares it with the model; mismatches are lost writes. */
  async finalCheck(timeoutMs: number): Promise<void> {
    const now = performance.now();
    let out = '';
    for (const [key, expected] of this.model) {
      this.push({ kind: Kind.CHECK, key, expected, sentMs: now });
      out += `GET ${key}\n`;
    }
    this.write(out);
    await this.idle(timeoutMs);
  }

  /** Asks the guest who and where it is. */
  info(timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no INFO reply within ${timeoutMs} ms`)), timeoutMs);
      this.push({
        kind: Kind.INFO,
        key: '',
        expected: undefined,
        sentMs: performance.now(),
        onReply: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      this.write('INFO\n');
    });
  }

  snapshot(): ClientStats {
    return {
      ...this.stats,
      unanswered: this.outstanding,
      keysWritten: this.model.size,
      samples: [...this.samples],
      connectionError: this.connectionError,
    };
  }

  close(): void {
    this.closing = true;
    clearInterval(this.timer);
    this.socket.destroy();
  }

  private tick(): void {
    const due = Math.floor((performance.now() - this.sendingSinceMs) * REQUESTS_PER_MS) - this.scheduled;
    if (due <= 0) return;
    this.scheduled += due;
    const count = Math.min(due, MAX_BURST);
    const now = performance.now();
    let out = '';
    for (let i = 0; i < count; i++) {
      const key = `key${Math.floor(Math.random() * KEY_SPACE)}`;
      if (Math.random() < 0.5) {
        const value = `v${(this.seq++).toString(36)}.${Math.floor(Math.random() * 0xffff_ffff).toString(36)}`;
        this.model.set(key, value);
        this.push({ kind: Kind.SET, key, expected: value, sentMs: now });
        this.stats.sets++;
        out += `SET ${key} ${value}\n`;
      } else {
        this.push({ kind: Kind.GET, key, expected: this.model.get(key), sentMs: now });
        this.stats.gets++;
        out += `GET ${key}\n`;
      }
    }
    this.write(out);
  }

  private push(p: Pending): void {
    this.pending.push(p);
    this.stats.sent++;
  }

  private write(text: string): void {
    if (!this.connectionError && text) this.socket.write(text);
  }

  private onReply(line: string): void {
    const p = this.pending[this.pendingHead];
    if (!p) {
      this.wrong(`unsolicited reply "${line}"`);
      return;
    }
    this.pendingHead++;
    if (this.pendingHead > 4096 && this.pendingHead * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
    const now = performance.now();
    this.stats.answered++;
    this.stats.maxLatencyMs = Math.max(this.stats.maxLatencyMs, now - p.sentMs);
    if (this.timer !== undefined) {
      if (this.lastReplyMs > 0 && now - this.lastReplyMs > this.stats.longestGapMs) {
        this.stats.longestGapMs = now - this.lastReplyMs;
        this.stats.longestGapEndMs = now - this.startMs;
      }
      this.lastReplyMs = now;
    }
    if (p.kind === Kind.SET || p.kind === Kind.GET) this.onSample?.(p.sentMs, now - p.sentMs);
    switch (p.kind) {
      case Kind.SET:
        if (line !== 'OK') this.wrong(`SET ${p.key} ${p.expected} -> "${line}"`);
        break;
      case Kind.GET: {
        const want = p.expected === undefined ? 'NIL' : `VALUE ${p.expected}`;
        if (line !== want) this.wrong(`GET ${p.key} -> "${line}", expected "${want}"`);
        break;
      }
      case Kind.CHECK: {
        this.stats.keysChecked++;
        const want = `VALUE ${p.expected}`;
        if (line !== want) {
          this.stats.lostWrites++;
          this.sample(`final GET ${p.key} -> "${line}", last write was "${p.expected}"`);
        }
        break;
      }
      case Kind.INFO:
        p.onReply?.(line);
        break;
    }
    if (this.outstanding === 0) this.onIdle?.();
  }

  private wrong(what: string): void {
    this.stats.wrongAnswers++;
    this.sample(what);
  }

  private sample(what: string): void {
    if (this.samples.length < MAX_SAMPLES) this.samples.push(what);
  }

  private lose(reason: string): void {
    if (this.connectionError || this.closing) return;
    this.connectionError = reason;
    clearInterval(this.timer);
    this.onIdle?.();
  }

  private async idle(timeoutMs: number): Promise<void> {
    if (this.outstanding === 0 || this.connectionError) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.onIdle = resolve;
      timer = setTimeout(resolve, timeoutMs);
    });
    clearTimeout(timer);
    this.onIdle = undefined;
  }
}
