import type { Readable } from 'node:stream';

/** One heartbeat of the guest's dirtier: `HB <seq> <writes> <checked> <bad>`, stamped on arrival. */
export interface Heartbeat {
  readonly atMs: number;
  readonly seq: number;
  readonly writes: number;
  readonly checked: number;
  readonly bad: number;
}

/** Heartbeats kept: 10 minutes at one per 10 ms. */
const MAX_HEARTBEATS = 60_000;

/**
 * The guest's serial console as QEMU's stdout: heartbeats parsed and time-stamped as they arrive
 * (a gap in them is a gap in the guest's execution as the host saw it), other lines kept for
 * diagnostics, and waits for a given line.
 */
export class SerialConsole {
  readonly heartbeats: Heartbeat[] = [];
  private readonly lines: string[] = [];
  private readonly listeners: ((line: string, heartbeat?: Heartbeat) => void)[] = [];
  private readonly waiters: { text: string; resolve: () => void }[] = [];
  private partial = '';

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => this.onData(chunk));
  }

  /** The last heartbeat, if any came. */
  get last(): Heartbeat | undefined {
    return this.heartbeats.at(-1);
  }

  /** Lines that were not heartbeats (`CORRUPT ...` among them), most recent last. */
  tail(count = 40): string {
    return this.lines.slice(-count).join('\n');
  }

  /** Calls `listener` with every line from now on (a heartbeat's parsed too): what someone at the console reads. */
  onLine(listener: (line: string, heartbeat?: Heartbeat) => void): void {
    this.listeners.push(listener);
  }

  /** Resolves once a line containing `text` has arrived (or already had). */
  waitFor(text: string, timeoutMs: number): Promise<void> {
    if (this.lines.some((l) => l.includes(text))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${text}" on the guest's console within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        text,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private onData(chunk: string): void {
    const text = this.partial + chunk;
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    if (this.partial.length > 4096) this.partial = '';
    const now = performance.now();
    for (const raw of parts) {
      const line = raw.replace(/\r$/, '');
      const hb = /^HB (\d+) (\d+) (\d+) (\d+)$/.exec(line);
      if (hb) {
        if (this.heartbeats.length >= MAX_HEARTBEATS) this.heartbeats.splice(0, MAX_HEARTBEATS / 2);
        const beat = { atMs: now, seq: Number(hb[1]), writes: Number(hb[2]), checked: Number(hb[3]), bad: Number(hb[4]) };
        this.heartbeats.push(beat);
        for (const l of this.listeners) l(line, beat);
        continue;
      }
      this.lines.push(line);
      if (this.lines.length > 2000) this.lines.splice(0, 1000);
      for (const l of this.listeners) l(line);
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        if (line.includes(this.waiters[i]!.text)) this.waiters.splice(i, 1)[0]!.resolve();
      }
    }
  }
}

/** The longest time between consecutive heartbeats arriving in [fromMs, toMs] (both consoles merged). */
export function longestHeartbeatGapMs(beats: readonly Heartbeat[], fromMs = 0, toMs = Number.POSITIVE_INFINITY): number {
  const times = beats
    .map((b) => b.atMs)
    .filter((t) => t >= fromMs && t <= toMs)
    .sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
  return longest;
}
