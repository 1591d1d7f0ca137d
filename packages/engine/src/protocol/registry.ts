import { ErrorCode, ProtocolError } from '../errors.ts';
import { MessageType, messageName } from './constants.ts';
import { decodeBody, encodeFrame, type Frame } from './frame.ts';
import * as msg from './messages.ts';

/** Which side sends a message: the source (0x01..0x7f) or the destination (0x81..0xff). */
export type Sender = 'source' | 'destination';

/**
 * One message of the protocol: its type, who sends it and how its body is encoded, bound once
 * here so that call sites name the message only (`encode(Msg.READY, …)`, `decode(Msg.READY, frame)`).
 */
export interface MessageSpec<T> {
  readonly name: MessageName;
  readonly type: MessageType;
  readonly sender: Sender;
  readonly codec: MessageCodecOf<T>;
}

type MessageCodecOf<T> = msg.MessageCodec<T>;
export type MessageName = keyof typeof MessageType;

/** A body that is not a control message (page batches, probe filler): carried as bytes. */
const bulk: msg.MessageCodec<Uint8Array> = {
  preencode: (body) => body.byteLength,
  encode: (body, c) => c.setRaw(body),
  decode: (c) => c.raw(c.remaining, 'body'),
};

function spec<T>(name: MessageName, codec: msg.MessageCodec<T>): MessageSpec<T> {
  const type = MessageType[name];
  return { name, type, sender: type < 0x80 ? 'source' : 'destination', codec };
}

/** Every message of the protocol (docs/protocol.md §3), by name. */
export const Msg: {
  readonly HELLO: MessageSpec<msg.Hello>;
  readonly PAGES: MessageSpec<Uint8Array>;
  readonly ROUND_END: MessageSpec<msg.RoundEnd>;
  readonly SWITCHOVER: MessageSpec<msg.Switchover>;
  readonly DEVICE_STATE: MessageSpec<msg.DeviceStateChunk>;
  readonly COMPLETE: MessageSpec<msg.Complete>;
  readonly COMMIT: MessageSpec<Record<string, never>>;
  readonly ABORT: MessageSpec<msg.ErrorReport>;
  readonly AUTH_SOURCE: MessageSpec<msg.AuthSource>;
  readonly AUTH_PROOF: MessageSpec<msg.AuthProof>;
  readonly POSTCOPY_ENTER: MessageSpec<msg.PostcopyEnter>;
  readonly POSTCOPY_MISSING: MessageSpec<msg.PostcopyMissing>;
  readonly PROBE_DATA: MessageSpec<Uint8Array>;
  readonly PROBE_END: MessageSpec<msg.ProbeCount>;
  readonly ECHO: MessageSpec<msg.Echo>;
  readonly HELLO_ACCEPT: MessageSpec<msg.HelloAccept>;
  readonly HELLO_REJECT: MessageSpec<msg.ErrorReport>;
  readonly ROUND_ACK: MessageSpec<msg.RoundAck>;
  readonly READY: MessageSpec<msg.Ready>;
  readonly RESUMED: MessageSpec<msg.Resumed>;
  readonly FAILED: MessageSpec<msg.ErrorReport>;
  readonly AUTH_CHALLENGE: MessageSpec<msg.AuthChallenge>;
  readonly PAGE_REQUEST: MessageSpec<msg.PageRequest>;
  readonly POSTCOPY_DONE: MessageSpec<msg.PostcopyDone>;
  readonly RECOVER_MISSING: MessageSpec<msg.PostcopyMissing>;
  readonly RECOVER_END: MessageSpec<msg.RecoverEnd>;
  readonly PROBE_ACK: MessageSpec<msg.ProbeCount>;
  readonly ECHO_REPLY: MessageSpec<msg.Echo>;
} = {
  HELLO: spec('HELLO', msg.hello),
  PAGES: spec('PAGES', bulk),
  ROUND_END: spec('ROUND_END', msg.roundEnd),
  SWITCHOVER: spec('SWITCHOVER', msg.switchover),
  DEVICE_STATE: spec('DEVICE_STATE', msg.deviceState),
  COMPLETE: spec('COMPLETE', msg.complete),
  COMMIT: spec('COMMIT', msg.empty),
  ABORT: spec('ABORT', msg.errorReport),
  AUTH_SOURCE: spec('AUTH_SOURCE', msg.authSource),
  AUTH_PROOF: spec('AUTH_PROOF', msg.authProof),
  POSTCOPY_ENTER: spec('POSTCOPY_ENTER', msg.postcopyEnter),
  POSTCOPY_MISSING: spec('POSTCOPY_MISSING', msg.postcopyMissing),
  PROBE_DATA: spec('PROBE_DATA', bulk),
  PROBE_END: spec('PROBE_END', msg.probeCount),
  ECHO: spec('ECHO', msg.echo),
  HELLO_ACCEPT: spec('HELLO_ACCEPT', msg.helloAccept),
  HELLO_REJECT: spec('HELLO_REJECT', msg.errorReport),
  ROUND_ACK: spec('ROUND_ACK', msg.roundAck),
  READY: spec('READY', msg.ready),
  RESUMED: spec('RESUMED', msg.resumed),
  FAILED: spec('FAILED', msg.errorReport),
  AUTH_CHALLENGE: spec('AUTH_CHALLENGE', msg.authChallenge),
  PAGE_REQUEST: spec('PAGE_REQUEST', msg.pageRequest),
  POSTCOPY_DONE: spec('POSTCOPY_DONE', msg.postcopyDone),
  RECOVER_MISSING: spec('RECOVER_MISSING', msg.postcopyMissing),
  RECOVER_END: spec('RECOVER_END', msg.recoverEnd),
  PROBE_ACK: spec('PROBE_ACK', msg.probeCount),
  ECHO_REPLY: spec('ECHO_REPLY', msg.echo),
};

// Every message type has an entry (a type error here names the one missing).
Msg satisfies Record<MessageName, { readonly type: MessageType }>;

/** The registry entry of a message type. */
export function specOf(type: MessageType): MessageSpec<unknown> {
  return Msg[messageName(type) as MessageName] as MessageSpec<unknown>;
}

/** A whole frame of message `m`: sized, allocated once, encoded. */
export function encode<T>(m: MessageSpec<T>, value: T): Buffer {
  return encodeFrame(m.type, m.codec, value);
}

/** The body of `frame` decoded as message `m`; a frame of any other type is FERRY_UNEXPECTED_MESSAGE. */
export function decode<T>(m: MessageSpec<T>, frame: Frame): T {
  if (frame.type !== m.type) {
    throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `expected ${m.name}, got ${messageName(frame.type)}`);
  }
  return decodeBody(m.codec, frame.body);
}
