import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BridgeNamespace } from './network.ts';

/** What one client saw over its run: the longest gap between two answers is the blackout it felt. */
export interface ClientGaps {
  readonly answered: number;
  readonly failures: number;
  readonly longestGapMs: number;
}

/**
 * A real ICMP ping every 10 ms from inside the namespace (iputils `ping -i 0.01 -D`): each
 * reply's kernel time stamp; the longest time between two replies is its gap.
 */
export class PingClient {
  private readonly child: ChildProcess;
  private readonly replyTimesMs: number[] = [];
  private partial = '';
  private sent = 0;

  /** `onReply`: each reply as it comes, its kernel time stamp (epoch ms) and round-trip time (ms). */
  constructor(ns: BridgeNamespace, ip: string, onReply?: (atEpochMs: number, rttMs: number) => void) {
    const [cmd, args] = ns.exec(['ping', '-n', '-D', '-i', '0.01', ip]);
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const lines = (this.partial + chunk).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^\[(\d+\.\d+)\] \d+ bytes from .* icmp_seq=(\d+).* time=([\d.]+) ms/.exec(line);
        if (m) {
          this.replyTimesMs.push(Number(m[1]) * 1000);
          this.sent = Math.max(this.sent, Number(m[2]));
          onReply?.(Number(m[1]) * 1000, Number(m[3]));
        }
      }
    });
  }

  /** Stops pinging and returns what it saw. */
  async stop(): Promise<ClientGaps> {
    this.child.kill('SIGINT');
    await new Promise((r) => this.child.once('exit', r));
    let longest = 0;
    for (let i = 1; i < this.replyTimesMs.length; i++) longest = Math.max(longest, this.replyTimesMs[i]! - this.replyTimesMs[i - 1]!);
    return { answered: this.replyTimesMs.length, failures: Math.max(0, this.sent - this.replyTimesMs.length), longestGapMs: longest };
  }
}

/** The TCP client (src/tcp-client.ts) as a child process inside the namespace: a request every millisecond. */
export class TcpClient {
  private readonly child: ChildProcess;
  private output = '';

  constructor(ns: BridgeNamespace, ip: string, port: number) {
    const script = fileURLToPath(new URL('./tcp-client.ts', import.meta.url));
    const [cmd, args] = ns.exec([process.execPath, '--import', import.meta.resolve('tsx'), script, ip, String(port)]);
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => (this.output += chunk));
  }

  async stop(): Promise<ClientGaps> {
    this.child.stdin!.end();
    await new Promise((r) => this.child.once('exit', r));
    const result = JSON.parse(this.output.trim().split('\n').at(-1) ?? '{}') as ClientGaps;
    return { answered: result.answered, failures: result.failures, longestGapMs: result.longestGapMs };
  }
}
