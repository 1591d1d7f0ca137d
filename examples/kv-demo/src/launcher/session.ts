import net from 'node:net';
import { LineSplitter } from '../lines.ts';

/** How often the session asks the guest who and where it is. */
const EVERY_MS = 250;

/**
 * A session into the guest, as someone logged in sees it: its own connection to the guest's
 * address (through the proxy, like the ping), asking `INFO` four times a second and printing each
 * answer with how long it took. Across the move the answers go on, from the other host, one of
 * them late by the blackout.
 */
export class GuestSession {
  private readonly socket: net.Socket;
  private readonly lines = new LineSplitter();
  private readonly sent: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private last = '';

  private constructor(socket: net.Socket, print: (line: string) => void) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      for (const line of this.lines.push(chunk)) {
        const sentMs = this.sent.shift() ?? performance.now();
        const ms = performance.now() - sentMs;
        // A line per change, or when the answer was slow: the terminal shows what matters.
        if (line !== this.last || ms > 5) print(`${line.replace(/^INFO /, 'guest$ info: ')}  (${ms.toFixed(1)} ms)`);
        this.last = line;
      }
    });
    socket.on('error', (err) => print(`session: ${err.message}`));
    socket.on('close', () => print('session: connection closed'));
    this.timer = setInterval(() => {
      this.sent.push(performance.now());
      socket.write('INFO\n');
    }, EVERY_MS);
  }

  static connect(port: number, print: (line: string) => void): Promise<GuestSession> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        print(`session: connected to the guest at 127.0.0.1:${port}`);
        resolve(new GuestSession(socket, print));
      });
      socket.once('error', reject);
    });
  }

  close(): void {
    clearInterval(this.timer);
    this.socket.removeAllListeners('close');
    this.socket.destroy();
  }
}
