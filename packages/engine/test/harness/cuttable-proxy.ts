import net from 'node:net';
import { onTestFinished } from 'vitest';

export interface CuttableProxy {
  readonly port: number;
  /** Destroys every connection through the proxy now. */
  cut(): void;
  /** While true, new connections are closed at once (the destination looks unreachable). */
  refuse(yes: boolean): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of `targetPort` whose connections can be cut at any moment.
 * Call inside a test: it closes when the test finishes.
 */
export async function cuttableProxy(targetPort: number): Promise<CuttableProxy> {
  const pairs = new Set<net.Socket>();
  let accepting = true;
  const server = net.createServer((client) => {
    if (!accepting) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
      pairs.add(a);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: CuttableProxy = {
    port: (server.address() as net.AddressInfo).port,
    cut(): void {
      for (const s of pairs) s.destroy();
      pairs.clear();
    },
    refuse(yes: boolean): void {
      accepting = !yes;
    },
    close: (): Promise<void> => new Promise((resolve) => server.close(() => resolve())),
  };
  onTestFinished(() => {
    proxy.cut();
    return proxy.close();
  });
  return proxy;
}
