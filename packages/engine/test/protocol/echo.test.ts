import { describe, expect, it } from 'vitest';
import { decodeBody, encodeFrame, ErrorCode, type Frame, Intent, limits, MessageType, messages, TcpTransport } from '../../src/index.ts';
import { listenSink, MiB } from '../harness/index.ts';

const { MAX_ECHOES } = limits;

const helloOf = (versionMax: number) =>
  encodeFrame(MessageType.HELLO, messages.hello, {
    versionMin: 1,
    versionMax,
    intent: Intent.MIGRATE,
    sessionId: new Uint8Array(16).fill(5),
    pageSize: 4096,
    features: 0,
    guestId: 'echo',
    regions: [{ name: 'ram0', sizeBytes: MiB }],
  });
const hello = helloOf(2);

/** A hand-driven source: HELLO, then `frames`; collects what the destination answers. */
async function drive(frames: Uint8Array[], first: Uint8Array = hello): Promise<{ replies: Frame[]; result: unknown; close: () => void }> {
  const destination = await listenSink();
  const t = await TcpTransport.connect({ host: '127.0.0.1', port: destination.port, maxBodyBytes: 1 << 20 });
  const replies: Frame[] = [];
  t.onFrame((f) => replies.push(f));
  t.write(first);
  await new Promise((r) => setTimeout(r, 100)); // HELLO_ACCEPT
  for (const f of frames) t.write(f);
  const outcome = destination.result.catch((err: unknown) => err);
  await new Promise((r) => setTimeout(r, 200));
  return {
    replies,
    result: outcome,
    close: () => t.destroy(),
  };
}

const echo = (token: bigint) => encodeFrame(MessageType.ECHO, messages.echo, { token });

describe('ECHO', () => {
  it('is answered at once with the same token, and the migration goes on', async () => {
    const { replies, close, result } = await drive([echo(7n), echo(0xffff_ffff_ffff_ffffn)]);
    const answers = replies.filter((f) => f.type === MessageType.ECHO_REPLY).map((f) => decodeBody(messages.echo, f.body).token);
    expect(answers).toEqual([7n, 0xffff_ffff_ffff_ffffn]);
    expect(replies.some((f) => f.type === MessageType.FAILED)).toBe(false);
    close();
    expect(await result).toMatchObject({ code: ErrorCode.CONNECTION_LOST });
  });

  it(`fails a session that sends more than ${MAX_ECHOES}, so unread replies cannot pile up`, async () => {
    const { replies, result, close } = await drive(Array.from({ length: MAX_ECHOES + 1 }, (_, i) => echo(BigInt(i))));
    expect(replies.filter((f) => f.type === MessageType.ECHO_REPLY)).toHaveLength(MAX_ECHOES);
    expect(await result).toMatchObject({ code: ErrorCode.UNEXPECTED_MESSAGE });
    close();
  });

  it('is refused once the guest is paused (after SWITCHOVER)', async () => {
    const { result, close } = await drive([encodeFrame(MessageType.SWITCHOVER, messages.switchover, { round: 0 }), echo(1n)]);
    expect(await result).toMatchObject({ code: ErrorCode.UNEXPECTED_MESSAGE });
    close();
  });

  it('belongs to version 2: a version 1 source is answered version 1, and an ECHO from it is refused', async () => {
    const { replies, result, close } = await drive([echo(1n)], helloOf(1));
    const accept = replies.find((f) => f.type === MessageType.HELLO_ACCEPT)!;
    expect(decodeBody(messages.helloAccept, accept.body).version).toBe(1);
    expect(replies.some((f) => f.type === MessageType.ECHO_REPLY)).toBe(false);
    expect(await result).toMatchObject({ code: ErrorCode.UNEXPECTED_MESSAGE });
    close();
  });

  it('rejects a body too short for its u64 as truncated', async () => {
    const bad = Buffer.from(echo(1n));
    const short = Buffer.concat([Buffer.from([4, 0, 0, 0, MessageType.ECHO, 0, 0, 0]), bad.subarray(8, 12)]);
    const { result, close } = await drive([short]);
    expect(await result).toMatchObject({ code: ErrorCode.FRAME_TRUNCATED });
    close();
  });
});
