import http from 'node:http';

/** One message of the console's stream: its topic (the SSE `event`) and its JSON data. */
export interface ConsoleMessage {
  readonly topic: string;
  readonly data: unknown;
}

/**
 * Reads a console's `/events` stream as a page opening now would (`headers`: e.g. `last-event-id`)
 * until `until` appears in it, then hangs up (an EventSource would stay); resolves with the text.
 * For tests and launchers that check what the console published.
 */
export function readEvents(consoleUrl: string, until: string | RegExp, headers: Record<string, string> = {}): Promise<string> {
  const seen = (text: string): boolean => (typeof until === 'string' ? text.includes(until) : until.test(text));
  return new Promise((resolve, reject) => {
    const req = http.get(new URL('/events', consoleUrl), { headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (seen(text)) {
          req.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', reject);
  });
}

/** The messages in a stream's text (comments and incomplete messages left out). */
export function parseEvents(text: string): ConsoleMessage[] {
  return text
    .split('\n\n')
    .map((block) => ({ topic: /^event: (.*)$/m.exec(block)?.[1] ?? '', data: /^data: (.*)$/m.exec(block)?.[1] }))
    .filter((e) => e.topic !== '' && e.data !== undefined)
    .map((e) => ({ topic: e.topic, data: JSON.parse(e.data!) as unknown }));
}
