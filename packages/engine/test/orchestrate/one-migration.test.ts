import { describe, expect, it } from 'vitest';
import { ErrorCode, FerryError, measureDirtyRate, migrate, plan, WriteBarrierTracker } from '../../src/index.ts';
import { guestMemory, listenSink, MiB } from '../harness/index.ts';

function plane(calls: string[]) {
  return {
    pause: () => void calls.push('pause'),
    resume: () => void calls.push('resume'),
    saveDeviceState: () => new Uint8Array(0),
    release: () => void calls.push('release'),
  };
}

describe('one migration per guest', () => {
  it('lets exactly one of two concurrent migrations of a guest run; the other is FERRY_BUSY and touches nothing', async () => {
    const memory = guestMemory(8 * MiB, { fill: 'pattern' });
    const tracker = new WriteBarrierTracker(memory.layout);
    const [a, b] = await Promise.all([listenSink(), listenSink()]);
    const calls: string[][] = [[], []];
    const results = await Promise.all(
      [a, b].map((d, i) =>
        migrate({ host: '127.0.0.1', port: d.port, memory, tracker, controlPlane: plane(calls[i]!) }).catch((e: unknown) => e),
      ),
    );
    const busy = results.filter((r) => r instanceof FerryError) as FerryError[];
    expect(busy).toHaveLength(1);
    expect(busy[0]).toMatchObject({
      code: ErrorCode.BUSY,
      message: 'this guest already has a migration in flight; a migration must wait for it to end',
    });
    const loser = results.indexOf(busy[0]!);
    expect(calls[loser]).toEqual([]);
    expect(calls[1 - loser]).toEqual(['pause', 'release']);
    // The loser's destination never got the guest.
    await [a, b][loser]!.close();
    await expect([a, b][1 - loser]!.result).resolves.toMatchObject({ digest: (results[1 - loser] as { digest: string }).digest });
  });

  it('knows the guest by its memory buffers and its tracker, not by the objects passed', async () => {
    const memory = guestMemory(4 * MiB);
    const tracker = new WriteBarrierTracker(memory.layout);
    const d = await listenSink();
    const running = migrate({ host: '127.0.0.1', port: d.port, memory, tracker, controlPlane: plane([]) });
    // A second tracker over the same memory, and a second use of the tracker alone, are the same guest.
    await expect(
      migrate({ host: '127.0.0.1', port: d.port, memory, tracker: new WriteBarrierTracker(memory.layout), controlPlane: plane([]) }),
    ).rejects.toMatchObject({ code: ErrorCode.BUSY });
    await expect(measureDirtyRate({ tracker, layout: memory.layout, durationMs: 10 })).rejects.toMatchObject({ code: ErrorCode.BUSY });
    await expect(plan({ host: '127.0.0.1', port: d.port, memory, tracker, sampleMs: 10, probeBytes: MiB })).rejects.toMatchObject({
      code: ErrorCode.BUSY,
    });
    await running;
    // Released when it ends: the guest may be sampled (or migrated) again.
    await expect(measureDirtyRate({ tracker, layout: memory.layout, durationMs: 10 })).resolves.toMatchObject({ workingSetPages: 0 });
  });

  it('is released after a failed migration too', async () => {
    const memory = guestMemory(MiB);
    const tracker = new WriteBarrierTracker(memory.layout);
    const d = await listenSink();
    await d.close();
    await expect(migrate({ host: '127.0.0.1', port: d.port, memory, tracker, controlPlane: plane([]) })).rejects.toBeInstanceOf(FerryError);
    await expect(measureDirtyRate({ tracker, layout: memory.layout, durationMs: 10 })).resolves.toBeDefined();
  });
});
