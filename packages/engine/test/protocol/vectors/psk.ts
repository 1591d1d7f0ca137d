// The PSK exchange with a fixed key and nonces (psk.json), and the digest of a tiny guest (digest.json).
import { createHash } from 'node:crypto';
import type { Kernels } from '../../../src/accel/kernels.ts';
import { digestOfPageHashes } from '../../../src/memory/digest.ts';
import { Feature } from '../../../src/protocol/constants.ts';
import { FRAME_HEADER_BYTES } from '../../../src/protocol/limits.ts';
import { encode, Msg } from '../../../src/protocol/registry.ts';
import { authProof } from '../../../src/transport/psk-auth.ts';
import { type DescribedPage, pageBytes } from './content.ts';
import { HELLO_VALUE } from './messages.ts';
import { GUEST } from './pages.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export const PSK_KEY: Uint8Array = Uint8Array.from({ length: 32 }, (_, i) => i);
export const NS: Uint8Array = new Uint8Array(32).fill(0x5a);
export const ND: Uint8Array = new Uint8Array(32).fill(0xa5);

export function pskTranscript(): unknown {
  const hello = encode(Msg.HELLO, { ...HELLO_VALUE, features: HELLO_VALUE.features | Feature.PSK_AUTH });
  const helloBody = hello.subarray(FRAME_HEADER_BYTES);
  const destinationMac = authProof(PSK_KEY, 'destination', HELLO_VALUE.sessionId, helloBody, NS, ND);
  const sourceMac = authProof(PSK_KEY, 'source', HELLO_VALUE.sessionId, helloBody, NS, ND);
  return {
    section: '3.4',
    description:
      'One PSK handshake with a fixed key and nonces. destinationMac = HMAC-SHA-256(key, "ferry/1 destination" || sessionId || SHA-256(HELLO body) || Ns || Nd); sourceMac the same with "ferry/1 source". The HELLO body is the frame without its 8-byte header.',
    key: hex(PSK_KEY),
    sessionId: hex(HELLO_VALUE.sessionId),
    ns: hex(NS),
    nd: hex(ND),
    helloBodySha256: createHash('sha256').update(helloBody).digest('hex'),
    destinationMac: hex(destinationMac),
    sourceMac: hex(sourceMac),
    frames: [
      { direction: 'to-destination', message: 'HELLO', hex: hex(hello) },
      { direction: 'to-destination', message: 'AUTH_SOURCE', hex: hex(encode(Msg.AUTH_SOURCE, { nonce: NS })) },
      { direction: 'to-source', message: 'AUTH_CHALLENGE', hex: hex(encode(Msg.AUTH_CHALLENGE, { nonce: ND, mac: destinationMac })) },
      { direction: 'to-destination', message: 'AUTH_PROOF', hex: hex(encode(Msg.AUTH_PROOF, { mac: sourceMac })) },
      {
        direction: 'to-source',
        message: 'HELLO_ACCEPT',
        hex: hex(encode(Msg.HELLO_ACCEPT, { version: 3, maxFrameBodyBytes: 16 * 1024 * 1024 })),
      },
    ],
    wrongKey: {
      description:
        'The same exchange answered with another key (all bytes 0xff): the source must refuse this AUTH_CHALLENGE with FERRY_AUTH_FAILED.',
      key: hex(new Uint8Array(32).fill(0xff)),
      destinationMac: hex(authProof(new Uint8Array(32).fill(0xff), 'destination', HELLO_VALUE.sessionId, helloBody, NS, ND)),
      error: 'FERRY_AUTH_FAILED',
    },
  };
}

/** The tiny guest's pages for digest.json: two regions, 4 and 2 pages, some zero. */
export const DIGEST_PAGES: readonly DescribedPage[] = [
  { region: 0, page: 0, content: { ramp: 0 } },
  { region: 0, page: 2, content: { fill: '11' } },
  { region: 0, page: 3, content: { ramp: 3, set: { '100': 'ff' } } },
  { region: 1, page: 1, content: { fill: '5a' } },
];

export function digestVectors(kernels: Kernels): unknown {
  const pageHash = (region: number, page: number): bigint => {
    const d = DIGEST_PAGES.find((p) => p.region === region && p.page === page);
    return kernels.xxh64(pageBytes(d?.content ?? {}, GUEST.pageSize));
  };
  const table: bigint[] = [];
  GUEST.regions.forEach((r, region) => {
    for (let page = 0; page < r.sizeBytes / GUEST.pageSize; page++) table.push(pageHash(region, page));
  });
  const hex64 = (v: bigint): string => `0x${v.toString(16).padStart(16, '0')}`;
  const zeroTable = new BigUint64Array(table.length).fill(pageHash(9, 0));
  return {
    section: '4',
    description:
      'digest = xxh64(seed 0, concatenation of u64le(xxh64(seed 0, page)) for every page of every region, in HELLO order). Pages not listed are zero.',
    guest: GUEST,
    pages: DIGEST_PAGES,
    pageXxh64: table.map(hex64),
    digest: hex64(digestOfPageHashes(BigUint64Array.from(table), kernels)),
    zeroGuestDigest: hex64(digestOfPageHashes(zeroTable, kernels)),
  };
}
