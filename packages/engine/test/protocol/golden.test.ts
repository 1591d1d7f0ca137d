import { describe, expect, it } from 'vitest';
import { createJsKernels } from '../../src/accel/index.ts';
import { BatchEncoder } from '../../src/codec/batch-encoder.ts';
import { DirtyBitmap } from '../../src/dirty/bitmap.ts';
import { encodeFrame } from '../../src/protocol/frame.ts';
import * as msg from '../../src/protocol/messages.ts';
import { Intent, MessageType } from '../../src/index.ts';
import { guestMemory } from '../harness/index.ts';
import { goldenFrame } from './golden-doc.ts';

/**
 * The hex examples in docs/protocol.md are normative test vectors: each block tagged
 * `<!-- golden: NAME -->` must equal what this implementation encodes for NAME.
 */
const golden = (name: string): string => goldenFrame(name).toString('hex');

describe('golden frames in docs/protocol.md', () => {
  it('HELLO encodes to the documented bytes', () => {
    const frame = encodeFrame(MessageType.HELLO, msg.hello, {
      versionMin: 1,
      versionMax: 1,
      intent: Intent.MIGRATE,
      sessionId: new Uint8Array(16).fill(0xab),
      pageSize: 4096,
      features: 0,
      guestId: 'vm1',
      regions: [{ name: 'ram0', sizeBytes: 1 << 20 }],
    });
    expect(frame.toString('hex')).toBe(golden('hello'));
  });

  it('ECHO encodes to the documented bytes', () => {
    expect(encodeFrame(MessageType.ECHO, msg.echo, { token: 7n }).toString('hex')).toBe(golden('echo'));
  });

  it('HELLO_REJECT encodes to the documented bytes', () => {
    const frame = encodeFrame(MessageType.HELLO_REJECT, msg.errorReport, { code: 'FERRY_VERSION_UNSUPPORTED', message: 'no' });
    expect(frame.toString('hex')).toBe(golden('hello-reject'));
  });

  it('COMPLETE encodes to the documented bytes', () => {
    const frame = encodeFrame(MessageType.COMPLETE, msg.complete, { digest: 0x0123456789abcdefn, totalPages: 256, finalRound: 3 });
    expect(frame.toString('hex')).toBe(golden('complete'));
  });

  it('HELLO_ACCEPT, ROUND_ACK, READY, RESUMED and DEVICE_STATE encode to the documented bytes', () => {
    const hex = <T>(type: number, codec: msg.MessageCodec<T>, value: T): string =>
      encodeFrame(type as MessageType, codec, value).toString('hex');
    expect(hex(MessageType.HELLO_ACCEPT, msg.helloAccept, { version: 3, maxFrameBodyBytes: 16 * 1024 * 1024 })).toBe(
      golden('hello-accept'),
    );
    const v4 = { version: 4, maxFrameBodyBytes: 16 * 1024 * 1024, features: 0x02, encodings: 0x3e };
    expect(hex(MessageType.HELLO_ACCEPT, msg.helloAccept, v4)).toBe(golden('hello-accept-v4'));
    expect(hex(MessageType.ROUND_ACK, msg.roundAck, { round: 0, pages: 3, bytesReceived: 12_400 })).toBe(golden('round-ack'));
    expect(hex(MessageType.READY, msg.ready, { digest: 0x9f3c5e7a12345678n })).toBe(golden('ready'));
    expect(hex(MessageType.RESUMED, msg.resumed, { resumeMicros: 1500, verifyMicros: 250 })).toBe(golden('resumed'));
    const chunk = { totalBytes: 6, offset: 2, data: Uint8Array.of(0xc0, 0xff, 0xee, 0x01) };
    expect(hex(MessageType.DEVICE_STATE, msg.deviceState, chunk)).toBe(golden('device-state'));
  });

  it('PAGE_REQUEST and POSTCOPY_MISSING encode to the documented bytes', () => {
    expect(encodeFrame(MessageType.PAGE_REQUEST, msg.pageRequest, { region: 1, page: 0x1234, count: 1 }).toString('hex')).toBe(
      golden('page-request'),
    );
    const missing = new DirtyBitmap(300);
    missing.setRange(0, 200);
    missing.set(250);
    const frame = encodeFrame(MessageType.POSTCOPY_MISSING, msg.postcopyMissing, {
      region: 0,
      firstPage: 0,
      pageCount: 300,
      runs: missing.toRuns(),
    });
    expect(frame.toString('hex')).toBe(golden('postcopy-missing'));
  });

  it('a PAGES batch of one zero page and one RAW page encodes to the documented bytes', async () => {
    const kernels = await createJsKernels();
    const memory = guestMemory(4 * 4096);
    memory.page(0, 3).fill(0x5a);
    const dirty = new DirtyBitmap(4);
    dirty.set(1);
    dirty.set(3);
    const { batch } = new BatchEncoder(memory.layout, kernels).next(memory.region(0), 0, dirty, 0, 2, false);
    // The document shows the headers and entries, and says the 4096 payload bytes are all 0x5a.
    expect(batch!.frame.toString('hex')).toBe(golden('pages'));
    expect(batch!.frame.subarray(batch!.frame.byteLength - 4096).every((b) => b === 0x5a)).toBe(true);
  });
});
