/**
 * The campaign's fault proxy: a TCP proxy on 127.0.0.1 in front of a destination that reads the
 * Ferry frames crossing it, in both directions and on every connection (control, data channels,
 * reconnections), and does one seeded fault to the frame its trigger names: a bit flip in a given
 * part of the frame, a reset, a stall, a truncation, a drop, a duplicate, or kill -9 of a host.
 * Everything else passes unchanged and in order. A stall stops reading, so TCP back-pressure
 * reaches the sender as a slow network would.
 */
import net from 'node:net';
import { limits, MessageType } from '@ferry/engine';
import type { Direction, Fault, FrameRegion, InjectedFault } from './fault.ts';
import { typeName } from './fault.ts';
import { FrameSplitter } from './frame-splitter.ts';

/** One frame as the proxy sees it (header included). */
export interface ProxiedFrame {
  readonly direction: Direction;
  readonly type: number;
  readonly bytes: Buffer;
  readonly connection: number;
}

export interface FaultProxyOptions {
  readonly targetPort: number;
  readonly fault?: Fault;
  /** Called, synchronously, for a `kill` fault. */
  readonly onKill?: (who: 'source' | 'destination') => void;
  /** Sees every frame before the fault does; returns frames to send instead (none: drop it), or undefined to go on. */
  readonly rewrite?: (frame: ProxiedFrame) => Buffer[] | undefined;
}

export interface FaultProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** What the fault did, once it fired. */
  readonly injected: InjectedFault | undefined;
  /** Frames seen, by type name and direction (`PAGES>D`), for the record. */
  readonly frameCounts: Readonly<Record<string, number>>;
  close(): Promise<void>;
}

/** The byte range of `region` in `frame` (header included), or undefined if the frame has none. */
export function regionOf(frame: Buffer, region: FrameRegion): [number, number] | undefined {
  const h = limits.FRAME_HEADER_BYTES;
  const type = frame[4];
  // The body ends before a version 3 trailer.
  const end = Math.min(frame.byteLength, h + frame.readUInt32LE(0));
  const range = (a: number, b: number): [number, number] | undefined => (b > a && a >= 0 && b <= end ? [a, b] : undefined);
  switch (region) {
    case 'header':
      return range(0, h);
    case 'body':
      return range(h, end);
    case 'device-state':
      return type === MessageType.DEVICE_STATE ? range(h + 16, end) : undefined;
    case 'page-entries':
    case 'page-data': {
      if (type !== MessageType.PAGES || end < h + 12) return undefined;
      const entriesEnd = h + 12 + frame.readUInt32LE(h + 8) * limits.PAGE_ENTRY_BYTES;
      if (entriesEnd > end) return undefined;
      return region === 'page-entries' ? range(h, entriesEnd) : range(entriesEnd, end);
    }
  }
}

export async function faultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const started = performance.now();
  const sockets = new Set<net.Socket>();
  const frameCounts: Record<string, number> = {};
  const fault = options.fault;
  let matched = 0;
  const seen = new Set<number>();
  let injected: InjectedFault | undefined;
  let connections = 0;

  const server = net.createServer((client) => {
    const connection = connections++;
    const upstream = net.connect(options.targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const pair = [client, upstream] as const;
    for (const s of pair) {
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        for (const other of pair) other.destroy();
      });
    }
    const closeBoth = (): void => {
      for (const s of pair) s.destroy();
    };
    const resetBoth = (): void => {
      for (const s of pair) if (!s.destroyed) s.resetAndDestroy();
    };

    const relay = async (from: net.Socket, to: net.Socket, direction: Direction): Promise<void> => {
      const splitter = new FrameSplitter();
      try {
        for await (const chunk of from as AsyncIterable<Buffer>) {
          if (splitter.unframed) {
            await send(to, chunk);
            continue;
          }
          for (const frame of splitter.push(chunk)) {
            if (!(await handle(frame, direction, to))) return;
          }
          if (splitter.unframed) await send(to, splitter.take());
        }
        const rest = splitter.take();
        if (rest.byteLength > 0) await send(to, rest);
        to.end();
      } catch {
        to.destroy();
      }
    };

    /** Sends one frame on, or does the fault to it; false: this direction is finished. */
    const handle = async (frame: Buffer, direction: Direction, to: net.Socket): Promise<boolean> => {
      const type = frame[4]!;
      const key = `${typeName(type)}${direction === 'to-destination' ? '>D' : '>S'}`;
      frameCounts[key] = (frameCounts[key] ?? 0) + 1;
      const replaced = options.rewrite?.({ direction, type, bytes: frame, connection });
      if (replaced) {
        for (const f of replaced) await send(to, f);
        return true;
      }
      const t = fault?.trigger;
      const armed = t?.after === undefined || seen.has(t.after);
      seen.add(type);
      if (
        !armed ||
        !fault ||
        !t ||
        injected ||
        t.direction !== direction ||
        (t.types.length > 0 && !t.types.includes(type)) ||
        (t.connection !== 'any' && t.connection !== connection) ||
        (t.region && !regionOf(frame, t.region)) ||
        ++matched !== t.nth
      ) {
        await send(to, frame);
        return true;
      }
      const record = (extra: { offset?: number; bit?: number } = {}): void => {
        injected = {
          frame: typeName(type),
          direction,
          connection,
          frameBytes: frame.byteLength,
          ...extra,
          atMs: Math.round(performance.now() - started),
        };
      };
      const a = fault.action;
      switch (a.kind) {
        case 'flip': {
          const [from, end] = regionOf(frame, a.region)!;
          const bitIndex = Math.min(Math.floor(a.where * (end - from) * 8), (end - from) * 8 - 1);
          const offset = from + (bitIndex >>> 3);
          const bit = bitIndex & 7;
          const out = Buffer.from(frame);
          out[offset]! ^= 1 << bit;
          record({ offset, bit });
          await send(to, out);
          return true;
        }
        case 'reset':
          record();
          if (a.when === 'after') {
            await send(to, frame, true);
            closeBoth();
          } else {
            resetBoth();
          }
          return false;
        case 'stall':
          record();
          await new Promise((r) => setTimeout(r, a.ms));
          await send(to, frame);
          return true;
        case 'truncate-frame': {
          // A version 3 frame keeps its trailer, which no longer matches: bytes lost inside a frame.
          const body = frame.readUInt32LE(0);
          const trailer = frame.subarray(limits.FRAME_HEADER_BYTES + body);
          const keep = Math.min(body - 1, Math.floor(a.keep * body));
          const out = Buffer.concat([frame.subarray(0, limits.FRAME_HEADER_BYTES + keep), trailer]);
          out.writeUInt32LE(keep, 0);
          record({ offset: out.byteLength });
          await send(to, out);
          return true;
        }
        case 'truncate-stream': {
          const keep = Math.max(1, Math.min(frame.byteLength - 1, Math.floor(a.keep * frame.byteLength)));
          record({ offset: keep });
          await send(to, frame.subarray(0, keep), true);
          to.end();
          await new Promise((r) => setTimeout(r, 20));
          closeBoth();
          return false;
        }
        case 'drop':
          record();
          return true;
        case 'duplicate':
          record();
          await send(to, frame);
          await send(to, frame);
          return true;
        case 'kill':
          // Before: the frame is never delivered. After: it is handed to the kernel first.
          record();
          if (a.when === 'after') await send(to, frame, true);
          options.onKill?.(a.who);
          return true;
      }
    };

    void relay(client, upstream, 'to-destination');
    void relay(upstream, client, 'to-source');
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    get injected() {
      return injected;
    },
    frameCounts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Writes `bytes`, waiting while the socket's buffer is full (or, with `flushed`, until it is handed to the kernel). */
function send(to: net.Socket, bytes: Uint8Array, flushed = false): Promise<void> {
  if (to.destroyed || !to.writable) return Promise.resolve();
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      to.off('drain', finish);
      to.off('close', finish);
      resolve();
    };
    to.once('close', finish);
    const ok = to.write(bytes, () => flushed && finish());
    if (flushed) return;
    if (ok) finish();
    else to.once('drain', finish);
  });
}
