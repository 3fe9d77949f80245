'use strict';
// Issue 9: what happens to the app when the collector goes wrong. One app under
// load, one receiver on one port switched through every fault and back: the app
// answers every request, with no added latency beyond a margin; the agent says
// once that exports fail and once that they work again (not a line per batch);
// a 400 is not retried; spans flow again after each recovery; and the exit is
// never held beyond the shutdown deadline, whatever the collector does.
const assert = require('node:assert/strict');
const path = require('node:path');
const { runFixture } = require('./helpers/run');
const { startFaultCollector } = require('./fixtures/reliability/fault-collector');
const { load } = require('./fixtures/reliability/load');

const FIX = path.join(__dirname, 'fixtures', 'reliability');
const SERVER_APP = path.join(FIX, 'server-app.js');
const EXIT_APP = path.join(FIX, 'exit-app.js');
const OTLP_TIMEOUT_MS = 800;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check, what, ms = 8000) {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

describe('reliability: collector faults under load (end to end)', function () {
  this.timeout(60000);
  let fc;
  let app;
  let url;
  let baseline;
  const count = (re) => (app.stderr.match(re) || []).length;
  const DOWN = /cannot export spans to /g;
  const BACK = /exporting spans to .* works again/g;

  before(async function () {
    this.timeout(60000);
    fc = await startFaultCollector();
    app = runFixture({
      script: SERVER_APP,
      mode: 'require',
      timeoutMs: 300000,
      env: {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: fc.tracesUrl,
        OTEL_EXPORTER_OTLP_TIMEOUT: String(OTLP_TIMEOUT_MS),
        OTEL_BSP_MAX_QUEUE_SIZE: '256',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '64',
        OTEL_NODE_SHUTDOWN_TIMEOUT: '1000',
        OTEL_SERVICE_NAME: 'faults',
      },
    });
    url = `http://127.0.0.1:${await app.waitForPort()}/work`;
    await load(url, { requests: 300, concurrency: 8 }); // warm-up (JIT, connections)
    baseline = await load(url, { requests: 400, concurrency: 8 });
    await fc.inner.waitForSpans((s) => s.filter((x) => x.name === 'work').length >= 700);
  });

  after(async () => {
    if (app) await app.kill('SIGKILL');
    if (fc) await fc.close();
  });

  /** Latency under a fault must stay near the healthy figure (loose: the machine runs other tests). */
  function assertLatency(r, fault) {
    const limit = Math.max(baseline.p50 * 3, baseline.p50 + 15);
    assert.ok(r.p50 <= limit, `${fault}: median latency ${r.p50.toFixed(2)} ms vs ${baseline.p50.toFixed(2)} ms healthy`);
  }

  const faults = ['refused', 'blackhole', 'slow', 'http-500', 'http-502', 'http-503', 'http-504', 'http-429', 'http-400', 'mid-close', 'garbage'];
  for (const fault of faults) {
    it(`${fault}: every request answered, no added latency, one warning down and one back, spans flow again`, async () => {
      const down = count(DOWN);
      const back = count(BACK);
      await fc.setFault(fault);
      const r = await load(url, { requests: 300, concurrency: 8 });
      assert.deepEqual([r.served, r.errors, r.failures], [300, 0, 0], `${fault}: the app answered every request`);
      assertLatency(r, fault);
      await waitFor(() => count(DOWN) > down, `the warning that exports fail (${fault})`);
      // Let every export begun under the fault end (each is bounded by the OTLP timeout).
      await sleep(OTLP_TIMEOUT_MS + 400);
      assert.equal(count(DOWN), down + 1, `one warning for the whole outage, not one per batch:\n${app.stderr}`);
      const line = app.stderr.split('\n').filter((l) => l.includes('cannot export spans to ')).pop();
      assert.ok(line.includes(`cannot export spans to ${fc.tracesUrl} (`), line);
      if (fault === 'http-400') assert.equal(fc.retriedBatches('http-400'), 0, 'a 400 (bad payload) is never retried');

      await fc.setFault('healthy');
      const spansBefore = fc.inner.spans().length;
      const again = await load(url, { requests: 100, concurrency: 8 });
      assert.equal(again.served, 100);
      await waitFor(() => count(BACK) > back, `the warning that exports work again (after ${fault})`);
      await fc.inner.waitForSpans((s) => s.length >= spansBefore + 100);
      assert.equal(count(BACK), back + 1);
      assert.equal(count(DOWN), down + 1, 'no stale failure reported after the recovery');
    });
  }

  it('spans beyond the queue cap are dropped, counted and reported (not queued without bound)', () => {
    // 300 spans per fault phase into a 256-span queue while exports fail: drops happened and were said once.
    assert.match(app.stderr, /export queue full \(OTEL_BSP_MAX_QUEUE_SIZE=256\): \d+ span\(s\) dropped since the last report/);
    const reports = count(/export queue full/g);
    assert.ok(reports >= 1 && reports <= 2, `drop reports are rate-limited to one a minute (${reports})`);
  });

  it('SIGTERM during load while the collector is slow: the app dies by SIGTERM within the shutdown deadline', async () => {
    await fc.setFault('slow');
    const running = load(url, { durationMs: 3000, concurrency: 8 });
    await sleep(500);
    const t0 = Date.now();
    app.child.kill('SIGTERM');
    const r = await app.exited;
    const took = Date.now() - t0;
    await running;
    assert.equal(r.signal, 'SIGTERM');
    assert.ok(took < 1000 + 1500, `exit took ${took} ms with a 1000 ms shutdown deadline`);
    // Only known agent lines on stderr: warnings about exports and drops.
    for (const line of r.stderr.split('\n').filter(Boolean)) {
      assert.match(line, /^\[@acme\/otel-agent\] warn: (cannot export spans|exporting spans .* works again|export queue full|\d+ span\(s\) could not be exported)/);
    }
  });
});

describe('reliability: natural exit with an export in flight', function () {
  this.timeout(30000);
  it('the collector keeps the spans at once and answers after 300 ms: every span arrives exactly once', async () => {
    const fc = await startFaultCollector();
    try {
      await fc.setFault('laggy');
      for (let i = 0; i < 2; i++) {
        fc.inner.reset();
        // The app ends 150 ms in: the scheduled export (50 ms) is in flight, its answer 300 ms away.
        const r = await runFixture({ script: EXIT_APP, mode: 'require', env: { EXIT: 'linger', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: fc.tracesUrl } }).exited;
        assert.equal(r.code, 0, r.stderr);
        await sleep(500);
        assert.equal(fc.inner.spans().length, 10, `run ${i}: waited for, not sent again at exit (${fc.inner.spans().length} spans)`);
      }
    } finally {
      await fc.close();
    }
  });
});

describe('reliability: exit under a slow collector (answers after 30 s)', function () {
  this.timeout(30000);
  let fc;
  before(async () => {
    fc = await startFaultCollector({ slowMs: 30000 });
    await fc.setFault('slow');
  });
  after(() => fc.close());

  for (const EXIT of ['natural', 'process.exit', 'sigterm-wait']) {
    it(`${EXIT}: the exit is held at most the shutdown deadline (1 s), with the default 10 s export timeout`, async () => {
      const h = runFixture({
        script: EXIT_APP,
        mode: 'require',
        env: { EXIT, EXIT_CODE: '4', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: fc.tracesUrl, OTEL_NODE_SHUTDOWN_TIMEOUT: '1000' },
      });
      const seen = fc.requests;
      await h.waitForOutput('spans made');
      // Let the first export reach the collector, so it is in flight when the exit starts.
      await waitFor(() => fc.requests > seen, 'an export request');
      const t0 = Date.now();
      if (EXIT === 'sigterm-wait') h.child.kill('SIGTERM');
      const r = await h.exited;
      const took = Date.now() - t0;
      assert.ok(took < 1000 + 1500, `${EXIT}: exit took ${took} ms`);
      if (EXIT === 'sigterm-wait') assert.equal(r.signal, 'SIGTERM');
      else assert.equal(r.code, EXIT === 'process.exit' ? 4 : 0, r.stderr);
    });
  }
});
