import { Feature, MessageType as M, PageEncoding } from '@ferry/engine';
import { check, type SourceScenario, skip } from '../scenario.ts';
import { completeBody, deviceStateBody, u32Body } from '../wire/messages.ts';
import { encodePage, pagesBody } from '../wire/pages.ts';
import { failing } from './faults.ts';
import { open } from './session.ts';

const ENC_RAW = 0x02;
const ENC_ZERO = 0x04;
const ENC_LZ4 = 0x08;
const ENC_ALL = 0x3e;

export const v4Scenarios: SourceScenario[] = [
  {
    id: 'src-v4-negotiation',
    role: 'source',
    title: 'version 4: HELLO with every feature and an unknown bit gets a 16-byte HELLO_ACCEPT with a consistent subset',
    clauses: ['NG-1', 'NG-2', 'HS-3'],
    requiresV4: true,
    async run(ctx) {
      const offered = Feature.POSTCOPY | Feature.RESUMABLE | Feature.CHANNELS | 0x100;
      const s = await open(ctx, { versionMin: 1, versionMax: 4, features: offered });
      const a = s.accept as typeof s.accept & { bodyBytes: number };
      check(s.version === 4, `expected HELLO_ACCEPT version 4, got ${s.version}`);
      check(a.bodyBytes === 16, `expected a 16-byte HELLO_ACCEPT body in version 4, got ${a.bodyBytes}`);
      const acc = a.acceptedFeatures ?? 0;
      check(
        (acc & ~s.hello.features) === 0,
        `acceptedFeatures 0x${acc.toString(16)} has bits outside the HELLO's 0x${s.hello.features.toString(16)}`,
      );
      check((acc & 0x100) === 0, 'acceptedFeatures accepts the unknown bit 0x100');
      check(
        ((acc & Feature.PSK_AUTH) !== 0) === ((s.hello.features & Feature.PSK_AUTH) !== 0),
        'PSK_AUTH in acceptedFeatures differs from the HELLO',
      );
      const enc = a.encodings ?? 0;
      check((enc & (ENC_RAW | ENC_ZERO)) === (ENC_RAW | ENC_ZERO), `encodings 0x${enc.toString(16)} lacks RAW or ZERO`);
      check((enc & ~ENC_ALL) === 0, `encodings 0x${enc.toString(16)} has bits outside 0x3e`);
      return `version 4, acceptedFeatures 0x${acc.toString(16)}, encodings 0x${enc.toString(16)}`;
    },
  },
  {
    id: 'src-v4-migrate-announced',
    role: 'source',
    title: 'version 4: a migration using LZ4 only if the destination announced it completes',
    clauses: ['NG-1', 'PG-1', 'SW-1'],
    requiresV4: true,
    async run(ctx) {
      const s = await open(ctx, { versionMin: 4, versionMax: 4 });
      const lz4 = ((s.accept.encodings ?? 0) & ENC_LZ4) !== 0;
      return s.migrate({ mode: lz4 ? 'lz4' : 'raw' });
    },
  },
  failing(
    'src-v4-final-round-end',
    'version 4: COMPLETE without the final ROUND_END is refused',
    ['RD-5'],
    async (s) => {
      await s.precopy();
      await s.conn.send(M.SWITCHOVER, u32Body(1));
      await s.conn.send(M.DEVICE_STATE, deviceStateBody(1, 0, Buffer.from('x')));
      await s.conn.send(M.COMPLETE, completeBody(0n, s.guest.totalPages, 1));
    },
    ['FERRY_UNEXPECTED_MESSAGE'],
    4,
  ),
  failing(
    'src-v4-unaccepted-feature',
    'version 4: POSTCOPY_ENTER in a session whose HELLO did not ask for POSTCOPY is refused',
    ['NG-5', 'PC-2'],
    (s) => s.conn.send(M.POSTCOPY_ENTER, u32Body(0)),
    ['FERRY_UNEXPECTED_MESSAGE'],
    4,
  ),
  failing(
    'src-v4-unannounced-encoding',
    'version 4: a page in an encoding the destination did not announce is refused',
    ['NG-5'],
    async (s) => {
      const enc = s.accept.encodings ?? 0;
      if ((enc & ENC_LZ4) !== 0) skip(`the destination announces LZ4 (encodings 0x${enc.toString(16)}): nothing to refuse`);
      const e = encodePage(s.k, 0, s.guest.page(0, 0), PageEncoding.LZ4);
      await s.conn.send(M.PAGES, pagesBody(0, 0, [e]));
    },
    ['FERRY_FRAME_MALFORMED', 'FERRY_DECODE_FAILED'],
    4,
  ),
];
