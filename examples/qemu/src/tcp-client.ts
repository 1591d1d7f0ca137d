/**
 * The TCP client of examples/qemu, run inside the bridge's namespace (`ip netns exec`): one
 * request to the guest's key-value service every millisecond over one connection (reconnecting
 * when it breaks). Prints one JSON line when stdin closes: requests answered, failures, and the
 * longest time between two answers, which is the gap the service's users saw.
 *
 *   tcp-client.ts HOST PORT
 */
import { createConnection, type Socket } from 'node:net';

const [host = '', port = '7000'] = process.argv.slice(2);
let answered = 0;
let failures = 0;
let lastAnswerMs = 0;
let longestGapMs = 0;
let longestGapEndedMs = 0;
let socket: Socket | undefined;
let waiting = false;
let buffered = '';

function connect(): void {
  const s = createConnection({ host, port: Number(port), noDelay: true });
  s.setEncoding('utf8');
  s.on('connect', () => {
    socket = s;
    waiting = false;
  });
  s.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting = false;
      if (line !== 'PONG') {
        failures++;
        continue;
      }
      const now = performance.now();
      if (lastAnswerMs > 0 && now - lastAnswerMs > longestGapMs) {
        longestGapMs = now - lastAnswerMs;
        longestGapEndedMs = Date.now();
      }
      lastAnswerMs = now;
      answered++;
    }
  });
  s.on('error', () => undefined);
  s.on('close', () => {
    if (socket === s) socket = undefined;
    failures++;
    buffered = '';
    setTimeout(connect, 5);
  });
}

connect();
const timer = setInterval(() => {
  if (!socket || waiting) return;
  waiting = true;
  socket.write('PING\n');
}, 1);
process.stdin.resume();
process.stdin.on('end', () => {
  clearInterval(timer);
  process.stdout.write(`${JSON.stringify({ answered, failures, longestGapMs, longestGapEndedMs })}\n`);
  process.exit(0);
});
