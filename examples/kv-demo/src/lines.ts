/**
 * The guest's wire protocol is one request per line and one reply line per request, in order:
 *
 *   SET <key> <value>   ->  OK
 *   GET <key>           ->  VALUE <value>  |  NIL
 *   INFO                ->  INFO host=<name> generation=<n> keys=<n>
 *   anything else       ->  ERR <reason>
 *
 * Keys and values are printable ASCII without spaces.
 */

/** Longest line any party accepts; a peer that sends more is cut off before we buffer it. */
export const MAX_LINE_BYTES = 1024;
export const MAX_KEY_BYTES = 64;
export const MAX_VALUE_BYTES = 256;

/** Splits a byte stream into lines. `push(chunk)` returns the lines it completed. */
export class LineSplitter {
  private partial = '';

  push(chunk: Buffer): string[] {
    const text = this.partial + chunk.toString('latin1');
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > MAX_LINE_BYTES) throw new Error(`line longer than ${MAX_LINE_BYTES} bytes`);
    return lines;
  }
}
