import { afterEach, describe, expect, it } from 'vitest';
import { type ConsoleBackend, ConsoleActionError, ConsoleServer, readEvents } from '../src/index.ts';

/** A backend that records what the page asked for. */
function backend(calls: string[]): ConsoleBackend {
  return {
    snapshot: () => ({ hosts: [], maxDowntimeMs: 20, actions: ['check'], migration: 'idle' }),
    act: async (action, args) => {
      calls.push(`${action} ${JSON.stringify(args)}`);
      if (action === 'check') return { accepted: true };
      throw new ConsoleActionError('UNKNOWN_ACTION', `no action "${action}"`, 404);
    },
  };
}

let server: ConsoleServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('ConsoleServer', () => {
  it('serves the page and uPlot from node_modules, nothing from elsewhere', async () => {
    server = await ConsoleServer.listen({ backend: backend([]) });
    const page = await fetch(server.url);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('/vendor/uPlot.iife.min.js');
    expect(html).not.toMatch(/https?:\/\//);
    const uplot = await fetch(new URL('/vendor/uPlot.iife.min.js', server.url));
    expect(uplot.status).toBe(200);
    expect(await uplot.text()).toContain('uPlot');
    expect((await fetch(new URL('/../package.json', server.url))).status).toBe(404);
    expect((await fetch(new URL('/api/state', server.url))).status).toBe(200);
  });

  it('replays what was published to a page opened late, and only what is new after Last-Event-ID', async () => {
    server = await ConsoleServer.listen({ backend: backend([]) });
    server.publish('log', { line: 'one' });
    server.publish('log', { line: 'two' });
    const all = await readEvents(server.url, '"two"');
    expect(all).toContain('id: 1\nevent: log\ndata: {"line":"one"}');
    server.publish('log', { line: 'three' });
    const rest = await readEvents(server.url, '"three"', { 'last-event-id': '2' });
    expect(rest).not.toContain('"one"');
    expect(rest).not.toContain('"two"');
    expect(rest).toContain('id: 3\nevent: log');
  });

  it('runs actions with their JSON arguments; a refused one answers its status and code', async () => {
    const calls: string[] = [];
    server = await ConsoleServer.listen({ backend: backend(calls) });
    const ok = await fetch(new URL('/api/check', server.url), { method: 'POST', body: JSON.stringify({ target: 'b' }) });
    expect(await ok.json()).toEqual({ result: { accepted: true } });
    const refused = await fetch(new URL('/api/launch', server.url), { method: 'POST', body: '{}' });
    expect(refused.status).toBe(404);
    expect(await refused.json()).toEqual({ error: { code: 'UNKNOWN_ACTION', message: 'no action "launch"' } });
    const bad = await fetch(new URL('/api/check', server.url), { method: 'POST', body: '[1]' });
    expect(bad.status).toBe(400);
    expect(calls).toEqual(['check {"target":"b"}', 'launch {}']);
  });
});
