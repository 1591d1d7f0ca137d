import net from 'node:net';
import { Intent, MessageType as M } from '@ferry/engine';
import { Conn, type Received } from '../wire/conn.ts';
import { frame } from '../wire/frames.ts';
import { parseHello, reportBody } from '../wire/messages.ts';
import { Waker } from '../wire/waker.ts';

/**
 * The kit's listening socket (role destination). Connections queue until a scenario takes
 * them; a RECOVER or CHANNEL HELLO the scenario did not ask for is refused here, so a source
 * that asks whether COMMIT arrived learns nothing (FERRY_REJECTED).
 */
export class KitListener {
  private readonly waiting: { conn: Conn; hello: Received }[] = [];
  private readonly arrival = new Waker();
  readonly recovers: string[] = [];

  private constructor(private readonly server: net.Server) {}

  static async listen(port: number, host = '127.0.0.1'): Promise<KitListener> {
    const server = net.createServer();
    const l = new KitListener(server);
    server.on('connection', (s) => {
      l.greet(new Conn(s)).catch(() => s.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return l;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  private async greet(conn: Conn): Promise<void> {
    const e = await conn.next(15_000);
    if (e.kind !== 'frame' || e.type !== M.HELLO) {
      if (e.kind === 'frame')
        await conn.write(frame(M.HELLO_REJECT, reportBody('FERRY_UNEXPECTED_MESSAGE', 'first message must be HELLO')));
      conn.destroy();
      return;
    }
    const hello = parseHello(e.body);
    if (hello.intent === Intent.RECOVER || hello.intent === Intent.CHANNEL) {
      this.recovers.push(hello.intent === Intent.RECOVER ? 'RECOVER' : 'CHANNEL');
      await conn.write(frame(M.HELLO_REJECT, reportBody('FERRY_REJECTED', 'conformance kit: no session to recover or join')));
      conn.end();
      return;
    }
    this.waiting.push({ conn, hello: e });
    this.arrival.wake();
  }

  /** The next migration's connection and its HELLO frame, or undefined after `ms`. */
  async next(ms: number): Promise<{ conn: Conn; hello: Received } | undefined> {
    if (this.waiting.length === 0) await this.arrival.wait(ms);
    return this.waiting.shift();
  }

  /** Drops connections nobody took (a source of an earlier scenario retrying). */
  drain(): void {
    for (const w of this.waiting.splice(0)) w.conn.destroy();
    this.recovers.length = 0;
  }

  close(): Promise<void> {
    this.drain();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
