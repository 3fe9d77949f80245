'use strict';
// One measured run: one app under one variant (no agent, ours, upstream...), closed loop then open loop.
const path = require('node:path');
const { start, stop, cpuMs, memory, run, appNode } = require('./proc');
const { wrk } = require('./wrk');

const OPEN_LOOP = path.join(__dirname, '..', 'open-loop.js');

/** A client for the sink process (bench/sink.js). */
function sinkClient(port) {
  const base = `http://127.0.0.1:${port}`;
  const count = async () => (await fetch(`${base}/count`)).json();
  return {
    tracesUrl: `${base}/v1/traces`,
    count,
    reset: async () => {
      await fetch(`${base}/reset`, { method: 'POST' });
    },
    /** The counts once no export has arrived for `quietMs` (at most `maxMs`). */
    async settle(quietMs = 600, maxMs = 15_000) {
      const t0 = Date.now();
      let last = await count();
      let since = Date.now();
      while (Date.now() - t0 < maxMs) {
        await new Promise((r) => setTimeout(r, 150));
        const c = await count();
        if (c.exports !== last.exports) since = Date.now();
        else if (Date.now() - since >= quietMs) return c;
        last = c;
      }
      return last;
    },
  };
}

/** Runs the fixed-rate generator pinned to `cpu`; resolves with its JSON summary. */
async function openLoop(url, { rate, seconds, connections, cpu }) {
  const args = [OPEN_LOOP, '--url', url, '--rate', String(rate), '--duration', String(seconds), '--connections', String(connections)];
  const r = await run(process.execPath, args, { cpu });
  const line = r.stdout.trim().split('\n').pop();
  if (r.code !== 0 || !line) throw new Error(`open-loop failed (${r.code}): ${r.stderr}`);
  return JSON.parse(line);
}

/** Spans the agent itself said it dropped (our agent's log lines), from its stderr. */
function agentReportedDrops(stderr) {
  let queueFull = 0;
  for (const m of stderr.matchAll(/span\(s\) dropped since the last report, (\d+) in all/g)) queueFull = Math.max(queueFull, Number(m[1]));
  let atExit = 0;
  for (const m of stderr.matchAll(/(\d+) span\(s\) could not be exported before exit/g)) atExit += Number(m[1]);
  return queueFull + atExit;
}

/**
 * Measures `app` under `variant`.
 * @param ctx {opts, sink, cores: {app, load}, rate, extraEnv}
 * @returns a flat record of the run's numbers (see README "JSON")
 */
async function runOne(app, variant, ctx) {
  const { opts, sink, cores } = ctx;
  await sink.reset();
  const proc = startApp(app, variant, ctx.extraEnv, cores.app);
  const rec = { app: app.name, variant: variant.name };
  try {
    const url = await firstRequest(proc, app);
    const pid = proc.child.pid;
    const load = { connections: opts.connections, cpu: cores.load };
    if (opts.warmup > 0) await wrk(url, { ...load, seconds: opts.warmup });

    const cpu0 = cpuMs(pid);
    const rss = [memory(pid).rssMb];
    const sampler = setInterval(() => rss.push(memory(pid).rssMb), 1000);
    let closed;
    try {
      closed = await wrk(url, { ...load, seconds: opts.duration });
    } finally {
      clearInterval(sampler);
    }
    const cpuClosedMs = cpuMs(pid) - cpu0;
    rss.push(memory(pid).rssMb);
    if (!(closed.requests > 0)) throw new Error('wrk completed no request');
    Object.assign(rec, {
      rps: closed.rps,
      closedRequests: closed.requests,
      closedP50: closed.p50,
      closedP99: closed.p99,
      cpuUsPerReq: (cpuClosedMs * 1000) / closed.requests,
      appCpuShare: cpuClosedMs / 1000 / closed.seconds,
      rssMb: rss[rss.length - 1],
      // Growth over the second half of the run: past warm-up, a leak shows here (use a long --duration to soak).
      rssDriftMb: rss[rss.length - 1] - rss[Math.floor((rss.length - 1) / 2)],
      errors: closed.non2xx + closed.socketErrors,
    });

    if (opts.openDuration > 0) {
      rec.rate = ctx.rate ?? Math.round(closed.rps * opts.rateFraction);
      const open = await openLoop(url, { rate: rec.rate, seconds: opts.openDuration, connections: opts.openConnections, cpu: cores.load });
      Object.assign(rec, {
        openRate: open.rate,
        openP50: open.p50,
        openP99: open.p99,
        openMax: open.max,
        openLagMs: open.maxLagMs,
        errors: rec.errors + open.errors + open.non2xx + (open.sent - open.completed),
      });
    }
    rec.peakRssMb = memory(pid).hwmMb;
  } catch (err) {
    rec.error = err.message;
  } finally {
    const exit = await stop(proc);
    rec.exit = exit.signal || exit.code;
  }
  await spanCounts(rec, proc, variant, sink);
  return rec;
}

/** Starts `app` under `variant` pinned to `cpu`, with `extraEnv` on top of the variant's environment. */
function startApp(app, variant, extraEnv, cpu) {
  const env = { ...variant.env, ...extraEnv, PORT: '0', OTEL_SERVICE_NAME: `bench-${app.name}` };
  const args = [...(variant.preload ? ['--require', variant.preload] : []), ...(variant.nodeArgs || []), app.file];
  return start(appNode.path, args, { env, cpu });
}

/**
 * The app's URL once it listens and has answered one request: a broken app (say, no database)
 * fails here with its answer, not as a 0 req/s row.
 */
async function firstRequest(proc, app) {
  const [, port] = await proc.waitFor(/listening (\d+)/, 30_000);
  const url = `http://127.0.0.1:${port}${app.path}`;
  const first = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  const body = await first.text();
  if (first.status !== 200) throw new Error(`first request answered ${first.status}: ${body.slice(0, 300)}`);
  return url;
}

/** Once the app has exited: requests served (its own count), spans the sink received (none without a sink), loss. */
async function spanCounts(rec, proc, variant, sink) {
  rec.served = Number(/served (\d+)/.exec(proc.out())?.[1] ?? NaN);
  const c = sink ? await sink.settle() : { spans: 0, roots: 0, names: {}, errors: 0 };
  Object.assign(rec, {
    spans: c.spans,
    roots: c.roots,
    names: c.names,
    sinkErrors: c.errors,
    // Every request makes exactly one root (server) span: fewer roots than requests means spans were lost.
    lost: variant.preload ? Math.max(0, rec.served - c.roots) : 0,
    agentDrops: agentReportedDrops(proc.err()),
  });
  if (rec.error) rec.stderr = proc.err().slice(-2000);
}

module.exports = { sinkClient, runOne, openLoop, startApp, firstRequest, spanCounts };
