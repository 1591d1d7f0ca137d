import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, FerryError, MigrationError, PeerError, toFerryError } from '../src/errors.ts';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

describe('error codes', () => {
  it('are listed in docs/errors.md exactly', () => {
    const documented = [...doc.matchAll(/^\| `(FERRY_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.values(ErrorCode).sort());
  });

  it('keep the cause and carry the peer code', () => {
    const cause = new Error('socket hang up');
    const wrapped = toFerryError(cause, ErrorCode.CONNECTION_LOST);
    expect(wrapped).toBeInstanceOf(MigrationError);
    expect(wrapped).toMatchObject({ code: 'FERRY_CONNECTION_LOST', cause });
    const peer = new PeerError('FERRY_CHECKSUM_MISMATCH', 'page 7');
    expect(peer).toBeInstanceOf(FerryError);
    expect(peer).toMatchObject({ code: 'FERRY_PEER_FAILED', remoteCode: 'FERRY_CHECKSUM_MISMATCH', name: 'PeerError' });
    expect(toFerryError(peer, ErrorCode.TIMEOUT)).toBe(peer);
  });
});
