import type { Layout, SourceContext, SourceScenario } from '../scenario.ts';
import { type Result, runOne, skipped, skipReason } from '../runner.ts';
import { Conn } from '../wire/conn.ts';
import { discoverVersion } from './session.ts';
import { SOURCE_SCENARIOS } from './index.ts';

/** A destination to run one scenario against: a fixed address, or one started for it. */
export interface Target {
  readonly host: string;
  readonly port: number;
  /** Called when the scenario is over (stops a destination started for it). */
  readonly done?: () => Promise<void>;
}

export interface SourceRunOptions {
  /** Where the destination under test is, for each scenario (a fixed address or a fresh one). */
  readonly target: () => Promise<Target>;
  readonly layout: Layout;
  readonly psk?: Buffer;
  readonly only?: readonly string[];
  readonly timeoutMs?: number;
  readonly replyTimeoutMs?: number;
  readonly onResult?: (r: Result) => void;
}

/** Runs the scenarios of role source against a destination; never throws for a scenario's fault. */
export async function runSourceRole(o: SourceRunOptions): Promise<{ results: Result[]; peerMaxVersion: number }> {
  const replyTimeoutMs = o.replyTimeoutMs ?? 5000;
  const base = { layout: o.layout, psk: o.psk, replyTimeoutMs };
  let peerMaxVersion = 0;
  {
    const t = await o.target();
    try {
      peerMaxVersion = await discoverVersion({
        ...base,
        host: t.host,
        port: t.port,
        peerMaxVersion: 4,
        signal: new AbortController().signal,
      });
    } catch (err) {
      // Nobody there: no scenario can run. A handshake fault: the scenarios will say what it is.
      if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' || (err as NodeJS.ErrnoException).code === 'ENOTFOUND') {
        throw new Error(`cannot reach the destination at ${t.host}:${t.port}: ${(err as Error).message}`);
      }
      peerMaxVersion = 1;
    } finally {
      await t.done?.();
    }
  }
  const results: Result[] = [];
  const list: readonly SourceScenario[] = o.only ? SOURCE_SCENARIOS.filter((s) => o.only!.includes(s.id)) : SOURCE_SCENARIOS;
  for (const s of list) {
    const why = skipReason(s, { psk: o.psk !== undefined, peerMaxVersion });
    let r: Result;
    if (why) {
      r = skipped(s, why);
    } else {
      const t = await o.target();
      try {
        r = await runOne(s, o.timeoutMs ?? 20_000, (signal) => {
          const ctx: SourceContext = { ...base, host: t.host, port: t.port, peerMaxVersion, signal };
          return s.run(ctx);
        });
      } finally {
        Conn.destroyAll();
        await t.done?.();
      }
    }
    results.push(r);
    o.onResult?.(r);
  }
  return { results, peerMaxVersion };
}
