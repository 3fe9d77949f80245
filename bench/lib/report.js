'use strict';
// Turns per-round records into medians and the markdown report.
const { median, fmt, signed, table } = require('./stats');

const sum = (xs) => xs.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);

/**
 * Medians over rounds per (app, variant). Ratios and added costs are paired: each round's value
 * against the no-agent run of the same app in the same round, then the median of those.
 */
function summarize(records, apps, variants) {
  const out = [];
  for (const app of apps) {
    const base = new Map(records.filter((r) => r.app === app && r.variant === 'none' && !r.error).map((r) => [r.round, r]));
    for (const v of variants) {
      const rs = records.filter((r) => r.app === app && r.variant === v);
      const ok = rs.filter((r) => !r.error);
      const paired = (f) => median(ok.map((r) => (base.has(r.round) ? f(r, base.get(r.round)) : NaN)));
      const m = (k) => median(ok.map((r) => r[k]));
      // Paired runs (lib/paired.js) bring their ratios, taken over neighbouring turns; sequential ones are paired by round here.
      const byTurns = ok.length > 0 && ok.every((r) => r.method === 'paired');
      const served = sum(rs.map((r) => r.served));
      const spans = sum(rs.map((r) => r.spans));
      const spansPerReq = served > 0 ? spans / served : NaN;
      const addedUsPerReq = byTurns ? m('pairedAddedUsPerReq') : paired((r, b) => r.cpuUsPerReq - b.cpuUsPerReq);
      const names = {};
      for (const r of rs) for (const [n, c] of Object.entries(r.names || {})) names[n] = (names[n] || 0) + c;
      out.push({
        app,
        variant: v,
        runs: rs.length,
        failed: rs.length - ok.length,
        errorMessages: rs.filter((r) => r.error).map((r) => r.error),
        // How the app ended after SIGTERM: 0 when it closed and exited by itself, SIGKILL when it had to be killed.
        exits: rs.map((r) => r.exit),
        rps: m('rps'),
        rpsRatio: byTurns ? m('pairedRpsRatio') : paired((r, b) => r.rps / b.rps),
        cpuUsPerReq: m('cpuUsPerReq'),
        appCpuShare: m('appCpuShare'),
        addedUsPerReq,
        spansPerReq,
        addedUsPerSpan: v === 'none' || !(spansPerReq > 0) ? NaN : addedUsPerReq / spansPerReq,
        closedP50: m('closedP50'),
        closedP99: m('closedP99'),
        rate: m('rate'),
        openRate: m('openRate'),
        openP50: m('openP50'),
        openP99: m('openP99'),
        openP99Ratio: byTurns ? m('pairedOpenP99Ratio') : paired((r, b) => r.openP99 / b.openP99),
        openTurnP99: m('openTurnP99'),
        openTurnP99Ratio: byTurns ? m('pairedOpenTurnP99Ratio') : NaN,
        openLagMs: Math.max(0, ...ok.map((r) => r.openLagMs || 0)),
        openMissed: sum(ok.map((r) => r.openMissed || 0)),
        rssMb: m('rssMb'),
        rssRatio: paired((r, b) => r.rssMb / b.rssMb),
        peakRssMb: m('peakRssMb'),
        rssDriftMb: m('rssDriftMb'),
        served,
        spans,
        roots: sum(rs.map((r) => r.roots)),
        // A preload that received no span at all exports nothing (the `als` floor) or could not export: no loss to count.
        lost: v !== 'none' && spans === 0 ? NaN : sum(rs.map((r) => r.lost)),
        agentDrops: sum(rs.map((r) => r.agentDrops)),
        errors: sum(rs.map((r) => r.errors)) + sum(rs.map((r) => r.sinkErrors)),
        spanNames: names,
      });
    }
  }
  return out;
}

const x = (r) => (Number.isFinite(r) ? `${fmt(r, 2)}×` : '–');

/** The load tables (markdown). */
function loadTables(summary) {
  const rows1 = summary.map((s) => [
    s.app, s.variant + (s.failed ? ` (${s.failed} failed)` : ''), fmt(s.rps), s.variant === 'none' ? '1.00×' : x(s.rpsRatio),
    `${fmt(100 * s.appCpuShare)}%`, fmt(s.cpuUsPerReq, 1), s.variant === 'none' ? '' : signed(s.addedUsPerReq, 1), s.variant === 'none' ? '' : fmt(s.spansPerReq, 2),
    s.variant === 'none' ? '' : signed(s.addedUsPerSpan, 1), fmt(s.closedP50, 2), fmt(s.closedP99, 2),
  ]);
  const turns = summary.some((s) => Number.isFinite(s.openTurnP99));
  const rows2 = summary.map((s) => [
    s.app, s.variant, fmt(s.rate), fmt(s.openRate), fmt(s.openP50, 2), fmt(s.openP99, 2),
    s.variant === 'none' ? '1.00×' : x(s.openP99Ratio),
    ...(turns ? [fmt(s.openTurnP99, 2), s.variant === 'none' ? '1.00×' : x(s.openTurnP99Ratio)] : []),
    fmt(s.openLagMs, 1),
  ]);
  const rows3 = summary.map((s) => [
    s.app, s.variant, fmt(s.rssMb, 1), s.variant === 'none' ? '1.00×' : x(s.rssRatio), fmt(s.peakRssMb, 1), signed(s.rssDriftMb, 1),
    fmt(s.served), fmt(s.spans), fmt(s.roots), fmt(s.lost), fmt(s.agentDrops), fmt(s.errors),
  ]);
  return [
    '### Throughput and CPU (closed loop, wrk)',
    table(['app', 'agent', 'req/s', '× none', 'app core busy', 'app CPU µs/req', 'added µs/req', 'spans/req', 'added µs/span', 'p50 ms', 'p99 ms'], rows1),
    '',
    '### Latency at a fixed rate (open loop)',
    table(['app', 'agent', 'target req/s', 'achieved', 'p50 ms', 'p99 ms', 'p99 × none', ...(turns ? ['p99 of a typical turn ms', '× none'] : []), 'generator lag ms'], rows2),
    ...(turns ? ['', 'p99 is over all of a variant\'s open-loop requests; "a typical turn" is the median over its turns of each turn\'s own p99 (a stall of the machine moves one turn, not the median).'] : []),
    '',
    '### Memory and spans',
    table(['app', 'agent', 'RSS MB', '× none', 'peak RSS MB', 'RSS drift MB', 'requests served', 'spans received', 'root spans', 'lost', 'agent-reported drops', 'errors'], rows3),
    '',
    '### Spans per request by name',
    ...summary
      .filter((s) => s.variant !== 'none' && s.served > 0)
      .map((s) => `- ${s.app} / ${s.variant}: ${Object.entries(s.spanNames).map(([n, c]) => `\`${n}\` ${fmt(c / s.served, 2)}`).join(', ') || 'none'}`),
  ].join('\n');
}

/** Failed runs, apps that had to be killed, errors: what makes a row doubtful. */
function notes(summary) {
  const lines = [];
  for (const s of summary) {
    for (const e of s.errorMessages) lines.push(`- ${s.app} / ${s.variant}: run failed: ${e.split('\n')[0]}`);
    const bad = s.exits.filter((e) => e !== 0);
    if (bad.length) lines.push(`- ${s.app} / ${s.variant}: ${bad.length} run(s) did not exit cleanly after SIGTERM (${bad.join(', ')})`);
    if (s.errors > 0) lines.push(`- ${s.app} / ${s.variant}: ${s.errors} request or export error(s) (non-2xx, socket errors, timeouts, lost open-loop requests)`);
    if (s.appCpuShare < 0.85) lines.push(`- ${s.app} / ${s.variant}: the app used only ${fmt(100 * s.appCpuShare)}% of its core in the closed loop: the machine or the load side was the bottleneck, so req/s is not the app's`);
    if (s.openMissed > 0) lines.push(`- ${s.app} / ${s.variant}: ${fmt(s.openMissed)} open-loop request(s) were still queued when the app's turn ended (it could not keep up with the rate); they count with their wait until then, a lower bound`);
    if (s.variant !== 'none' && s.served > 0 && s.spans === 0) lines.push(`- ${s.app} / ${s.variant}: no span received: a preload that exports nothing (such as bench/preloads/als.js), or its export failed; its losses are not counted`);
    if (s.openLagMs > 20) lines.push(`- ${s.app} / ${s.variant}: the open-loop generator ran up to ${fmt(s.openLagMs)} ms late (busy load core?)`);
  }
  return lines.length ? ['### Notes', ...lines].join('\n') : '';
}

/** The start-up table. */
function startupTable(rows) {
  return [
    '### Start-up (median wall time, pinned to the app core)',
    table(
      ['preload', '`node -e 0` ms', 'added ms', 'express time-to-listen ms', 'added ms'],
      rows.map((r) => [r.name, fmt(r.exitMs, 1), r.name === 'none' ? '' : signed(r.addedExitMs, 1), fmt(r.listenMs, 1), r.name === 'none' ? '' : signed(r.addedListenMs, 1)]),
      1,
    ),
  ].join('\n');
}

/** The install-footprint table. */
function installTable(rows) {
  return [
    '### Install footprint',
    table(
      ['package', 'installed packages', 'on disk MB (du -s)', 'apparent MB (du -sb)', 'tarball kB'],
      rows.map((r) => [r.name, fmt(r.packages), fmt(r.bytes / 1e6, 1), fmt(r.apparentBytes / 1e6, 1), r.tarballBytes ? fmt(r.tarballBytes / 1e3, 0) : '']),
      1,
    ),
    ...rows.filter((r) => r.largest).map((r) => `\nLargest in ${r.name}'s install (on disk): ${r.largest.map(([n, b]) => `${n} ${fmt(b / 1e6, 1)} MB`).join(', ')}.`),
  ].join('\n');
}

module.exports = { summarize, loadTables, notes, startupTable, installTable };

const THROUGHPUT_TARGET = { http: 0.65, fastify: 0.7, express: 0.9, 'express-pg': 0.85, 'express-fetch': 0.85 };

/** Our agent against the targets of the performance issue (informational: a benchmark asserts nothing). */
function targetsTable(summary, startup, install) {
  const rows = [];
  const add = (what, value, ok) => rows.push([what, value, ok === undefined ? '' : ok ? 'met' : '**not met**']);
  const known = (v) => Number.isFinite(v);
  for (const s of (summary ?? []).filter((r) => r.variant === 'ours')) {
    const t = THROUGHPUT_TARGET[s.app];
    if (t !== undefined) add(`${s.app}: throughput ≥ ${t}×`, x(s.rpsRatio), known(s.rpsRatio) ? s.rpsRatio >= t : undefined);
    add(`${s.app}: added CPU ≤ 20 µs/span`, signed(s.addedUsPerSpan, 1), known(s.addedUsPerSpan) ? s.addedUsPerSpan <= 20 : undefined);
    add(`${s.app}: open-loop p99 ≤ 1.2×`, x(s.openP99Ratio), known(s.openP99Ratio) ? s.openP99Ratio <= 1.2 : undefined);
    if (known(s.openTurnP99Ratio)) add(`${s.app}: open-loop p99 of a typical turn ≤ 1.2×`, x(s.openTurnP99Ratio), s.openTurnP99Ratio <= 1.2);
    if (s.app === 'http') add('http: RSS ≤ 1.25×', x(s.rssRatio), known(s.rssRatio) ? s.rssRatio <= 1.25 : undefined);
    add(`${s.app}: no span dropped`, `${fmt(s.lost)} lost, ${fmt(s.agentDrops)} reported`, s.served > 0 && s.failed === 0 ? s.lost + s.agentDrops === 0 : undefined);
  }
  const st = (name) => startup?.find((r) => r.name === name);
  if (st('ours')) {
    add('start-up `-e 0` ≤ +60 ms', signed(st('ours').addedExitMs, 1), st('ours').addedExitMs <= 60);
    add('express time-to-listen ≤ +80 ms', signed(st('ours').addedListenMs, 1), st('ours').addedListenMs <= 80);
  }
  const dis = st('ours (OTEL_SDK_DISABLED=true)');
  if (dis) add('OTEL_SDK_DISABLED=true `-e 0` ≤ +5 ms', signed(dis.addedExitMs, 1), dis.addedExitMs <= 5);
  const ours = install?.find((r) => r.name === '@acme/otel-agent');
  if (ours) {
    add('install ≤ 30 packages', fmt(ours.packages), ours.packages <= 30);
    add('install ≤ 15 MB on disk', fmt(ours.bytes / 1e6, 1), ours.bytes <= 15e6);
  }
  return ['### Our agent against the issue\'s targets', table(['target', 'measured', 'status'], rows, 1)].join('\n');
}

module.exports.targetsTable = targetsTable;
