import { describe, expect, it } from 'vitest';
import {
  decodeBody,
  encodeFrame,
  ErrorCode,
  Feature,
  type Frame,
  GuestMemory,
  Intent,
  MessageType,
  messages,
  TcpTransport,
} from '../../src/index.ts';
import { findTornPages } from '../../src/testing/index.ts';
import { expectSameMemory, listenSink, MiB, migrationPair } from '../harness/index.ts';

describe('several data channels', () => {
  it.each([2, 4])('stripes pages over %i connections and ends byte-identical under writes', async (channels) => {
    const pair = await migrationPair({
      // ram1 is not a whole number of bitmap words.
      memory: [24 * MiB, 5 * MiB + 4096 * 3],
      fill: { content: 'pattern', regions: [0] },
      guest: { pagesPerSec: 20_000, workingSetFraction: 0.3 },
    });
    const report = await pair.migrate({ channels, maxBandwidth: 100e6 });
    const incoming = await pair.destination.result;
    await pair.close();
    expect(incoming.channels).toBe(channels);
    expect(report.rounds.length).toBeGreaterThan(1);
    expectSameMemory(incoming.memory, pair.memory);
    expect(findTornPages(incoming.memory)).toEqual([]);
    expect(report.digest).toBe(incoming.digest);
  });

  it('refuses a data channel that names no migration in progress, before anything is allocated', async () => {
    const destination = await listenSink({ controlPlane: { allocate: (layout) => GuestMemory.fromLayout(layout) } });
    const t = await TcpTransport.connect({ host: '127.0.0.1', port: destination.port, maxBodyBytes: 65536 });
    const reply = new Promise<Frame>((resolve) => t.onFrame(resolve));
    t.write(
      encodeFrame(MessageType.HELLO, messages.hello, {
        versionMin: 1,
        versionMax: 1,
        intent: Intent.CHANNEL,
        sessionId: new Uint8Array(16).fill(7),
        pageSize: 4096,
        features: Feature.CHANNELS,
        guestId: '',
        regions: [{ name: 'ram0', sizeBytes: MiB }],
      }),
    );
    const frame = await reply;
    expect(frame.type).toBe(MessageType.HELLO_REJECT);
    expect(decodeBody(messages.errorReport, frame.body).code).toBe(ErrorCode.REJECTED);
    expect(destination.plane.calls).toEqual([]);
    t.destroy();
    await destination.close();
  });
});
