import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { PROTOCOL_VERSION } from '../../src/protocol/constants.ts';
import { sealFrame } from '../../src/protocol/frame-check.ts';
import { encode, Msg } from '../../src/protocol/registry.ts';
import { listenSink } from '../harness/index.ts';
import { pagesSent, RawFrames, recordFrame, type Transcript } from './vectors/transcript.ts';
import { VECTORS_DIR } from './vectors-gen.ts';

/**
 * What docs/protocol.md states about behaviour earlier editions left unsaid (issue #16), checked
 * against today's destination with a scripted source: the recorded version 2 session, its frames
 * sent as recorded, left out, or altered.
 */
const session = JSON.parse(readFileSync(`${VECTORS_DIR}sessions/v2-precopy.json`, 'utf8')) as Transcript;
const sent = session.frames.filter((f) => f.direction === 'to-destination');
const bytes = (name: string, nth = 0): Buffer => Buffer.from(sent.filter((f) => f.message === name)[nth]!.hex, 'hex');
const hello = bytes('HELLO');

type Reply = { message: string; fields: Record<string, unknown> };

/**
 * Plays `steps` against a fresh destination: a frame is sent, `'reply'` waits for the next frame
 * it answers. Then reads what it answers until it closes, or until `more` frames came.
 */
async function exchange(
  steps: readonly (Buffer | 'reply')[],
  more = Number.POSITIVE_INFINITY,
): Promise<{ replies: Reply[]; closed: boolean }> {
  const destination = await listenSink({ idleTimeoutMs: 2_000 });
  destination.result.catch(() => {});
  const socket = net.connect(destination.port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  socket.on('error', () => {});
  const reader = new RawFrames(socket);
  const replies: Reply[] = [];
  const take = (f: Buffer): void => {
    const r = recordFrame('to-source', f, 4096);
    replies.push({ message: r.message, fields: r.fields });
  };
  for (const step of steps) {
    if (step !== 'reply') socket.write(step);
    else {
      const f = await reader.next();
      if (f) take(f);
    }
  }
  let closed = false;
  for (let n = 0; n < more; n++) {
    const f = await reader.next();
    if (f === undefined) {
      closed = true;
      break;
    }
    take(f);
  }
  return { replies, closed };
}

/** The source's frames of the recorded session up to (not including) the first `name`, without the ECHOs. */
const upTo = (name: string): Buffer[] => {
  const end = sent.findIndex((f) => f.message === name);
  return sent
    .slice(0, end)
    .filter((f) => f.message !== 'ECHO')
    .map((f) => Buffer.from(f.hex, 'hex'));
};
/** `frames` (HELLO first) with a wait for HELLO_ACCEPT after the HELLO: nothing may be pipelined behind it. */
const handshaken = (frames: readonly Buffer[]): (Buffer | 'reply')[] => [frames[0]!, 'reply', ...frames.slice(1)];
const messages = (replies: readonly Reply[]): string[] => replies.map((r) => r.message);

describe('behaviour the spec states for every version (docs/protocol.md)', () => {
  it('§3.1: a HELLO with an unknown intent is refused with HELLO_REJECT FERRY_FRAME_MALFORMED', async () => {
    const bad = Buffer.from(hello);
    bad[8 + 12] = 9;
    const { replies } = await exchange([bad]);
    expect(replies).toEqual([{ message: 'HELLO_REJECT', fields: expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }) }]);
  });

  it('§5.1: a frame pipelined behind HELLO, before the answer, is refused with HELLO_REJECT FERRY_UNEXPECTED_MESSAGE', async () => {
    const { replies } = await exchange([hello, bytes('PAGES')]);
    expect(replies).toEqual([{ message: 'HELLO_REJECT', fields: expect.objectContaining({ code: 'FERRY_UNEXPECTED_MESSAGE' }) }]);
  });

  it.skipIf(PROTOCOL_VERSION < 4)(
    '§3.3: an ABORT during the handshake gets no answer (or FAILED FERRY_ABORTED), and the connection closes',
    async () => {
      const { replies } = await exchange([hello, encode(Msg.ABORT, { code: 'FERRY_ABORTED', message: 'changed my mind' })]);
      expect(replies.filter((r) => r.message !== 'FAILED' || r.fields.code !== 'FERRY_ABORTED')).toEqual([]);
    },
  );

  it('§3.3: an ABORT after HELLO_ACCEPT gets nothing but FAILED FERRY_ABORTED, and the destination closes', async () => {
    const abort = encode(Msg.ABORT, { code: 'FERRY_ABORTED', message: 'changed my mind' });
    const { replies, closed } = await exchange([hello, 'reply', abort]);
    expect(replies[0]?.message).toBe('HELLO_ACCEPT');
    // Ferry's destination, finding the connection still open a second later, says FAILED FERRY_ABORTED.
    for (const r of replies.slice(1)) expect(r).toEqual({ message: 'FAILED', fields: expect.objectContaining({ code: 'FERRY_ABORTED' }) });
    expect(closed).toBe(true);
  }, 20_000);

  it('§5.3: every ROUND_END is acknowledged, the final one included, and COMPLETE is answered with READY', async () => {
    const { replies } = await exchange(handshaken(upTo('COMMIT')), 3);
    expect(messages(replies)).toEqual(['HELLO_ACCEPT', 'ROUND_ACK', 'ROUND_ACK', 'READY']);
    expect(replies.filter((r) => r.message === 'ROUND_ACK').map((r) => r.fields.round)).toEqual([0, 1]);
  }, 20_000);

  it('§5.4: versions 1 to 3 accept COMPLETE without the final ROUND_END', async () => {
    const frames = upTo('COMMIT');
    const finalEnd = sent.filter((f) => f.message === 'ROUND_END').at(-1)!;
    const { replies } = await exchange(handshaken(frames.filter((f) => f.toString('hex') !== finalEnd.hex)), 2);
    expect(messages(replies)).toEqual(['HELLO_ACCEPT', 'ROUND_ACK', 'READY']);
  }, 20_000);

  it('§5.4: COMPLETE must count the guest’s pages, not the pages sent (else FAILED FERRY_FRAME_MALFORMED)', async () => {
    const frames = upTo('COMPLETE');
    const complete = recordFrame('to-destination', bytes('COMPLETE'), 4096).fields;
    const sentPages = pagesSent(sent);
    expect(sentPages).toBeLessThan(complete.totalPages as number); // zero pages were left out of round 0
    const wrong = encode(Msg.COMPLETE, {
      digest: BigInt(complete.digest as string),
      totalPages: sentPages,
      finalRound: complete.finalRound as number,
    });
    const { replies } = await exchange(handshaken([...frames, wrong]));
    expect(replies.at(-1)).toEqual({ message: 'FAILED', fields: expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }) });
  }, 20_000);

  it('§3.8: COMPLETE before the device state is FAILED FERRY_FRAME_MALFORMED', async () => {
    const frames = upTo('DEVICE_STATE');
    const { replies } = await exchange(handshaken([...frames, bytes('COMPLETE')]));
    expect(replies.at(-1)).toEqual({ message: 'FAILED', fields: expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }) });
  }, 20_000);

  it('§5.4, version 4: COMPLETE without the final ROUND_END, and a batch of the wrong round, are FAILED FERRY_UNEXPECTED_MESSAGE', async () => {
    const v4 = JSON.parse(readFileSync(`${VECTORS_DIR}sessions/v4-precopy.json`, 'utf8')) as Transcript;
    const frames = v4.frames.filter((f) => f.direction === 'to-destination' && f.message !== 'ECHO' && f.message !== 'COMMIT');
    const finalEnd = frames.filter((f) => f.message === 'ROUND_END').at(-1)!;
    const withoutEnd = frames.filter((f) => f !== finalEnd).map((f) => Buffer.from(f.hex, 'hex'));
    const noEnd = await exchange(handshaken(withoutEnd));
    expect(noEnd.replies.at(-1)).toEqual({ message: 'FAILED', fields: expect.objectContaining({ code: 'FERRY_UNEXPECTED_MESSAGE' }) });
    // Round 1 announced while round 0 is being sent.
    const hello4 = Buffer.from(frames[0]!.hex, 'hex');
    const end = encode(Msg.ROUND_END, { round: 1, pages: 0 });
    const wrongRound = await exchange([hello4, 'reply', Buffer.concat([end, sealFrame(end)])]);
    expect(wrongRound.replies.at(-1)).toEqual({ message: 'FAILED', fields: expect.objectContaining({ code: 'FERRY_UNEXPECTED_MESSAGE' }) });
  }, 20_000);
});
