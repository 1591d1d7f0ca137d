import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeFrame, ErrorCode, Feature, type Frame, Intent, MessageType, messages, TcpTransport } from '../../src/index.ts';
import { listenSink, MiB, sourceHost } from '../harness/index.ts';
const hello = (features: number) =>
  encodeFrame(MessageType.HELLO, messages.hello, {
    versionMin: 1,
    versionMax: 1,
    intent: Intent.MIGRATE,
    sessionId: new Uint8Array(16).fill(3),
    pageSize: 4096,
    features,
    guestId: 'hostile',
    regions: [{ name: 'ram0', sizeBytes: MiB }],
  });

/** A hand-driven source: HELLO, then whatever the test sends; returns the destination's first refusal. */
async function drive(frames: Uint8Array[], features: number): Promise<{ failed: Frame | undefined; result: unknown }> {
  const destination = await listenSink();
  const t = await TcpTransport.connect({ host: '127.0.0.1', port: destination.port, maxBodyBytes: 1 << 20 });
  const replies: Frame[] = [];
  t.onFrame((f) => replies.push(f));
  t.write(hello(features));
  await new Promise((r) => setTimeout(r, 100)); // HELLO_ACCEPT
  for (const f of frames) t.write(f);
  const result = await destination.result.catch((err: unknown) => err);
  await new Promise((r) => setTimeout(r, 100)); // the FAILED that went out with the failure
  t.destroy();
  return { failed: replies.find((f) => f.type === MessageType.FAILED), result };
}

describe('a hostile source during post-copy', () => {
  it('gets FERRY_UNEXPECTED_MESSAGE for POSTCOPY_ENTER without the POSTCOPY feature', async () => {
    const { failed, result } = await drive([encodeFrame(MessageType.POSTCOPY_ENTER, messages.postcopyEnter, { round: 0 })], 0);
    expect(result).toMatchObject({ code: ErrorCode.UNEXPECTED_MESSAGE });
    expect(decodeBody(messages.errorReport, failed!.body).code).toBe(ErrorCode.UNEXPECTED_MESSAGE);
  });

  it('gets FERRY_PAGE_OUT_OF_RANGE for a missing-page map past its region, before the guest runs', async () => {
    const { result } = await drive(
      [
        encodeFrame(MessageType.POSTCOPY_ENTER, messages.postcopyEnter, { round: 0 }),
        encodeFrame(MessageType.POSTCOPY_MISSING, messages.postcopyMissing, {
          region: 0,
          firstPage: 200,
          pageCount: 100,
          runs: Uint8Array.of(100),
        }),
      ],
      Feature.POSTCOPY,
    );
    expect(result).toMatchObject({ code: ErrorCode.PAGE_OUT_OF_RANGE });
  });

  it('gets FERRY_FRAME_MALFORMED for runs that do not add up to the pages they claim', async () => {
    const { result } = await drive(
      [
        encodeFrame(MessageType.POSTCOPY_ENTER, messages.postcopyEnter, { round: 0 }),
        encodeFrame(MessageType.POSTCOPY_MISSING, messages.postcopyMissing, {
          region: 0,
          firstPage: 0,
          pageCount: 100,
          runs: Uint8Array.of(0, 50),
        }),
      ],
      Feature.POSTCOPY,
    );
    expect(result).toMatchObject({ code: ErrorCode.FRAME_MALFORMED });
  });
});

describe('a hostile destination', () => {
  it('asking for pages during pre-copy gets FERRY_UNEXPECTED_MESSAGE, and the guest runs on', async () => {
    // Accepts the HELLO, then sends a PAGE_REQUEST the source never invited.
    const fake = net.createServer((s) => {
      s.once('data', () => {
        s.write(encodeFrame(MessageType.HELLO_ACCEPT, messages.helloAccept, { version: 1, maxFrameBodyBytes: 16 << 20 }));
        s.write(encodeFrame(MessageType.PAGE_REQUEST, messages.pageRequest, { region: 0, page: 1, count: 1 }));
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const source = await sourceHost({ memory: 8 * MiB, fill: 'pattern' });
    try {
      await expect(source.migrateTo((fake.address() as net.AddressInfo).port, { maxBandwidth: 20e6 })).rejects.toMatchObject({
        code: ErrorCode.UNEXPECTED_MESSAGE,
      });
      expect(source.plane.calls).toEqual([]); // never paused, still running
    } finally {
      fake.close();
    }
  });
});

describe('a hostile prober', () => {
  it('is cut off when a PROBE_DATA frame is over 1 MiB, before its body is read', async () => {
    const destination = await listenSink();
    const t = await TcpTransport.connect({ host: '127.0.0.1', port: destination.port, maxBodyBytes: 1 << 20 });
    const closed = new Promise<string>((resolve) => t.onClose((e) => resolve(e.code)));
    t.onFrame(() => {});
    t.write(
      encodeFrame(MessageType.HELLO, messages.hello, {
        versionMin: 1,
        versionMax: 1,
        intent: Intent.PROBE,
        sessionId: new Uint8Array(16),
        pageSize: 4096,
        features: 0,
        guestId: '',
        regions: [{ name: 'ram0', sizeBytes: MiB }],
      }),
    );
    await new Promise((r) => setTimeout(r, 100));
    // Only the 8-byte header of a 2 MiB PROBE_DATA: the destination must refuse on the length alone.
    const header = Buffer.alloc(8);
    header.writeUInt32LE(2 * MiB, 0);
    header[4] = MessageType.PROBE_DATA;
    t.write(header);
    expect(await closed).toBe(ErrorCode.CONNECTION_LOST);
    await destination.close();
  });
});
