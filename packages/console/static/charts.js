// The console's charts, each a uPlot (global `uPlot`, served from node_modules) fed as data arrives.
/* global uPlot */

const COLORS = { ping: '#1f6feb', sent: '#2e7d32', dirty: '#b26a00', bw: '#1f6feb', rate: '#c62828', limit: '#c62828', predicted: '#6a3fb5' };

function width(el) {
  return Math.max(320, el.clientWidth || 600);
}

/** A log axis's range: whole decades around the data, and a sane one before there is any. */
function logRange(floor, ceiling) {
  return (_u, min, max) => {
    const lo = Number.isFinite(min) && min > 0 ? Math.min(min, floor) : floor;
    const hi = Number.isFinite(max) && max > 0 ? Math.max(max, ceiling) : ceiling;
    return [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi * 1.01))];
  };
}

/** Redraws at most once a frame, however often data arrives. */
function throttled(draw) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      draw();
    });
  };
}

/** Shades [from, to] spans (seconds on x) behind the series: the migration and the pause. */
function bandsPlugin(getBands) {
  return {
    hooks: {
      drawClear: (u) => {
        const ctx = u.ctx;
        for (const band of getBands()) {
          if (band.from === undefined) continue;
          const x0 = u.valToPos(band.from, 'x', true);
          const x1 = u.valToPos(band.to ?? u.scales.x.max, 'x', true);
          ctx.save();
          ctx.fillStyle = band.color;
          ctx.fillRect(x0, u.bbox.top, Math.max(x1 - x0, 2), u.bbox.height);
          ctx.restore();
        }
      },
    },
  };
}

/** Every ping reply as a point: x its send time, y its latency (log). The pause shows as one spike. */
export function pingChart(el, bands) {
  const data = [[], []];
  const u = new uPlot(
    {
      width: width(el),
      legend: { live: false },
      height: 260,
      plugins: [bandsPlugin(() => bands)],
      scales: { x: { time: false }, y: { distr: 3, range: logRange(0.1, 10) } },
      axes: [{ label: 'time (s)' }, { label: 'latency (ms)', size: 60 }],
      series: [{ label: 't (s)', value: (_u, v) => (v == null ? '-' : v.toFixed(3)) }, { label: 'latency (ms)', stroke: COLORS.ping, width: 0, points: { show: true, size: 3, fill: COLORS.ping, stroke: COLORS.ping }, paths: () => null }],
    },
    data,
    el,
  );
  const redraw = throttled(() => u.setData(data));
  return {
    add(ts, ms) {
      for (let i = 0; i < ts.length; i++) {
        data[0].push(ts[i]);
        data[1].push(Math.max(ms[i], 0.01));
      }
      redraw();
    },
    redraw,
    data,
  };
}

/** Per round: pages dirtied at its start and pages sent (log y: round 0 is all of memory). */
export function roundsChart(el) {
  const data = [[], [], []];
  const bars = uPlot.paths.bars;
  const u = new uPlot(
    {
      width: width(el),
      legend: { live: false },
      height: 220,
      scales: { x: { time: false, range: (_u, min, max) => (Number.isFinite(min) ? [min - 0.6, max + 0.6] : [-0.6, 3.6]) }, y: { distr: 3, range: logRange(10, 1000) } },
      axes: [{ label: 'round (last: final, guest paused)', values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? t : '')) }, { label: 'pages', size: 60 }],
      series: [
        { label: 'round' },
        { label: 'dirtied', fill: `${COLORS.dirty}cc`, stroke: COLORS.dirty, paths: bars({ size: [0.35], align: -1 }), points: { show: false } },
        { label: 'sent', fill: `${COLORS.sent}cc`, stroke: COLORS.sent, paths: bars({ size: [0.35], align: 1 }), points: { show: false } },
      ],
    },
    data,
    el,
  );
  return {
    set(rounds) {
      // Slots for at least 4 rounds, so that a bar is a round wide from the first one on (bars take their width from the spacing).
      const n = Math.max(4, ...rounds.map((r) => r.round + 1));
      data[0] = Array.from({ length: n }, (_, i) => i);
      data[1] = data[0].map(() => null);
      data[2] = data[0].map(() => null);
      for (const r of rounds) {
        data[1][r.round] = Math.max(r.dirtyPages, 1);
        data[2][r.round] = Math.max(r.pagesSent, 1);
      }
      u.setData(data);
    },
  };
}

/** The link's rate and the guest's dirty rate, both in MB/s, from the engine's status() samples. */
export function rateChart(el) {
  const data = [[], [], []];
  const u = new uPlot(
    {
      width: width(el),
      legend: { live: false },
      height: 220,
      scales: { x: { time: false } },
      axes: [{ label: 'time (s)' }, { label: 'MB/s', size: 60 }],
      series: [
        { label: 't (s)' },
        { label: 'bandwidth', stroke: COLORS.bw, width: 2 },
        { label: 'dirty rate', stroke: COLORS.rate, width: 2, dash: [6, 4] },
      ],
    },
    data,
    el,
  );
  const redraw = throttled(() => u.setData(data));
  return {
    add(t, bandwidthBytesPerSec, dirtyBytesPerSec) {
      data[0].push(t);
      data[1].push(bandwidthBytesPerSec / 1e6);
      data[2].push(dirtyBytesPerSec / 1e6);
      redraw();
    },
  };
}

/** The downtime predicted at each round's start, the limit as a line, and the measured downtime. */
export function predictChart(el) {
  const data = [[], [], [], []];
  const u = new uPlot(
    {
      width: width(el),
      legend: { live: false },
      height: 220,
      scales: { x: { time: false, range: (_u, min, max) => (Number.isFinite(min) ? [min - 0.5, max + 0.5] : [0.5, 3.5]) }, y: { distr: 3, range: logRange(1, 100) } },
      axes: [{ label: 'round', values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? t : '')) }, { label: 'ms (log)', size: 60 }],
      series: [
        { label: 'round' },
        { label: 'predicted downtime', stroke: COLORS.predicted, width: 2, points: { show: true, size: 7 } },
        { label: 'limit', stroke: COLORS.limit, width: 2, dash: [8, 4], points: { show: false } },
        { label: 'measured downtime', stroke: COLORS.sent, width: 0, paths: () => null, points: { show: true, size: 11, fill: COLORS.sent } },
      ],
    },
    data,
    el,
  );
  return {
    set(rounds, limitMs, measured) {
      const rows = rounds.filter((r) => r.predictedDowntimeMs != null);
      data[0] = rows.map((r) => r.round);
      data[1] = rows.map((r) => Math.max(r.predictedDowntimeMs, 0.01));
      data[2] = rows.map(() => limitMs);
      data[3] = rows.map((r) => (r.final && measured !== undefined ? measured : null));
      u.setData(data);
    },
  };
}
