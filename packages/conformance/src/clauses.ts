/**
 * The MUST clauses of docs/protocol.md that the kit checks, each with a stable id. Scenarios
 * cite these ids; `pnpm --filter @ferry/conformance docs` prints them with their scenarios into
 * the spec's Conformance section (§8).
 */
export interface Clause {
  readonly id: string;
  /** Section of docs/protocol.md. */
  readonly section: string;
  readonly text: string;
}

export const CLAUSES: readonly Clause[] = [
  {
    id: 'HS-1',
    section: '§5.1',
    text: 'The first frame on a connection MUST be HELLO; anything else is answered with HELLO_REJECT and the connection is closed.',
  },
  {
    id: 'HS-2',
    section: '§5.1',
    text: 'A destination MUST refuse a HELLO whose version range holds no version it speaks: HELLO_REJECT FERRY_VERSION_UNSUPPORTED.',
  },
  {
    id: 'HS-3',
    section: '§5.1',
    text: 'The destination answers HELLO_ACCEPT with the highest version in both its range and the source’s.',
  },
  { id: 'HS-4', section: '§3.1', text: 'A HELLO without the magic is refused (FERRY_BAD_MAGIC).' },
  {
    id: 'HS-5',
    section: '§5.1',
    text: 'A page size the destination does not run, or an invalid layout, is refused before allocation: HELLO_REJECT FERRY_INCOMPATIBLE_GUEST.',
  },
  {
    id: 'HS-6',
    section: '§5.1',
    text: 'A guest the destination’s control plane does not take (another region layout) is refused with HELLO_REJECT (FERRY_REJECTED or FERRY_INCOMPATIBLE_GUEST).',
  },
  { id: 'HS-7', section: '§3.1', text: 'A HELLO with an intent other than 1..4 is refused with HELLO_REJECT.' },
  {
    id: 'HS-8',
    section: '§3.1.1',
    text: 'A destination choosing version 3 or lower MUST refuse feature bits it does not know (FERRY_INCOMPATIBLE_GUEST).',
  },
  {
    id: 'HS-9',
    section: '§5.1',
    text: 'A source waits for HELLO_ACCEPT: a frame sent before it (pipelined after HELLO) is refused with HELLO_REJECT FERRY_UNEXPECTED_MESSAGE.',
  },
  {
    id: 'HS-10',
    section: '§3.1.1',
    text: 'A source MUST NOT go on with a version outside its range: it closes (or sends ABORT) and fails.',
  },
  {
    id: 'HS-11',
    section: '§3.1.1',
    text: 'maxFrameBodyBytes in HELLO_ACCEPT MUST be at least max(65536, pageSize + 4096); a smaller one makes the source fail with FERRY_FRAME_MALFORMED.',
  },
  { id: 'HS-12', section: '§5.1', text: 'A source that reads HELLO_REJECT stops and reports its code.' },
  {
    id: 'HS-13',
    section: '§5.1',
    text: 'A refused connection allocates nothing and holds nothing: the destination takes the next migration.',
  },
  {
    id: 'HS-14',
    section: '§2.2',
    text: 'A destination that refuses a connection with input still unread shuts down its side and drains before it closes, so that the refusal is not destroyed by a reset.',
  },
  { id: 'FR-1', section: '§3', text: 'An unassigned message type MUST be rejected (FERRY_UNKNOWN_MESSAGE).' },
  {
    id: 'FR-2',
    section: '§2',
    text: 'A body longer than the receiver’s limit (64 KiB before HELLO_ACCEPT, maxFrameBodyBytes after) is refused before it is buffered (FERRY_FRAME_TOO_LARGE).',
  },
  {
    id: 'FR-3',
    section: '§2.1',
    text: 'In a version 3+ session a frame whose CRC-32 trailer does not match is a fault of the connection (FERRY_CHECKSUM_MISMATCH): the migration fails before COMMIT.',
  },
  {
    id: 'FR-4',
    section: '§2.1',
    text: 'In a version 3+ session every frame after HELLO_ACCEPT sets CHECKED and carries a correct CRC-32 trailer; none does before, nor in versions 1 and 2.',
  },
  { id: 'FR-5', section: '§2.1', text: 'A CHECKED frame in a version 1 or 2 session is FERRY_FRAME_MALFORMED.' },
  {
    id: 'FR-6',
    section: '§3.1.1',
    text: 'A source MUST NOT send a frame body larger than the maxFrameBodyBytes of HELLO_ACCEPT.',
  },
  {
    id: 'PG-1',
    section: '§3.2',
    text: 'A receiver decodes every page encoding (RAW, ZERO, LZ4, XBZRLE, DEDUP) to the page whose xxh64 the entry carries.',
  },
  {
    id: 'PG-2',
    section: '§3.2',
    text: 'A page index past its region fails the migration with FERRY_PAGE_OUT_OF_RANGE, before any page of the batch is written.',
  },
  {
    id: 'PG-3',
    section: '§3.2',
    text: 'A page whose decoded content does not match its checksum fails the migration with FERRY_CHECKSUM_MISMATCH.',
  },
  {
    id: 'PG-4',
    section: '§1',
    text: 'Destination memory starts zeroed: a page never sent is zero, so zero pages need not be sent.',
  },
  {
    id: 'PG-5',
    section: '§3.2',
    text: 'A DEDUP entry MUST name a page received in this session: a reference to a page never received (even one that is zero) fails with FERRY_DECODE_FAILED.',
  },
  {
    id: 'RD-1',
    section: '§5.3',
    text: 'The destination acknowledges every ROUND_END, the final round’s included (before READY), with ROUND_ACK carrying the round and the pages received in it.',
  },
  {
    id: 'RD-2',
    section: '§5.4',
    text: 'From version 4 the destination checks round numbers: a PAGES batch whose round is not the current round, or a ROUND_END out of sequence, is FERRY_UNEXPECTED_MESSAGE.',
  },
  {
    id: 'RD-3',
    section: '§5.3',
    text: 'A source MUST accept, and may ignore, the final round’s ROUND_ACK whether or not it arrives before READY.',
  },
  {
    id: 'RD-4',
    section: '§5.3',
    text: 'A ROUND_ACK whose page count differs from the source’s count for that round makes the source fail: it never sends COMMIT.',
  },
  {
    id: 'RD-5',
    section: '§5.4',
    text: 'The final ROUND_END before COMPLETE is optional in versions 1–3 (a destination accepts COMPLETE without it) and required from version 4.',
  },
  {
    id: 'RD-6',
    section: '§5.4',
    text: 'COMPLETE.totalPages is the guest’s page count (all versions); from version 4 rounds are numbered from 0 up by one, every batch carries its round, SWITCHOVER and COMPLETE.finalRound name the final round.',
  },
  {
    id: 'RD-7',
    section: '§3.7',
    text: 'In a version 2+ session the destination answers every ECHO with ECHO_REPLY carrying its token; an ECHO in a version 1 session, after SWITCHOVER, or past the 64th is FERRY_UNEXPECTED_MESSAGE (a source sends none of these).',
  },
  {
    id: 'SW-1',
    section: '§4',
    text: 'The destination answers COMPLETE with READY carrying the digest of its memory as written (from version 3 computed by itself: COMPLETE carries 0).',
  },
  {
    id: 'SW-2',
    section: '§4',
    text: 'From version 3 a source sends COMPLETE with digest 0 and sends COMMIT only if READY’s digest equals its own; else no COMMIT (ABORT FERRY_DIGEST_MISMATCH).',
  },
  {
    id: 'SW-3',
    section: '§5.5',
    text: 'After COMMIT the destination resumes the guest and sends RESUMED; the source, which reads the last message, closes first.',
  },
  {
    id: 'SW-4',
    section: '§5.5',
    text: 'A FAILED read before COMMIT ends the migration at the source: it sends no COMMIT and fails, its guest running on.',
  },
  {
    id: 'SW-5',
    section: '§5.5',
    text: 'A source that loses the connection after COMMIT and before RESUMED, and does not learn FERRY_NOT_COMMITTED, reports FERRY_OUTCOME_UNKNOWN.',
  },
  {
    id: 'SW-6',
    section: '§5.1, §5.2',
    text: 'ABORT is allowed in every destination state after HELLO and before COMMIT: the destination discards the guest, answers FAILED(FERRY_ABORTED) or nothing, and closes.',
  },
  {
    id: 'SW-7',
    section: '§5.2',
    text: 'A message not allowed in the destination’s current state is answered with FAILED FERRY_UNEXPECTED_MESSAGE.',
  },
  {
    id: 'SW-8',
    section: '§3.8',
    text: 'DEVICE_STATE chunks carry the same totalBytes and follow each other (offset = bytes sent before), and add up to totalBytes before COMPLETE.',
  },
  {
    id: 'PC-1',
    section: '§6',
    text: 'Post-copy: after POSTCOPY_ENTER, POSTCOPY_MISSING and the device state the destination sends READY with digest 0, RESUMED after COMMIT, takes the missing pages, and answers COMPLETE with POSTCOPY_DONE carrying the digest of the memory as received.',
  },
  {
    id: 'PC-2',
    section: '§6',
    text: 'POSTCOPY_ENTER is allowed only in receiving, in a session whose HELLO set POSTCOPY; else FERRY_UNEXPECTED_MESSAGE.',
  },
  { id: 'PC-3', section: '§6', text: 'A POSTCOPY_MISSING range past the region’s end is FERRY_PAGE_OUT_OF_RANGE.' },
  {
    id: 'RC-1',
    section: '§6.4',
    text: 'With RESUMABLE, a pre-copy connection that breaks is recovered: a RECOVER HELLO with the same sessionId gets HELLO_ACCEPT, RECOVER_MISSING naming every page never received, and RECOVER_END with their total.',
  },
  { id: 'RC-2', section: '§6.3', text: 'A RECOVER HELLO for no interrupted session is refused with HELLO_REJECT FERRY_REJECTED.' },
  {
    id: 'CH-1',
    section: '§3.5',
    text: 'With CHANNELS, a CHANNEL HELLO for the migration in receiving is accepted; pages striped over channels are counted per round over all of them before ROUND_ACK.',
  },
  { id: 'CH-2', section: '§3.5', text: 'A CHANNEL HELLO for no migration in receiving is refused with HELLO_REJECT FERRY_REJECTED.' },
  {
    id: 'AU-1',
    section: '§3.4',
    text: 'A keyed destination answers AUTH_SOURCE with AUTH_CHALLENGE whose proof is HMAC-SHA-256 over the transcript, and accepts a correct AUTH_PROOF.',
  },
  { id: 'AU-2', section: '§3.4', text: 'A wrong AUTH_PROOF is refused with HELLO_REJECT FERRY_AUTH_FAILED.' },
  {
    id: 'AU-3',
    section: '§3.4',
    text: 'A keyed destination refuses a HELLO without PSK_AUTH (FERRY_AUTH_REQUIRED); an unkeyed one refuses a HELLO with it (FERRY_INCOMPATIBLE_GUEST).',
  },
  {
    id: 'AU-4',
    section: '§3.4',
    text: 'A source MUST check the AUTH_CHALLENGE proof and close with FERRY_AUTH_FAILED when it is wrong.',
  },
  {
    id: 'NG-1',
    section: '§3.1.1',
    text: 'A destination choosing version 4 answers a 16-byte HELLO_ACCEPT: acceptedFeatures a subset of the HELLO’s (PSK_AUTH iff the HELLO had it), encodings with RAW and ZERO set and no bit outside 0x3e.',
  },
  {
    id: 'NG-2',
    section: '§3.1.1',
    text: 'A destination choosing version 4 MUST NOT refuse feature bits it does not know or want: it leaves them out of acceptedFeatures.',
  },
  { id: 'NG-3', section: '§3.1.1', text: 'A version 4 source MUST NOT use a feature not accepted nor send an encoding not announced.' },
  {
    id: 'NG-4',
    section: '§3.1.1',
    text: 'A source fails with FERRY_FRAME_MALFORMED when acceptedFeatures has bits outside its HELLO’s features, or encodings lacks RAW or ZERO or has a bit outside 0x3e.',
  },
  {
    id: 'NG-5',
    section: '§3.1.1',
    text: 'A version 4 destination refuses a message of a feature it did not accept (FERRY_UNEXPECTED_MESSAGE) and a page encoding it did not announce (FERRY_FRAME_MALFORMED).',
  },
];

export function clause(id: string): Clause {
  const c = CLAUSES.find((x) => x.id === id);
  if (!c) throw new Error(`no clause ${id}`);
  return c;
}
