'use strict';
/**
 * What the app feels when the collector goes wrong (issue 9). For each fault of
 * the OTLP receiver (test/fixtures/reliability/fault-collector.js), an HTTP app
 * (test/fixtures/reliability/server-app.js: SPANS_PER_REQUEST spans of its own
 * per request, plus the agent's SERVER span) runs under
 * `node --require dist/register.js` with default agent settings and a
 * closed-loop load; then SIGTERM. Per fault it prints: requests served, error
 * responses, latency (p50/p99 and their ratio to the healthy run), spans the
 * receiver kept, what the agent says it exported/dropped/failed (its debug
 * summary at exit), peak RSS, time from SIGTERM to exit, and the agent's
 * warning lines.
 *
 *   node bench/faults.js [--duration 10] [--concurrency 16] [--spans 2] [--faults refused,blackhole,...] [--readme]
 *   node bench/faults.js --long 600 [--fault blackhole] [--sample 10]
 *
 * --long: one long run against a dead collector, RSS sampled every --sample
 * seconds, to see that memory stays flat (a timed test could not).
 * Needs `npm run build` first. Prints a Markdown table; --readme also writes it into README.md between
 * the `<!-- faults:begin -->` and `<!-- faults:end -->` markers.
 */
const { fork, spawn } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');
const { startFaultCollector, FAULTS } = require('../test/fixtures/reliability/fault-collector');
const { load } = require('../test/fixtures/reliability/load');

const REPO = path.resolve(__dirname, '..');
const AGENT = path.join(REPO, 'dist', 'register.js');
const APP = path.join(REPO, 'test', 'fixtures', 'reliability', 'server-app.js');

function args() {
  const a = { duration: 10, concurrency: 16, spans: 2, faults: null, long: 0, fault: 'blackhole', sample: 10, readme: false };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'readme') {
      a.readme = true;
      continue;
    }
    if (!(key in a)) throw new Error(`unknown option ${argv[i]}; see the header of bench/faults.js`);
    const v = argv[++i];
    a[key] = key === 'faults' ? v.split(',') : key === 'fault' ? v : Number(v);
  }
  return a;
}

/** Starts the app under the agent; resolves with its handle once it listens. */
function startApp(endpoint, spans) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OTEL_') && k !== 'NODE_OPTIONS') env[k] = v;
  Object.assign(env, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'faults-bench', OTEL_LOG_LEVEL: 'debug', SPANS_PER_REQUEST: String(spans) });
  const child = spawn(process.execPath, ['--require', AGENT, APP], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => {
      stdout += c;
      const m = /listening (\d+)/.exec(stdout);
      if (m) resolve({ child, port: Number(m[1]), exited, stderr: () => stderr });
    });
    child.on('close', () => reject(new Error(`the app exited before listening:\n${stderr}`)));
  });
}

const getJson = (url) =>
  new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });

const mb = (b) => (b / 1048576).toFixed(1);

/**
 * The fault collector in a process of its own (so decoding the spans it keeps does not slow the load
 * generator), driven over IPC: `setFault(name)`, `spans()` (count kept so far), `close()`.
 */
async function collectorProcess() {
  const child = fork(__filename, ['--collector'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((resolve) => child.once('message', resolve)); // ready
  let next = 0;
  const waiting = new Map();
  child.on('message', (m) => {
    waiting.get(m.id)?.(m.value);
    waiting.delete(m.id);
  });
  const call = (op, arg) =>
    new Promise((resolve) => {
      const id = next++;
      waiting.set(id, resolve);
      child.send({ id, op, arg });
    });
  const tracesUrl = await call('url');
  return { tracesUrl, setFault: (f) => call('setFault', f), spans: () => call('spans'), close: () => call('close') };
}

function serveCollector() {
  startFaultCollector().then((fc) => {
    process.on('message', async ({ id, op, arg }) => {
      let value;
      if (op === 'url') value = fc.tracesUrl;
      else if (op === 'setFault') await fc.setFault(arg);
      else if (op === 'spans') value = fc.inner.spans().length;
      else if (op === 'close') {
        await fc.close();
        process.send({ id }, () => process.exit(0));
        return;
      }
      process.send({ id, value });
    });
    process.send({ id: -1 });
  });
}

/** One fault: start, warm up, load, read memory, SIGTERM, read the agent's exit summary. */
async function runFault(fc, fault, o) {
  await fc.setFault(fault);
  const before = await fc.spans();
  const app = await startApp(fc.tracesUrl, o.spans);
  const url = `http://127.0.0.1:${app.port}/work`;
  await load(url, { durationMs: 1000, concurrency: o.concurrency });
  const r = await load(url, { durationMs: o.duration * 1000, concurrency: o.concurrency });
  const mem = await getJson(`http://127.0.0.1:${app.port}/rss`);
  const t0 = Date.now();
  app.child.kill('SIGTERM');
  const exit = await app.exited;
  const exitMs = Date.now() - t0;
  await new Promise((res) => setTimeout(res, 700));
  const stderr = app.stderr();
  const summary = /\(at exit\): exported (\d+), dropped (\d+), failed (\d+)/.exec(stderr) || [0, '?', '?', '?'];
  const warnings = stderr.split('\n').filter((l) => l.includes('] warn: '));
  return {
    fault,
    served: r.served,
    errors: r.errors + r.failures,
    rps: r.served / (r.ms / 1000),
    p50: r.p50,
    p99: r.p99,
    received: (await fc.spans()) - before,
    exported: summary[1],
    dropped: summary[2],
    failed: summary[3],
    peakRss: mem.maxRSS,
    exitMs,
    exit: exit.signal || exit.code,
    warnings,
  };
}

async function table(o) {
  const fc = await collectorProcess();
  const faults = o.faults || Object.keys(FAULTS).filter((f) => f !== 'healthy');
  const rows = [];
  try {
    for (const fault of ['healthy', ...faults]) {
      process.stderr.write(`${fault}... `);
      rows.push(await runFault(fc, fault, o));
      process.stderr.write('done\n');
    }
  } finally {
    await fc.close();
  }
  const healthy = rows[0];
  console.log(`\nnode ${process.version}, ${o.duration} s closed loop per fault, ${o.concurrency} connections, ${o.spans} app span(s) + 1 SERVER span per request, agent defaults (queue 2048, batch 512, OTLP timeout 10 s, shutdown deadline 5 s)\n`);
  const lines = [];
  const out = (line) => {
    console.log(line);
    if (line.startsWith('|')) lines.push(line);
  };
  out('| collector | requests served | error responses | req/s | p50 ms (× healthy) | p99 ms (× healthy) | spans received | agent: exported / dropped / failed | peak RSS MB | SIGTERM → exit | agent warnings |');
  out('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    out(
      `| ${r.fault} | ${r.served} | ${r.errors} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} (${(r.p50 / healthy.p50).toFixed(2)}) | ${r.p99.toFixed(2)} (${(r.p99 / healthy.p99).toFixed(2)}) | ${r.received} | ${r.exported} / ${r.dropped} / ${r.failed} | ${mb(r.peakRss)} | ${(r.exitMs / 1000).toFixed(1)} s (${r.exit}) | ${r.warnings.length} |`,
    );
  }
  if (o.readme) {
    const file = path.join(REPO, 'README.md');
    const text = require('node:fs').readFileSync(file, 'utf8');
    const re = /(<!-- faults:begin -->\n)[^]*?(<!-- faults:end -->)/;
    if (!re.test(text)) throw new Error('README.md has no <!-- faults:begin --> ... <!-- faults:end --> markers');
    require('node:fs').writeFileSync(file, text.replace(re, `$1${lines.join('\n')}\n$2`));
    console.log('\nREADME.md: table between the faults markers updated');
  }
  console.log('\nAgent warnings per fault:');
  for (const r of rows) for (const w of r.warnings) console.log(`- ${r.fault}: ${w.replace(/^\[@acme\/otel-agent\] warn: /, '').replace(/127\.0\.0\.1:\d+/g, 'HOST')}`);
}

/** A long run against one dead collector: RSS every --sample seconds. */
async function longRun(o) {
  const fc = await collectorProcess();
  await fc.setFault(o.fault);
  const app = await startApp(fc.tracesUrl, o.spans);
  const url = `http://127.0.0.1:${app.port}/work`;
  const samples = [];
  let stop = false;
  const t0 = Date.now();
  const running = (async () => {
    let served = 0;
    while (!stop) served += (await load(url, { durationMs: 2000, concurrency: o.concurrency })).served;
    return served;
  })();
  console.log(`long run: collector ${o.fault} (${FAULTS[o.fault]}), ${o.long} s, ${o.concurrency} connections, ${o.spans} app span(s) + 1 SERVER span per request\n`);
  console.log('| t (s) | RSS MB | heap used MB | requests served so far |');
  console.log('|---|---|---|---|');
  while (Date.now() - t0 < o.long * 1000) {
    await new Promise((res) => setTimeout(res, o.sample * 1000));
    const m = await getJson(`http://127.0.0.1:${app.port}/rss`);
    samples.push(m);
    console.log(`| ${Math.round((Date.now() - t0) / 1000)} | ${mb(m.rss)} | ${mb(m.heapUsed)} | ${m.served} |`);
  }
  stop = true;
  const served = await running;
  app.child.kill('SIGTERM');
  await app.exited;
  await fc.close();
  const third = Math.max(1, Math.floor(samples.length / 3));
  const avg = (list, k) => list.reduce((a, s) => a + s[k], 0) / list.length;
  const first = samples.slice(0, third);
  const last = samples.slice(-third);
  const summary = /\(at exit\): exported (\d+), dropped (\d+), failed (\d+)/.exec(app.stderr());
  console.log(`\nrequests served ${served}; RSS first third ${mb(avg(first, 'rss'))} MB, last third ${mb(avg(last, 'rss'))} MB; heap used ${mb(avg(first, 'heapUsed'))} → ${mb(avg(last, 'heapUsed'))} MB; peak RSS ${mb(samples.at(-1).maxRSS)} MB`);
  if (summary) console.log(`agent at exit: exported ${summary[1]}, dropped ${summary[2]}, failed ${summary[3]}`);
  console.log(`agent warnings: ${app.stderr().split('\n').filter((l) => l.includes('] warn: ')).length}`);
}

if (process.argv[2] === '--collector') {
  serveCollector();
} else {
  const o = args();
  (o.long > 0 ? longRun(o) : table(o)).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
