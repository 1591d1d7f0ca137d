import { Feature } from '@ferry/engine';
import { check, type DestinationContext, type DestinationScenario, fail, type SourceExit, skip } from '../scenario.ts';
import type { Conn } from '../wire/conn.ts';
import { kernels } from '../wire/kernels.ts';
import { type Faults, type Seen, serveMigration } from './peer.ts';

/**
 * One migration from the source under test into the kit's destination with `faults`; the
 * (closed) connection comes back for what it recorded.
 */
async function migrateWith(ctx: DestinationContext, faults: Faults): Promise<{ seen: Seen; exit: SourceExit | undefined; conn: Conn }> {
  const { conn, hello } = await ctx.accept();
  let seen: Seen;
  try {
    seen = await serveMigration(conn, await kernels(), ctx.psk, faults, hello);
  } finally {
    conn.destroy();
  }
  return { seen, exit: await ctx.sourceExit(), conn };
}

/** A scenario's run: one migration with `faults`, which the source must complete. */
function completesWith(faults: Faults): DestinationScenario['run'] {
  return async (ctx) => {
    const { seen, exit } = await migrateWith(ctx, faults);
    return completed(seen, exit);
  };
}

function noViolations(seen: Seen): void {
  if (seen.violations.length > 0) fail(seen.violations.join('; '));
}

/** The source completed: COMMIT, RESUMED, it closed first, and (when launched) it exited 0. */
function completed(seen: Seen, exit: SourceExit | undefined): string {
  noViolations(seen);
  check(
    seen.sawCommit,
    `expected COMMIT, the source sent ${seen.frames.slice(-4).join(', ') || 'nothing'} and ${seen.abort ? `ABORT ${seen.abort}` : seen.end}`,
  );
  check(seen.end === 'source-closed', `expected the source to close after RESUMED, got ${seen.end}`);
  if (exit) check(exit.code === 0, `expected the source command to exit 0, it exited ${exit.code}: ${lastLine(exit.output)}`);
  return `version ${seen.version}: completed${exit ? ', exit 0' : ''}`;
}

/**
 * The source did not go on: no COMMIT, it closed (ABORT allowed), and (when launched) it
 * exited non-zero, saying `code` when one is given.
 */
function stopped(seen: Seen, exit: SourceExit | undefined, code?: string): string {
  check(!seen.sawCommit, 'expected no COMMIT, got COMMIT');
  check(seen.end !== 'timeout', 'expected the source to close the connection, it stayed open');
  if (exit) {
    check(exit.code !== 0, `expected the source command to fail (non-zero exit), it exited 0: ${lastLine(exit.output)}`);
    if (code) check(exit.output.includes(code), `expected the source to report ${code}, its output ends: ${lastLine(exit.output)}`);
  }
  return `no COMMIT, ${seen.abort ? `ABORT ${seen.abort}` : 'closed'}${exit ? `, exit ${exit.code}` : ''}`;
}

function lastLine(s: string): string {
  return (
    s
      .trim()
      .split('\n')
      .filter((l) => l.trim())
      .at(-1) ?? '(no output)'
  );
}

const needsV4 = (seen: Seen): void => {
  if ((seen.hello?.versionMax ?? 0) < 4) skip(`requires a source that speaks version 4; its HELLO offers up to ${seen.hello?.versionMax}`);
};

export const DESTINATION_SCENARIOS: readonly DestinationScenario[] = [
  {
    id: 'dst-happy',
    role: 'destination',
    title: 'a correct destination: the source completes, every frame checked, rounds numbered, totals right',
    expect:
      'completes (COMMIT, then closes after RESUMED; exit 0); CHECKED frames from v3; rounds from 0 up by one; COMPLETE.totalPages = guest pages',
    clauses: ['HS-3', 'FR-4', 'RD-6', 'RD-7', 'SW-2', 'SW-3', 'SW-8'],
    run: completesWith({}),
  },
  {
    id: 'dst-final-ack-absent',
    role: 'destination',
    title: 'the final round’s ROUND_ACK never comes',
    expect: 'completes without it',
    clauses: ['RD-3'],
    run: completesWith({ finalAck: 'absent' }),
  },
  {
    id: 'dst-final-ack-after-ready',
    role: 'destination',
    title: 'the final round’s ROUND_ACK comes after READY',
    expect: 'completes, ignoring the late acknowledgement',
    clauses: ['RD-3'],
    run: completesWith({ finalAck: 'after-ready' }),
  },
  {
    id: 'dst-small-frames',
    role: 'destination',
    title: 'HELLO_ACCEPT announces the smallest maxFrameBodyBytes allowed, max(65536, pageSize + 4096)',
    expect: 'completes, every frame body within the limit',
    clauses: ['FR-6'],
    async run(ctx) {
      let limit = 0;
      const { seen, exit, conn } = await migrateWith(ctx, {
        accept: (h, normal) => {
          limit = Math.max(65536, h.pageSize + 4096);
          return { ...normal, maxFrameBodyBytes: limit };
        },
      });
      if (conn.oversized.length > 0)
        fail(`expected every frame body within ${limit} bytes, got ${conn.oversized.length} larger (first: ${conn.oversized[0]})`);
      return completed(seen, exit);
    },
  },
  {
    id: 'dst-frame-limit-too-small',
    role: 'destination',
    title: 'HELLO_ACCEPT announces maxFrameBodyBytes 4096, below the minimum',
    expect: 'fails with FERRY_FRAME_MALFORMED, no COMMIT',
    clauses: ['HS-11'],
    async run(ctx) {
      const { seen, exit } = await migrateWith(ctx, { accept: (_, normal) => ({ ...normal, maxFrameBodyBytes: 4096 }) });
      check(
        !seen.frames.includes('PAGES'),
        `expected no PAGES under a limit below the minimum, got ${seen.frames.filter((f) => f === 'PAGES').length}`,
      );
      return stopped(seen, exit, 'FERRY_FRAME_MALFORMED');
    },
  },
  {
    id: 'dst-lying-ack',
    role: 'destination',
    title: 'ROUND_ACK of round 0 counts one page more than the source sent',
    expect: 'fails (typed error), never sends COMMIT; its guest runs on',
    clauses: ['RD-4'],
    async run(ctx) {
      const { seen, exit } = await migrateWith(ctx, { lieInAck: 1 });
      return stopped(seen, exit, 'FERRY_UNEXPECTED_MESSAGE');
    },
  },
  {
    id: 'dst-digest-mismatch',
    role: 'destination',
    title: 'READY carries a digest that differs from the memory (version 3)',
    expect: 'no COMMIT; ABORT FERRY_DIGEST_MISMATCH or a close; fails',
    clauses: ['SW-2'],
    async run(ctx) {
      const { seen, exit } = await migrateWith(ctx, { versions: [3, 3], wrongDigest: true });
      if (seen.abort) check(seen.abort === 'FERRY_DIGEST_MISMATCH', `expected ABORT FERRY_DIGEST_MISMATCH, got ABORT ${seen.abort}`);
      return stopped(seen, exit, 'FERRY_DIGEST_MISMATCH');
    },
  },
  {
    id: 'dst-drop-after-commit',
    role: 'destination',
    title: 'the connection drops right after COMMIT; a RECOVER to ask is refused (FERRY_REJECTED)',
    expect: 'reports FERRY_OUTCOME_UNKNOWN (non-zero exit), observable only through --source-command',
    clauses: ['SW-5'],
    async run(ctx) {
      const { seen, exit } = await migrateWith(ctx, { dropAfterCommit: true });
      noViolations(seen);
      check(seen.sawCommit, `expected COMMIT before the kit drops the connection, got ${seen.frames.slice(-3).join(', ')}`);
      if (!exit) return 'COMMIT seen; the outcome is visible only with --source-command';
      check(exit.code !== 0, `expected the source command to fail, it exited 0: ${lastLine(exit.output)}`);
      check(
        exit.output.includes('FERRY_OUTCOME_UNKNOWN'),
        `expected the source to report FERRY_OUTCOME_UNKNOWN, its output ends: ${lastLine(exit.output)}`,
      );
      return `FERRY_OUTCOME_UNKNOWN, exit ${exit.code}`;
    },
  },
  {
    id: 'dst-early-failed',
    role: 'destination',
    title: 'FAILED FERRY_REJECTED right after HELLO_ACCEPT',
    expect: 'stops: no COMMIT, closes, fails reporting FERRY_REJECTED',
    clauses: ['SW-4', 'FR-4'],
    async run(ctx) {
      const { seen, exit } = await migrateWith(ctx, { failAfterAccept: 'FERRY_REJECTED' });
      noViolations(seen);
      return stopped(seen, exit, 'FERRY_REJECTED');
    },
  },
  {
    id: 'dst-reject',
    role: 'destination',
    title: 'HELLO_REJECT FERRY_REJECTED',
    expect: 'stops and reports FERRY_REJECTED',
    clauses: ['HS-12'],
    async run(ctx) {
      const { seen, exit } = await migrateWith(ctx, { reject: 'FERRY_REJECTED' });
      return stopped(seen, exit, 'FERRY_REJECTED');
    },
  },
  {
    id: 'dst-version-above',
    role: 'destination',
    title: 'HELLO_ACCEPT chooses a version above the source’s versionMax',
    expect: 'closes (or ABORT) without sending pages; fails',
    clauses: ['HS-10'],
    async run(ctx) {
      const { seen, exit } = await migrateWith(ctx, {
        accept: (h, n) => ({ version: h.versionMax + 1, maxFrameBodyBytes: n.maxFrameBodyBytes }),
      });
      check(!seen.frames.includes('PAGES'), 'expected no PAGES after a version outside the range, got PAGES');
      return stopped(seen, exit);
    },
  },
  {
    id: 'dst-version-below',
    role: 'destination',
    title: 'HELLO_ACCEPT chooses a version below the source’s versionMin',
    expect: 'closes (or ABORT) without sending pages; fails',
    clauses: ['HS-10'],
    async run(ctx) {
      const { seen, exit } = await migrateWith(ctx, {
        accept: (h, n) => ({ version: h.versionMin - 1, maxFrameBodyBytes: n.maxFrameBodyBytes }),
      });
      check(!seen.frames.includes('PAGES'), 'expected no PAGES after a version outside the range, got PAGES');
      return stopped(seen, exit);
    },
  },
  {
    id: 'dst-psk-bad-challenge',
    role: 'destination',
    title: 'keyed: AUTH_CHALLENGE carries a wrong proof',
    expect: 'closes without AUTH_PROOF and fails with FERRY_AUTH_FAILED',
    clauses: ['AU-4'],
    psk: 'key',
    async run(ctx) {
      const { seen, exit } = await migrateWith(ctx, { badChallenge: true });
      noViolations(seen);
      return stopped(seen, exit, 'FERRY_AUTH_FAILED');
    },
  },
  {
    id: 'dst-v4-subset',
    role: 'destination',
    title: 'version 4: the kit accepts no feature but PSK_AUTH and announces RAW and ZERO only',
    expect: 'completes using RAW and ZERO only, no data channel, no post-copy',
    clauses: ['NG-3'],
    requiresV4: true,
    async run(ctx) {
      const { seen, exit } = await migrateWith(ctx, {
        versions: [1, 4],
        accept: (h, n) => (h.versionMax < 4 ? n : { ...n, acceptedFeatures: h.features & Feature.PSK_AUTH, encodings: 0x06 }),
      });
      needsV4(seen);
      return completed(seen, exit);
    },
  },
  {
    id: 'dst-v4-bogus-features',
    role: 'destination',
    title: 'version 4: acceptedFeatures has a bit the HELLO did not set',
    expect: 'fails with FERRY_FRAME_MALFORMED, no pages',
    clauses: ['NG-4'],
    requiresV4: true,
    async run(ctx) {
      const { seen, exit } = await migrateWith(ctx, {
        versions: [1, 4],
        accept: (h, n) => (h.versionMax < 4 ? n : { ...n, acceptedFeatures: (h.features & Feature.PSK_AUTH) | 0x4000_0000 }),
      });
      needsV4(seen);
      check(!seen.frames.includes('PAGES'), 'expected no PAGES after a bogus acceptedFeatures, got PAGES');
      return stopped(seen, exit, 'FERRY_FRAME_MALFORMED');
    },
  },
  {
    id: 'dst-v4-bad-encodings',
    role: 'destination',
    title: 'version 4: HELLO_ACCEPT announces RAW without ZERO',
    expect: 'fails with FERRY_FRAME_MALFORMED, no pages',
    clauses: ['NG-4'],
    requiresV4: true,
    async run(ctx) {
      const { seen, exit } = await migrateWith(ctx, {
        versions: [1, 4],
        accept: (h, n) => (h.versionMax < 4 ? n : { ...n, encodings: 0x02 }),
      });
      needsV4(seen);
      check(!seen.frames.includes('PAGES'), 'expected no PAGES after encodings without ZERO, got PAGES');
      return stopped(seen, exit, 'FERRY_FRAME_MALFORMED');
    },
  },
];
