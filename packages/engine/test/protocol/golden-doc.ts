import { readFileSync } from 'node:fs';
import { isMessageType, messageName } from '../../src/protocol/constants.ts';
import { FRAME_HEADER_BYTES } from '../../src/protocol/limits.ts';
import { MessageType } from '../../src/index.ts';

/**
 * The golden frames of docs/protocol.md, read from the document itself. How the document writes
 * one: a `<!-- golden: NAME -->` line, then a ```hex block; in it, hex digit pairs (spaces free)
 * with `#` comments; the first line's comment is `header: N-byte body, TYPE`. A PAGES example
 * may leave its payloads out when the text just before it says `the N payload bytes are
 * omitted` and `all bytes 0xNN`; they are put back here.
 */

export interface GoldenFrame {
  readonly name: string;
  /** The whole frame: header, body, and any payload the document leaves out put back. */
  readonly bytes: Buffer;
}

/** docs/protocol.md as it is now. */
export const protocolDoc: string = readFileSync(new URL('../../../../docs/protocol.md', import.meta.url), 'utf8');

/** Every golden block of `markdown`, checked; throws, naming the block, at the first thing wrong with one. */
export function goldenFrames(markdown: string): GoldenFrame[] {
  const frames: GoldenFrame[] = [];
  const marker = /<!-- golden: ([^ ]+) -->/g;
  for (let m = marker.exec(markdown); m; m = marker.exec(markdown)) {
    const name = m[1]!;
    const fail = (why: string): never => {
      throw new Error(`docs/protocol.md golden block "${name}": ${why}`);
    };
    const block = /^\s*```hex\n([\s\S]*?)```/.exec(markdown.slice(m.index + m[0].length));
    if (!block) fail('no ```hex block right after the marker');
    const lines = block![1]!.split('\n');
    const comment = /#\s*header:\s*(\d+)-byte body,\s*([A-Z_]+)\s*$/.exec(lines[0] ?? '');
    if (!comment) fail('the first line does not end in "# header: N-byte body, TYPE"');
    const hex = lines.map((l) => l.replace(/#.*$/, '').replace(/\s+/g, '')).join('');
    if (!/^(?:[0-9a-f]{2})+$/i.test(hex)) fail(`not whole hex bytes: "${hex.replace(/[0-9a-f]/gi, '')}" or an odd digit count`);
    let bytes = Buffer.from(hex, 'hex');
    if (bytes.byteLength < FRAME_HEADER_BYTES) fail(`${bytes.byteLength} bytes, shorter than a frame header`);
    const bodyBytes = bytes.readUInt32LE(0);
    const type = bytes[4]!;
    if (!isMessageType(type)) fail(`unknown message type 0x${type.toString(16)}`);
    if (bytes[5] !== 0 || bytes.readUInt16LE(6) !== 0) fail('non-zero flags or reserved bits in the header');
    if (Number(comment![1]) !== bodyBytes) fail(`the comment says a ${comment![1]}-byte body, the header ${bodyBytes}`);
    if (comment![2] !== messageName(type)) fail(`the comment says ${comment![2]}, the header ${messageName(type)}`);
    const shown = bytes.byteLength - FRAME_HEADER_BYTES;
    if (shown !== bodyBytes) {
      const before = markdown.slice(Math.max(0, m.index - 400), m.index);
      const omitted = /the (\d+)\s+payload bytes are omitted/.exec(before);
      const fill = /all bytes 0x([0-9a-f]{2})/i.exec(before);
      if (type !== MessageType.PAGES || !omitted || !fill) fail(`the header says ${bodyBytes} body bytes, the block shows ${shown}`);
      if (shown + Number(omitted![1]) !== bodyBytes) fail(`${shown} bytes shown and ${omitted![1]} omitted, the header says ${bodyBytes}`);
      bytes = Buffer.concat([bytes, Buffer.alloc(Number(omitted![1]), Number.parseInt(fill![1]!, 16))]);
    }
    frames.push({ name, bytes });
  }
  return frames;
}

/** The golden frame `name` of docs/protocol.md; throws if there is none (or any golden block is malformed). */
export function goldenFrame(name: string): Buffer {
  const found = goldenFrames(protocolDoc).find((g) => g.name === name);
  if (!found) throw new Error(`docs/protocol.md has no golden block "${name}"`);
  return found.bytes;
}
