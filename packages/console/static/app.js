// The console page: hosts and guests, check/plan/migrate, and the live migration from server-sent events.
import { pingChart, predictChart, rateChart, roundsChart } from './charts.js';

const $ = (id) => document.getElementById(id);

/** What the page has seen, for people (the DOM) and for the browser test (window.ferryConsole). */
const seen = {
  /** Messages per topic, and when each arrived in the page (performance.now(), ms). */
  messages: {},
  arrivals: [],
  migrationStartT: undefined,
  pauseT: undefined,
  resumeT: undefined,
  migrationEndT: undefined,
  report: undefined,
  snapshot: undefined,
};
window.ferryConsole = seen;

const bands = [
  { from: undefined, to: undefined, color: 'rgba(31,111,235,0.08)' },
  { from: undefined, to: undefined, color: 'rgba(198,40,40,0.25)' },
];
const charts = {
  ping: pingChart($('ping-chart'), bands),
  rounds: roundsChart($('rounds-chart')),
  rate: rateChart($('rate-chart')),
  predict: predictChart($('predict-chart')),
};
seen.ping = charts.ping.data;

const PHASES = [
  ['setup', 'connect, authenticate, HELLO'],
  ['rounds', 'pre-copy while the guest runs'],
  ['pause', "the guest's network held, its vCPU parked"],
  ['final round', 'the last dirty pages, guest paused'],
  ['device state', 'registers and devices'],
  ['verification', 'digests compared before the resume'],
  ['commit', 'READY, COMMIT'],
  ['resume', 'the guest runs on the destination'],
];
const DOWNTIME = new Set(['pause', 'final round', 'device state', 'verification', 'commit', 'resume']);
const timeline = new Map();
for (const [name, what] of PHASES) {
  const li = document.createElement('li');
  li.dataset.state = 'pending';
  li.dataset.phase = name;
  li.title = what;
  if (DOWNTIME.has(name)) li.classList.add('downtime');
  li.innerHTML = `<b>${name}</b><span>${what}</span>`;
  $('timeline').append(li);
  timeline.set(name, { li, start: undefined });
}

let snapshot;
let maxDowntimeMs = 0;
let rounds = [];
let measuredDowntime;

function fmtMs(ms) {
  if (ms == null || !Number.isFinite(ms)) return '-';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}
function fmtBytes(b) {
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  return `${(b / 1024).toFixed(0)} KiB`;
}
function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

// ---- hosts, guests, buttons ----

function renderHosts(s) {
  snapshot = s;
  seen.snapshot = s;
  maxDowntimeMs = s.maxDowntimeMs;
  const body = $('hosts').tBodies[0];
  body.innerHTML = '';
  const guestSel = $('guest');
  const targetSel = $('target');
  const guest = guestSel.value;
  const target = targetSel.value;
  guestSel.innerHTML = '';
  targetSel.innerHTML = '';
  for (const h of s.hosts) {
    const tr = document.createElement('tr');
    if (h.state !== 'up') tr.className = 'down';
    const guests = h.guests
      .map((g) => `${esc(g.name)} (${fmtBytes(g.memoryBytes)}, ${g.dirtyPagesPerSec ? `${Math.round(g.dirtyPagesPerSec)} pages/s` : 'dirty rate not measured'}, ${esc(g.state)})`)
      .join('<br>');
    tr.innerHTML = `<td><b>${esc(h.name)}</b>${h.note ? `<br><span class="dim">${esc(h.note)}</span>` : ''}</td><td>${esc(h.address)}</td><td>${h.pageSizes.map((p) => `${p / 1024} KiB`).join(', ')}</td><td>${esc(h.state)}</td><td>${guests || '<span class="dim">none</span>'}</td>`;
    body.append(tr);
    for (const g of h.guests) guestSel.add(new Option(`${g.name} on ${h.name}`, g.id));
    if (h.guests.length === 0) targetSel.add(new Option(h.name, h.id));
  }
  if (guest) guestSel.value = guest;
  if (target) targetSel.value = target;
  // A choice that is gone (the guest moved there) falls back to the first that is left.
  if (guestSel.value === '' && guestSel.options.length > 0) guestSel.selectedIndex = 0;
  if (targetSel.value === '' && targetSel.options.length > 0) targetSel.selectedIndex = 0;
  setMigrationState(s.migration);
}

function setMigrationState(state) {
  const badge = $('migration-state');
  badge.textContent = state;
  badge.dataset.state = state;
  const busy = state === 'migrating';
  const actions = new Set(snapshot?.actions ?? []);
  // The demo migrates once; a backend that can go again says so by going back to idle.
  $('btn-migrate').disabled = state !== 'idle' || !actions.has('migrate');
  $('btn-check').disabled = busy || !actions.has('check');
  $('btn-plan').disabled = busy || !actions.has('plan');
  $('btn-cancel').disabled = !busy || !actions.has('cancel');
  $('btn-kill').disabled = !busy || !actions.has('kill-destination');
  $('btn-kill').hidden = !actions.has('kill-destination');
}

async function act(action, args = {}) {
  $('action-error').hidden = true;
  const res = await fetch(`/api/${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) });
  const body = await res.json();
  if (!res.ok) {
    $('action-error').textContent = `${action}: ${body.error.code}: ${body.error.message}`;
    $('action-error').hidden = false;
    throw new Error(body.error.message);
  }
  return body.result;
}

const selection = () => ({ guest: $('guest').value, target: $('target').value });

$('btn-check').onclick = () => {
  $('check-result').hidden = false;
  $('check-result').className = 'result';
  $('check-result').textContent = 'checking…';
  act('check', selection()).catch(() => {});
};
$('btn-plan').onclick = () => {
  $('plan-result').hidden = false;
  $('plan-result').className = 'result';
  $('plan-result').textContent = 'planning: probing the link, sampling the dirty rate…';
  act('plan', selection()).catch(() => {});
};
$('btn-migrate').onclick = () => act('migrate', selection()).catch(() => {});
$('btn-cancel').onclick = () => act('cancel').catch(() => {});
$('btn-kill').onclick = () => act('kill-destination').catch(() => {});

function renderCheck({ target, result }) {
  const el = $('check-result');
  el.hidden = false;
  el.dataset.accepted = String(result.accepted);
  el.className = `result ${result.accepted ? 'accepted' : 'refused'}`;
  el.innerHTML = result.accepted
    ? `<b>${esc(target)} accepts the guest</b><br>protocol v${result.version}, round trip ${fmtMs(result.rttMs)}${result.bandwidthBytesPerSec ? `, link ${(result.bandwidthBytesPerSec / 1e6).toFixed(0)} MB/s` : ''}`
    : `<b>${esc(target)} refuses the guest</b><br><code>${esc(result.code)}</code>: ${esc(result.reason)}`;
}

function renderPlan({ target, plan, error }) {
  const el = $('plan-result');
  el.hidden = false;
  if (error) {
    el.className = 'result refused';
    el.innerHTML = `<b>no plan for ${esc(target)}</b><br><code>${esc(error.code)}</code>: ${esc(error.message)}`;
    return;
  }
  el.className = 'result accepted';
  const rows = plan.strategies
    .map(
      (s) =>
        `<tr class="${s.strategy === plan.recommendedPrediction ? 'recommended' : ''}"><td>${esc(s.strategy)}</td><td>${s.converges ? 'yes' : 'no'}</td><td class="num">${fmtMs(s.downtimeMs)}</td><td class="num">${fmtMs(s.totalMs)}</td><td class="num">${fmtBytes(s.bytes)}</td><td class="num">${s.rounds}</td><td class="dim">${esc(s.reason)}</td></tr>`,
    )
    .join('');
  el.innerHTML =
    `<b>plan for ${esc(target)}</b>: link ${(plan.inputs.bandwidthBytesPerSec / 1e6).toFixed(0)} MB/s, dirty rate ${Math.round(plan.inputs.dirtyPagesPerSec)} pages/s, limit ${fmtMs(plan.inputs.maxDowntimeMs)}` +
    `<table><thead><tr><th>strategy</th><th>fits the limit</th><th>downtime</th><th>total time</th><th>bytes</th><th>rounds</th><th>why</th></tr></thead><tbody>${rows}</tbody></table>` +
    `<b>recommended: ${esc(plan.recommendedPrediction)}</b><ul class="reasons">${plan.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`;
}

// ---- the live migration ----

function phase(name, state, t) {
  const p = timeline.get(name);
  if (!p) return;
  if (state === 'active') {
    p.start = t;
    // Everything before it is done.
    for (const [other, q] of timeline) {
      if (other === name) break;
      if (q.li.dataset.state === 'active') done(other, t);
    }
  }
  p.li.dataset.state = state;
}
function done(name, t, ms) {
  const p = timeline.get(name);
  if (!p) return;
  p.li.dataset.state = 'done';
  const dur = ms ?? (p.start !== undefined && t !== undefined ? (t - p.start) * 1000 : undefined);
  if (dur !== undefined) p.li.querySelector('span').textContent = fmtMs(dur);
}

function onMigration({ t, event }) {
  switch (event.type) {
    case 'phase':
      if (event.to === 'connecting' || event.to === 'handshake') {
        if (seen.migrationStartT === undefined) {
          seen.migrationStartT = t;
          bands[0].from = t;
        }
        phase('setup', 'active', t);
      } else if (event.to === 'committed') {
        done('device state', t);
        done('verification', t);
        phase('commit', 'active', t);
        phase('resume', 'active', t);
      }
      break;
    case 'round-start':
      if (event.final) phase('final round', 'active', t);
      else if (event.round === 0) phase('rounds', 'active', t);
      timeline.get('rounds').li.querySelector('b').textContent = event.final ? 'rounds' : `round ${event.round}`;
      break;
    case 'round-end':
      rounds.push(event.stats);
      charts.rounds.set(rounds);
      charts.predict.set(rounds, maxDowntimeMs, measuredDowntime);
      if (event.stats.final) {
        done('final round', t);
        phase('device state', 'active', t);
        phase('verification', 'active', t);
      }
      break;
    case 'switchover':
      done('rounds', t);
      timeline.get('rounds').li.querySelector('b').textContent = `rounds (${rounds.length})`;
      seen.pauseT = t;
      bands[1].from = t;
      phase('pause', 'active', t);
      break;
    case 'completed': {
      const r = event.report;
      seen.resumeT = t;
      seen.migrationEndT = t;
      bands[1].to = t;
      bands[0].to = t;
      measuredDowntime = r.downtimeMs;
      const d = r.downtime;
      done('pause', t, d.pauseMs);
      done('final round', t, d.finalRoundMs);
      done('device state', t, d.deviceStateMs);
      done('verification', t, d.digestMs + r.destination.verifyMs);
      done('commit', t, Math.max(d.handoverMs - r.destination.verifyMs - r.destination.resumeMs, 0));
      done('resume', t, r.destination.resumeMs);
      charts.predict.set(rounds, maxDowntimeMs, measuredDowntime);
      setMigrationState('completed');
      break;
    }
    case 'failed':
      seen.migrationEndT = t;
      bands[0].to = t;
      if (bands[1].from !== undefined) bands[1].to = t;
      for (const [, p] of timeline) if (p.li.dataset.state === 'active') p.li.dataset.state = 'failed';
      $('action-error').textContent = `migration failed: ${event.code}: ${event.message} (the guest ${event.guestResumed ? 'runs on the source' : 'is NOT running'})`;
      $('action-error').hidden = false;
      setMigrationState('failed');
      break;
  }
  charts.ping.redraw();
}

function onStatus({ t, status }) {
  // The round being sent, as a bar that grows; finished rounds come from their round-end events.
  const last = rounds.at(-1);
  if (status.round >= 0 && (!last || last.round < status.round) && status.roundPages > 0) {
    charts.rounds.set([...rounds, { round: status.round, dirtyPages: status.roundPages, pagesSent: status.roundPagesSent }]);
  }
  const pageSize = snapshot?.hosts.flatMap((h) => h.guests)[0]?.pageSize ?? 4096;
  charts.rate.add(t, status.bandwidthBytesPerSec, status.dirtyPagesPerSec * pageSize);
  $('elapsed').textContent = `${status.phase}, ${fmtMs(status.elapsedMs)}, ${fmtBytes(status.bytesSent)} sent` + (status.prediction ? `, predicted downtime ${fmtMs(status.prediction.totalMs)} (limit ${fmtMs(maxDowntimeMs)})` : '');
}

/** The slowest reply to a request sent while the migration ran: the blackout as the client saw it. */
function slowestDuringMigration() {
  const start = seen.migrationStartT;
  if (start === undefined) return undefined;
  const end = seen.migrationEndT ?? Number.POSITIVE_INFINITY;
  const [ts, ms] = charts.ping.data;
  let worst = 0;
  for (let i = ts.length - 1; i >= 0 && ts[i] >= start; i--) if (ts[i] <= end && ms[i] > worst) worst = ms[i];
  return worst;
}

function onPing(b) {
  charts.ping.add(b.t, b.ms);
  const during = slowestDuringMigration();
  const cls = (n) => (n > 0 ? 'bad' : 'good');
  $('ping-counters').innerHTML =
    `<span>sent <b>${b.sent}</b></span><span>answered <b>${b.answered}</b></span>` +
    `<span>longest gap <b id="longest-gap">${fmtMs(b.longestGapMs)}</b>${b.longestGapEndT ? ` <span class="dim">(ended at ${b.longestGapEndT.toFixed(2)} s)</span>` : ''}</span>` +
    (during !== undefined ? `<span>slowest reply during the migration <b id="slowest-during">${fmtMs(during)}</b></span>` : '') +
    `<span class="${cls(b.wrong)}">wrong <b id="wrong">${b.wrong}</b></span><span class="${cls(b.lost)}">lost <b id="lost">${b.lost}</b></span>`;
}

function appendLine(el, t, line) {
  const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
  el.append(`${t.toFixed(3).padStart(8)}  ${line}\n`);
  if (el.childNodes.length > 2000) el.firstChild.remove();
  if (atBottom) el.scrollTop = el.scrollHeight;
}

const PART_COLORS = ['#6a3fb5', '#1f6feb', '#b26a00', '#2e7d32', '#c62828', '#546e7a'];
function onReport(r) {
  seen.report = r;
  $('result-panel').hidden = false;
  const verdict = $('verdict');
  verdict.textContent = r.ok ? 'all checks passed' : r.outcome;
  verdict.dataset.state = r.ok ? 'completed' : 'failed';
  const parts = Object.entries(r.downtimeParts ?? {});
  const total = parts.reduce((s, [, v]) => s + v, 0);
  $('downtime-parts').innerHTML = parts.length
    ? `<b>downtime ${fmtMs(r.downtimeMs)}</b>, its parts:` +
      `<div class="bar">${parts.map(([k, v], i) => `<div style="flex:${v / total};background:${PART_COLORS[i % PART_COLORS.length]}" title="${esc(k)} ${fmtMs(v)}">${esc(k)}</div>`).join('')}</div>` +
      `<div class="legend">${parts.map(([k, v], i) => `<span><i style="background:${PART_COLORS[i % PART_COLORS.length]}"></i>${esc(k)} ${fmtMs(v)}</span>`).join('')}</div>`
    : `<b>${esc(r.outcome)}</b>${r.reason ? `: ${esc(r.reason)}` : ''}`;
  $('report').textContent = r.text;
}

// ---- the stream ----

function connect() {
  const es = new EventSource('/events');
  const on = (topic, fn) =>
    es.addEventListener(topic, (m) => {
      seen.messages[topic] = (seen.messages[topic] ?? 0) + 1;
      seen.arrivals.push([topic, performance.now()]);
      fn(JSON.parse(m.data));
    });
  es.onopen = () => {
    $('connection').textContent = 'live';
    $('connection').dataset.state = 'live';
  };
  es.onerror = () => {
    $('connection').textContent = 'disconnected';
    $('connection').dataset.state = 'lost';
  };
  on('hosts', renderHosts);
  on('ping', onPing);
  on('migration', onMigration);
  on('status', onStatus);
  on('session', ({ t, line }) => appendLine($('session'), t, line));
  on('log', ({ t, line }) => appendLine($('log'), t, line));
  on('check', renderCheck);
  on('plan', renderPlan);
  on('report', onReport);
}

fetch('/api/title')
  .then((r) => r.json())
  .then(({ title }) => {
    $('title').textContent = title;
    document.title = title;
  })
  .catch(() => {});
fetch('/api/state')
  .then((r) => r.json())
  .then(renderHosts)
  .catch(() => {});
connect();
