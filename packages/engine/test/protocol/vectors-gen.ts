/**
 * Writes the golden vectors (packages/conformance/vectors/*.json) from the engine's own codecs:
 * `npx tsx packages/engine/test/protocol/vectors-gen.ts`. vectors.test.ts decodes every vector
 * with the engine, re-encodes the valid ones byte for byte, and fails when these files drift
 * from what this script writes. (The recorded sessions under vectors/sessions/ are written by
 * packages/engine/test/protocol/sessions.test.ts with FERRY_RECORD=1.)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createJsKernels } from '../../src/accel/index.ts';
import { invalidVectors } from './vectors/invalid.ts';
import { messageVectors } from './vectors/messages.ts';
import { BEFORE, GUEST, pagesVectors } from './vectors/pages.ts';
import { digestVectors, pskTranscript } from './vectors/psk.ts';

export const VECTORS_DIR: string = fileURLToPath(new URL('../../../conformance/vectors/', import.meta.url));

const CONVENTIONS =
  'hex: the whole frame (8-byte header, body, and for version >= 3 frames after HELLO_ACCEPT the 4-byte CRC trailer). ' +
  'fields: the decoded body; u64 digests and tokens as 0x-prefixed hex, byte strings as hex, other integers as numbers. ' +
  'version: the protocol version the frame belongs to (absent: every version). requires: the engine speaks it from that version on.';

/** Every vector file, by name, as JSON text. */
export async function vectorFiles(): Promise<Record<string, string>> {
  const kernels = await createJsKernels();
  const files: Record<string, unknown> = {
    'messages.json': { spec: 'docs/protocol.md', conventions: CONVENTIONS, vectors: messageVectors() },
    'encodings.json': {
      spec: 'docs/protocol.md §3.2',
      conventions: `${CONVENTIONS} Page contents: {fill: "5a"} every byte 0x5a; {ramp: s} byte i = (s + i) mod 256; set: bytes replaced after. A page not described is zero.`,
      description:
        'Each vector is one PAGES frame applied to the guest below holding `before` (pages received earlier; every other page never sent, so zero). A valid one leaves `after` (xxh64 in afterXxh64); an invalid one fails with `error` and changes nothing.',
      guest: GUEST,
      before: BEFORE,
      vectors: pagesVectors(kernels),
    },
    'invalid.json': { spec: 'docs/protocol.md', conventions: CONVENTIONS, vectors: invalidVectors() },
    'psk.json': pskTranscript(),
    'digest.json': digestVectors(kernels),
  };
  return Object.fromEntries(Object.entries(files).map(([name, value]) => [name, `${JSON.stringify(value, null, 2)}\n`]));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(VECTORS_DIR, { recursive: true });
  for (const [name, text] of Object.entries(await vectorFiles())) {
    writeFileSync(`${VECTORS_DIR}${name}`, text);
    console.log(`${VECTORS_DIR}${name}`);
  }
}
