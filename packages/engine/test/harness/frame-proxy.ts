import net from 'node:net';
import { onTestFinished } from 'vitest';
import { wholeFrameLength } from './frame-bytes.ts';

/** Which way a frame goes through the proxy. */
export type Direction = 'to-destination' | 'to-source';

/** What the proxy does with one frame: forward it, forward other bytes, hold it, or cut every connection. */
export type FrameAction = 'pass' | 'cut' | { readonly replace: Uint8Array } | { readonly delayMs: number };

/** Sees every whole frame (header included) in each direction, on every connection, in order. */
export type FrameHook = (frame: { direction: Direction; type: number; bytes: Buffer; connection: number }) => FrameAction;

export interface FrameProxy {
  readonly port: number;
  /** Connections accepted so far (the first is 0). */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of `targetPort` that reads the Ferry frames crossing it
 * (8-byte header: u32 body length, u8 type, u8 flags; a 4-byte trailer when CHECKED) and lets `hook` pass, alter, delay or cut each one,
 * keeping the order of each direction. For fault tests: a flipped bit in one frame, a frame
 * held back, a connection cut just as a given message crosses. Closes when the test finishes.
 */
export async function frameProxy(targetPort: number, hook: FrameHook): Promise<FrameProxy> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const cutAll = (): void => {
    for (const s of sockets) s.destroy();
  };
  const server = net.createServer((client) => {
    const connection = connections++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const relay = (from: net.Socket, to: net.Socket, direction: Direction): void => {
      let pending = Buffer.alloc(0);
      // Frames leave in order: a delayed frame holds back the ones behind it.
      let chain: Promise<void> = Promise.resolve();
      from.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        for (let length = wholeFrameLength(pending); length !== undefined; length = wholeFrameLength(pending)) {
          const bytes = pending.subarray(0, length);
          pending = pending.subarray(length);
          const action = hook({ direction, type: bytes[4]!, bytes: Buffer.from(bytes), connection });
          chain = chain.then(async () => {
            if (action === 'cut') return cutAll();
            if (action === 'pass') return void (to.writable && to.write(bytes));
            if ('delayMs' in action) await new Promise((r) => setTimeout(r, action.delayMs));
            const out = 'replace' in action ? action.replace : bytes;
            if (to.writable) to.write(out);
          });
        }
      });
      from.on('end', () => void chain.then(() => to.end()));
      from.on('error', () => to.destroy());
      from.on('close', () => void chain.then(() => to.destroy()));
    };
    relay(client, upstream, 'to-destination');
    relay(upstream, client, 'to-source');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: FrameProxy = {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise((resolve) => {
        cutAll();
        server.close(() => resolve());
      }),
  };
  onTestFinished(() => proxy.close());
  return proxy;
}

/** `bytes` with bit `bit` of byte `at` flipped (a copy). */
export function flipBit(bytes: Uint8Array, at: number, bit = 0): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[at]! ^= 1 << bit;
  return out;
}
