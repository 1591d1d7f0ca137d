import { writeFileSync } from 'node:fs';
import { GuestMemory, MigrationDestination } from '@ferry/engine';
import type { Layout } from '../scenario.ts';

export interface ReceiveOptions {
  readonly port: number;
  readonly host?: string;
  readonly image: string;
  readonly layout: Layout;
  readonly psk?: Buffer;
  /** Take one migration after another on the same port (for the kit's role source), until stopped. */
  readonly repeat?: boolean;
  readonly log: (line: string) => void;
}

/**
 * The reference destination: Ferry's engine taking a guest of exactly `layout` (any other is
 * refused by its control plane, FERRY_REJECTED; another page size FERRY_INCOMPATIBLE_GUEST) and
 * writing its memory, regions back to back, to `image` once it resumes. With `repeat`, each
 * migration that ends (done or failed) is followed by a fresh destination on the same port.
 */
export async function receive(o: ReceiveOptions, signal?: AbortSignal): Promise<number> {
  let last = 1;
  do {
    const d = await MigrationDestination.listen({
      ...(o.host && { host: o.host }),
      port: o.port,
      pageSizes: [o.layout.pageSize],
      ...(o.psk && { psk: o.psk }),
      recoveryTimeoutMs: 5000,
      controlPlane: {
        admit: (g) =>
          JSON.stringify(g.layout.regions.map((r) => [r.name, r.sizeBytes])) ===
          JSON.stringify(o.layout.regions.map((r) => [r.name, r.sizeBytes]))
            ? undefined
            : `expected the layout ${o.layout.regions.map((r) => `${r.name}:${r.sizeBytes}`).join(', ')}`,
        allocate: (l) => GuestMemory.fromLayout(l),
        loadDeviceState() {},
        resume(memory) {
          writeFileSync(o.image, Buffer.concat(memory.regions.map((r) => r.bytes)));
        },
      },
    });
    o.log(`listening on ${d.host}:${d.port}`);
    const stop = new Promise<'stop'>((resolve) => signal?.addEventListener('abort', () => resolve('stop'), { once: true }));
    const outcome = await Promise.race([d.result.then((m) => `received ${m.pagesReceived} pages, digest ${m.digest}`), stop]).catch(
      (err: Error & { code?: string }) => `failed: ${err.code ?? 'ERROR'}: ${err.message}`,
    );
    await d.close();
    if (outcome === 'stop') return last;
    o.log(outcome);
    last = outcome.startsWith('received') ? 0 : 1;
  } while (o.repeat && !signal?.aborted);
  return last;
}
