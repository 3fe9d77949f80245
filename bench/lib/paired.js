'use strict';
/**
 * One paired run: every variant of one app (no agent, ours, ...) started at once on the app core,
 * warmed up, then loaded in turns of `--slice` seconds: none, ours, none, ours... for the closed
 * loop (a wrk run per turn), then the same for the open loop (one generator process that switches
 * between the apps at each turn). Only the app whose turn it is has load; the others wait idle.
 *
 * Why: on this VM the speed of the machine changes from one minute to the next (bench/README,
 * "Sixth session") and the vCPU stalls for tens of milliseconds now and then ("Eighth session").
 * Sequential runs of 10 s each compare one stretch of machine with another; turns of one second
 * compare neighbours, and the ratio of each pair of turns is taken before the median.
 */
const path = require('node:path');
const { stop, cpuMs, memory, run } = require('./proc');
const { wrk } = require('./wrk');
const { median } = require('./stats');
const { startApp, firstRequest, spanCounts } = require('./load');

const OPEN_LOOP = path.join(__dirname, '..', 'open-loop.js');

/** The order of the variants for turn cycle `c`: rotated, so no variant always follows the same one. */
const rotation = (list, c) => list.map((_, i) => list[(i + c) % list.length]);

/**
 * Measures every variant of `app` in turns.
 * @param ctx {opts, sinks: {variantName: sinkClient}, cores, rate, envFor(variant)}
 * @returns one record per variant, in the shape of load.js's runOne, plus `paired` ratios
 */
async function runPaired(app, variants, ctx) {
  const { opts, sinks, cores } = ctx;
  const slice = opts.slice;
  const cycles = Math.max(1, Math.round(opts.duration / slice));
  const openCycles = Math.max(0, Math.round(opts.openDuration / slice));
  const load = { connections: opts.connections, cpu: cores.load };
  await Promise.all(Object.values(sinks).map((s) => s.reset()));

  const runs = variants.map((v) => ({ v, rec: { app: app.name, variant: v.name, method: 'paired' }, turns: [], rss: [] }));
  try {
    for (const r of runs) {
      const sink = sinks[r.v.name];
      r.proc = startApp(app, r.v, { ...ctx.envFor(r.v), ...(sink && { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sink.tracesUrl }) }, cores.app);
    }
    for (const r of runs) {
      try {
        r.url = await firstRequest(r.proc, app);
      } catch (err) {
        throw new Error(`${r.v.name}: ${err.message}`);
      }
      r.pid = r.proc.child.pid;
    }
    // Warm-up one app after the other: the first waits (variants − 1) × --warmup s before its first turn.
    if (opts.warmup > 0) for (const r of runs) await wrk(r.url, { ...load, seconds: opts.warmup });

    const sampler = setInterval(() => {
      for (const r of runs) r.rss.push(memory(r.pid).rssMb);
    }, 1000);
    try {
      for (let c = 0; c < cycles; c++) {
        for (const r of rotation(runs, c)) {
          const cpu0 = cpuMs(r.pid);
          const w = await wrk(r.url, { ...load, seconds: slice });
          const cpu = cpuMs(r.pid) - cpu0;
          r.turns[c] = { rps: w.rps, requests: w.requests, seconds: w.seconds, cpuMs: cpu, p50: w.p50, p99: w.p99, errors: w.non2xx + w.socketErrors };
        }
      }
    } finally {
      clearInterval(sampler);
    }
    for (const r of runs) {
      r.rss.push(memory(r.pid).rssMb);
      const ok = r.turns.filter((t) => t.requests > 0);
      if (ok.length === 0) throw new Error(`${r.v.name}: wrk completed no request`);
      const requests = ok.reduce((a, t) => a + t.requests, 0);
      const cpu = ok.reduce((a, t) => a + t.cpuMs, 0);
      const seconds = ok.reduce((a, t) => a + t.seconds, 0);
      Object.assign(r.rec, {
        rps: median(ok.map((t) => t.rps)),
        closedRequests: requests,
        closedP50: median(ok.map((t) => t.p50)),
        closedP99: median(ok.map((t) => t.p99)),
        cpuUsPerReq: (cpu * 1000) / requests,
        appCpuShare: cpu / 1000 / seconds,
        rssMb: r.rss[r.rss.length - 1],
        rssDriftMb: r.rss[r.rss.length - 1] - r.rss[Math.floor((r.rss.length - 1) / 2)],
        errors: r.turns.reduce((a, t) => a + t.errors, 0),
        turns: r.turns,
      });
    }
    const base = runs.find((r) => r.v.name === 'none');
    const perCycle = (r, f) => median(r.turns.map((t, c) => (base.turns[c]?.requests > 0 && t.requests > 0 ? f(t, base.turns[c]) : NaN)));
    const usPerReq = (t) => (t.cpuMs * 1000) / t.requests;
    for (const r of runs) {
      r.rec.pairedRpsRatio = perCycle(r, (t, b) => t.rps / b.rps);
      r.rec.pairedAddedUsPerReq = perCycle(r, (t, b) => usPerReq(t) - usPerReq(b));
    }

    if (openCycles > 0) {
      const rate = ctx.rate ?? Math.round(base.rec.rps * opts.rateFraction);
      const args = [
        OPEN_LOOP, '--urls', runs.map((r) => r.url).join(','), '--rate', String(rate), '--duration', String(openCycles * slice),
        '--connections', String(opts.openConnections), '--slice', String(slice),
      ];
      const out = await run(process.execPath, args, { cpu: cores.load });
      const line = out.stdout.trim().split('\n').pop();
      if (out.code !== 0 || !line) throw new Error(`open-loop failed (${out.code}): ${out.stderr}`);
      const { targets } = JSON.parse(line);
      runs.forEach((r, i) => {
        const o = targets[i];
        Object.assign(r.rec, {
          rate,
          openRate: o.rate,
          openP50: o.p50,
          openP99: o.p99,
          openMax: o.max,
          openLagMs: o.maxLagMs,
          openMissed: o.missed,
          // The median over turns of each turn's p99: what a typical second looks like, a stall or two left out.
          openTurnP99: median(o.turns.map((t) => t.p99)),
          openTurns: o.turns,
          errors: r.rec.errors + o.errors + o.non2xx + (o.sent - o.completed),
        });
      });
      const bo = targets[runs.indexOf(base)];
      runs.forEach((r, i) => {
        const o = targets[i];
        r.rec.pairedOpenP99Ratio = o.p99 / bo.p99;
        r.rec.pairedOpenTurnP99Ratio = median(o.turns.map((t, c) => (bo.turns[c]?.n > 0 && t.n > 0 ? t.p99 / bo.turns[c].p99 : NaN)));
      });
    }
    for (const r of runs) r.rec.peakRssMb = memory(r.pid).hwmMb;
  } catch (err) {
    for (const r of runs) r.rec.error = err.message;
  } finally {
    await Promise.all(runs.filter((r) => r.proc).map(async (r) => {
      const exit = await stop(r.proc);
      r.rec.exit = exit.signal || exit.code;
    }));
  }
  for (const r of runs) if (r.proc) await spanCounts(r.rec, r.proc, r.v, sinks[r.v.name]);
  return runs.map((r) => r.rec);
}

module.exports = { runPaired };
