import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/index.ts';
import { RoundAcks } from '../../src/session/round-acks.ts';

function clock() {
  const c = { now: 0, nowMs: () => c.now };
  return c;
}

describe('RoundAcks', () => {
  it('settles a round on an acknowledgement of exactly the pages sent, and keeps the shortest round trip', async () => {
    const c = clock();
    const acks = new RoundAcks(c);
    const seen: number[] = [];
    acks.onAcknowledged((r) => seen.push(r));
    acks.ended(0, 100);
    c.now = 5;
    acks.ended(1, 7);
    c.now = 12;
    acks.acknowledge({ round: 0, pages: 100, bytesReceived: 1 });
    c.now = 14;
    acks.acknowledge({ round: 1, pages: 7, bytesReceived: 2 });
    await acks.of(0).promise;
    await acks.of(1).promise;
    expect(seen).toEqual([0, 1]);
    expect(acks.shortestRttMs).toBe(9);
  });

  it('refuses an acknowledgement that counts other pages, or a round never sent', () => {
    const acks = new RoundAcks(clock());
    acks.ended(0, 100);
    expect(() => acks.acknowledge({ round: 0, pages: 99, bytesReceived: 0 })).toThrow(
      expect.objectContaining({
        code: ErrorCode.UNEXPECTED_MESSAGE,
        message: 'destination acknowledged 99 pages for round 0, we sent 100',
      }),
    );
    expect(() => acks.acknowledge({ round: 3, pages: 0, bytesReceived: 0 })).toThrow(
      expect.objectContaining({ code: ErrorCode.UNEXPECTED_MESSAGE }),
    );
    expect(acks.shortestRttMs).toBe(Number.POSITIVE_INFINITY);
  });

  it('forgets waiters on a new connection: a later acknowledgement settles a fresh promise', async () => {
    const acks = new RoundAcks(clock());
    const stale = acks.of(2);
    acks.forgetWaiting();
    acks.ended(2, 1);
    acks.acknowledge({ round: 2, pages: 1, bytesReceived: 0 });
    expect(stale.settled).toBe(false);
    await acks.of(2).promise;
  });
});
