import { randomBytes } from 'node:crypto';
import { Feature, Intent, type Kernels, MessageType as M } from '@ferry/engine';
import type { Conn, Received } from '../wire/conn.ts';
import { memoryDigest } from '../wire/digest.ts';
import { frame, typeName } from '../wire/frames.ts';
import {
  type Accept,
  acceptBody,
  type Hello,
  parseComplete,
  parseDeviceState,
  parseHello,
  parseReport,
  parseRoundEnd,
  parseU64,
  reportBody,
  resumedBody,
  roundAckBody,
  u64Body,
} from '../wire/messages.ts';
import { decodePages } from '../wire/pages.ts';
import { pskProof } from '../wire/psk.ts';

/** The faults a scenario injects into the kit's otherwise correct destination. */
export interface Faults {
  /** Versions the kit speaks (default 1..4). */
  readonly versions?: readonly [number, number];
  /** Answer HELLO with this instead of the normal accept (a version outside the source's range, a small frame limit…). */
  readonly accept?: (hello: Hello, normal: Accept) => Accept;
  /** Refuse the HELLO with this code. */
  readonly reject?: string;
  /** Send FAILED with this code right after HELLO_ACCEPT. */
  readonly failAfterAccept?: string;
  /** The final round's ROUND_ACK: before READY (default), after it, or never. */
  readonly finalAck?: 'before-ready' | 'after-ready' | 'absent';
  /** Add this to round 0's ROUND_ACK page count (a lying acknowledgement). */
  readonly lieInAck?: number;
  /** Send READY with a digest that differs from the memory's. */
  readonly wrongDigest?: boolean;
  /** Send an AUTH_CHALLENGE whose proof is wrong (keyed runs). */
  readonly badChallenge?: boolean;
  /** On COMMIT close the connection at once (no RESUMED). */
  readonly dropAfterCommit?: boolean;
}

/** What the kit saw of one migration from its side. */
export interface Seen {
  hello?: Hello;
  version: number;
  /** Frame types received after HELLO_ACCEPT, in order. */
  readonly frames: string[];
  /** Rules the source broke, each said as expected vs observed. */
  readonly violations: string[];
  sawCommit: boolean;
  /** ABORT's code, when the source sent one. */
  abort?: string;
  /** How the connection ended. */
  end: 'source-closed' | 'kit-closed' | 'timeout';
}

const CLIENT_TIMEOUT_MS = 15_000;

/**
 * The kit's scripted destination for one migration: correct by default, with `faults`
 * injected. It checks what the source sends (framing, CRC, rounds, page decoding, totals)
 * and records every breach in `seen.violations`; it never throws for the source's faults.
 */
export async function serveMigration(conn: Conn, k: Kernels, psk: Buffer | undefined, faults: Faults, first: Received): Promise<Seen> {
  const seen: Seen = {
    version: 0,
    frames: [],
    violations: [],
    sawCommit: false,
    end: 'kit-closed',
  };
  const violate = (s: string): void => {
    seen.violations.push(s);
  };
  const hello = parseHello(first.body);
  seen.hello = hello;
  if (psk) {
    if ((hello.features & Feature.PSK_AUTH) === 0) {
      await conn.write(frame(M.HELLO_REJECT, reportBody('FERRY_AUTH_REQUIRED', 'the kit holds a key')));
      violate('expected a HELLO with PSK_AUTH (the kit was given a key), got none');
      return seen;
    }
    const ns = await conn.next(CLIENT_TIMEOUT_MS);
    if (ns.kind !== 'frame' || ns.type !== M.AUTH_SOURCE) {
      violate(`expected AUTH_SOURCE after a PSK_AUTH HELLO, got ${ns.kind === 'frame' ? typeName(ns.type) : ns.kind}`);
      return seen;
    }
    const nd = randomBytes(32);
    const mac = pskProof(psk, 'destination', hello.sessionId, first.body, ns.body, nd);
    if (faults.badChallenge) mac[0]! ^= 0xff;
    await conn.write(frame(M.AUTH_CHALLENGE, Buffer.concat([nd, mac])));
    if (faults.badChallenge) {
      const e = await conn.next(CLIENT_TIMEOUT_MS);
      if (e.kind === 'frame') {
        seen.frames.push(typeName(e.type));
        if (e.type === M.AUTH_PROOF) violate('expected the source to refuse a wrong AUTH_CHALLENGE proof, got AUTH_PROOF');
      }
      seen.end = e.kind === 'closed' ? 'source-closed' : e.kind === 'timeout' ? 'timeout' : 'kit-closed';
      return seen;
    }
    const proof = await conn.next(CLIENT_TIMEOUT_MS);
    if (
      proof.kind !== 'frame' ||
      proof.type !== M.AUTH_PROOF ||
      !proof.body.equals(pskProof(psk, 'source', hello.sessionId, first.body, ns.body, nd))
    ) {
      await conn.write(frame(M.HELLO_REJECT, reportBody('FERRY_AUTH_FAILED', 'wrong proof')));
      violate('expected a correct AUTH_PROOF');
      return seen;
    }
  }
  if (faults.reject) {
    await conn.write(frame(M.HELLO_REJECT, reportBody(faults.reject, 'conformance kit: refused on purpose')));
    return seen;
  }
  const [lo, hi] = faults.versions ?? [1, 4];
  const version = Math.min(hi, hello.versionMax);
  if (version < Math.max(lo, hello.versionMin)) {
    await conn.write(frame(M.HELLO_REJECT, reportBody('FERRY_VERSION_UNSUPPORTED', `the kit speaks ${lo}..${hi}`)));
    return seen;
  }
  const normal: Accept =
    version >= 4
      ? {
          version,
          maxFrameBodyBytes: 16 * 1024 * 1024,
          acceptedFeatures: hello.features & (Feature.PSK_AUTH | Feature.RESUMABLE),
          encodings: 0x3e,
        }
      : { version, maxFrameBodyBytes: 16 * 1024 * 1024 };
  const accept = faults.accept ? faults.accept(hello, normal) : normal;
  seen.version = accept.version;
  await conn.write(frame(M.HELLO_ACCEPT, acceptBody(accept)));
  conn.checked = accept.version >= 3;
  conn.bodyLimit = accept.maxFrameBodyBytes;
  const acceptedEncodings = accept.version >= 4 ? (accept.encodings ?? 0) : 0x3e;
  if (hello.intent === Intent.PROBE) return finishProbe(conn, seen);
  if (faults.failAfterAccept)
    await conn.write(frame(M.FAILED, reportBody(faults.failAfterAccept, 'conformance kit: failed on purpose'), { checked: conn.checked }));

  const ps = hello.pageSize;
  const total = hello.regions.reduce((n, r) => n + r.sizeBytes, 0);
  if (total > 1024 * 1024 * 1024) {
    violate(`guest of ${total} bytes is larger than the kit takes (1 GiB)`);
    return seen;
  }
  const memory = hello.regions.map((r) => new Uint8Array(r.sizeBytes));
  const totalPages = total / ps;
  let state: 'receiving' | 'switchover' | 'ready' | 'committed' = 'receiving';
  let round = 0;
  let pagesInRound = 0;
  let finalRound = -1;
  let deferredAck: Buffer | undefined;
  let stateTotal: bigint | undefined;
  let stateBytes = 0n;
  let echoes = 0;

  for (;;) {
    const e = await conn.next(CLIENT_TIMEOUT_MS);
    if (e.kind === 'timeout') {
      seen.end = 'timeout';
      return seen;
    }
    if (e.kind === 'closed') {
      seen.end = 'source-closed';
      return seen;
    }
    seen.frames.push(typeName(e.type));
    if (conn.checked && e.crc !== 'ok')
      violate(`expected a CHECKED ${typeName(e.type)} with a correct CRC-32 (version ${seen.version}), got ${e.crc}`);
    if (!conn.checked && e.flags !== 0)
      violate(`expected flags 0 in a version ${seen.version} session, got 0x${e.flags.toString(16)} on ${typeName(e.type)}`);
    if (faults.failAfterAccept) {
      // After FAILED the source may still have frames in flight; it must never COMMIT.
      if (e.type === M.COMMIT) violate('expected no COMMIT after FAILED, got COMMIT');
      continue;
    }
    try {
      switch (e.type) {
        case M.PAGES: {
          if (state !== 'receiving' && state !== 'switchover') throw new Error(`PAGES in state ${state}`);
          const b = decodePages(k, e.body, memory, ps);
          if (seen.version >= 4 && b.round !== round)
            violate(`expected PAGES of the current round ${round}, got a batch of round ${b.round} (RD-6)`);
          for (const p of b.pages) {
            if ((acceptedEncodings & (1 << p.encoding)) === 0)
              violate(`expected only announced encodings (0x${acceptedEncodings.toString(16)}), got encoding ${p.encoding}`);
            memory[b.region]!.set(p.content, p.page * ps);
          }
          pagesInRound += b.pages.length;
          break;
        }
        case M.ROUND_END: {
          const r = parseRoundEnd(e.body);
          if (seen.version >= 4 && r.round !== round) violate(`expected ROUND_END of round ${round}, got round ${r.round} (RD-6)`);
          if (r.pages !== pagesInRound)
            violate(`expected ROUND_END to count the ${pagesInRound} pages received in round ${round}, it says ${r.pages}`);
          const ack = roundAckBody(r.round, pagesInRound + (round === 0 ? (faults.lieInAck ?? 0) : 0), 0);
          if (state === 'switchover') {
            if (faults.finalAck === 'after-ready') deferredAck = ack;
            else if (faults.finalAck !== 'absent') await conn.send(M.ROUND_ACK, ack);
          } else {
            await conn.send(M.ROUND_ACK, ack);
          }
          round = r.round + 1;
          pagesInRound = 0;
          break;
        }
        case M.ECHO:
          if (seen.version < 2) violate('expected no ECHO in a version 1 session');
          if (state !== 'receiving') violate(`expected ECHO only in receiving (before SWITCHOVER), got one in ${state}`);
          if (++echoes > 64) violate('expected at most 64 ECHO messages in a session, got a 65th');
          await conn.send(M.ECHO_REPLY, e.body);
          break;
        case M.SWITCHOVER: {
          if (state !== 'receiving') throw new Error(`SWITCHOVER in state ${state}`);
          const r = e.body.readUInt32LE(0);
          if (seen.version >= 4 && r !== round) violate(`expected SWITCHOVER to carry the final round's number ${round}, got ${r}`);
          state = 'switchover';
          finalRound = round;
          break;
        }
        case M.DEVICE_STATE:
          if (state !== 'switchover') throw new Error(`DEVICE_STATE in state ${state}`);
          {
            const d = parseDeviceState(e.body);
            if (stateTotal !== undefined && d.total !== stateTotal)
              violate(`expected every DEVICE_STATE to carry totalBytes ${stateTotal}, got ${d.total} (SW-8)`);
            if (d.offset !== stateBytes)
              violate(`expected a DEVICE_STATE chunk at offset ${stateBytes} (the bytes sent before), got ${d.offset} (SW-8)`);
            stateTotal = d.total;
            stateBytes += BigInt(d.bytes.byteLength);
            if (stateBytes > d.total) violate(`expected DEVICE_STATE to add up to ${d.total} bytes, got ${stateBytes} (SW-8)`);
          }
          break;
        case M.COMPLETE: {
          if (state !== 'switchover') throw new Error(`COMPLETE in state ${state}`);
          const c = parseComplete(e.body);
          if ((stateTotal ?? 0n) !== stateBytes)
            violate(`expected the whole device state (${stateTotal} bytes) before COMPLETE, got ${stateBytes} (SW-8)`);
          if (c.totalPages !== BigInt(totalPages))
            violate(`expected COMPLETE.totalPages = the guest's ${totalPages} pages, got ${c.totalPages} (RD-6)`);
          if (c.finalRound !== finalRound)
            violate(`expected COMPLETE.finalRound = the final round's number (${finalRound}), got ${c.finalRound} (RD-6)`);
          if (seen.version >= 4 && round === finalRound) violate('expected the final ROUND_END before COMPLETE (version 4)');
          const digest = memoryDigest(k, memory, ps);
          if (seen.version >= 3 && c.digest !== 0n)
            violate(`expected COMPLETE with digest 0 (version 3 withholds it), got 0x${c.digest.toString(16)}`);
          if (seen.version < 3 && c.digest !== digest) {
            violate(`expected COMPLETE's digest to match the memory received (0x${digest.toString(16)}), got 0x${c.digest.toString(16)}`);
            await conn.send(M.FAILED, reportBody('FERRY_DIGEST_MISMATCH', 'digest differs'));
            return seen;
          }
          await conn.send(M.READY, u64Body(faults.wrongDigest ? digest ^ 0x5a5an : digest));
          if (deferredAck) await conn.send(M.ROUND_ACK, deferredAck);
          state = 'ready';
          break;
        }
        case M.COMMIT:
          if (state !== 'ready') throw new Error(`COMMIT in state ${state}`);
          seen.sawCommit = true;
          if (faults.dropAfterCommit) {
            conn.destroy();
            seen.end = 'kit-closed';
            return seen;
          }
          await conn.send(M.RESUMED, resumedBody());
          state = 'committed';
          break;
        case M.ABORT:
          seen.abort = parseReport(e.body).code;
          if (state === 'committed') violate('expected no ABORT after COMMIT, got ABORT');
          conn.end();
          break;
        default:
          throw new Error(`${typeName(e.type)} in state ${state}`);
      }
    } catch (err) {
      violate(`the source sent what the protocol does not allow: ${(err as Error).message}`);
      await conn.send(M.FAILED, reportBody('FERRY_UNEXPECTED_MESSAGE', (err as Error).message));
      conn.end();
    }
  }
}

async function finishProbe(conn: Conn, seen: Seen): Promise<Seen> {
  for (;;) {
    const e = await conn.next(CLIENT_TIMEOUT_MS);
    if (e.kind !== 'frame') return seen;
    if (e.type === M.PROBE_END) await conn.send(M.PROBE_ACK, u64Body(parseU64(e.body, 'PROBE_END')));
  }
}
