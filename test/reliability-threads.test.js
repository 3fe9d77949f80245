'use strict';
// Issue 9: worker_threads and cluster workers. Every thread and process that
// loads the agent traces and exports on its own; none starts it twice, however
// often it is loaded; no span is lost or sent twice on the way out.
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { startCollector } = require('./helpers/collector');
const fs = require('node:fs');
const { runFixture, AGENT, REPO } = require('./helpers/run');

const FIX = path.join(__dirname, 'fixtures', 'reliability');
const HTTP_ON = fs.existsSync(path.join(REPO, 'dist', 'instrumentations', 'http.js'));
const started = (stderr) => (stderr.match(/info: started @acme\/otel-agent/g) || []).length;

/** One GET on a new connection (so cluster's round robin sees each request). */
const get = (url) =>
  new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });

describe('reliability: worker_threads and cluster', function () {
  this.timeout(30000);
  let collector;
  before(async () => {
    collector = await startCollector();
  });
  after(() => collector.close());
  beforeEach(() => collector.reset());

  it('worker_threads: each thread traces and exports on its own, started once per thread', async () => {
    const h = runFixture({
      script: path.join(FIX, 'workers.js'),
      mode: 'require',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_LOG_LEVEL: 'info', AGENT_PATH: AGENT },
    });
    const r = await h.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /workers done/);
    assert.equal(started(r.stderr), 3, `main thread + 2 workers, each once (loaded twice in each):\n${r.stderr}`);
    const spans = await collector.waitForSpans((s) => s.filter((x) => x.name.startsWith('worker ') && !x.name.endsWith('request')).length >= 10);
    await new Promise((res) => setTimeout(res, 300));
    const names = collector.spans().map((s) => s.name);
    assert.equal(names.filter((n) => n === 'main').length, 1);
    for (const id of [1, 2]) {
      assert.equal(names.filter((n) => n === `worker ${id}`).length, 5, `thread ${id}: each span exported once`);
      assert.equal(names.filter((n) => n === `worker ${id} request`).length, 1);
    }
    assert.equal(new Set(spans.map((s) => s.resource['process.pid'])).size, 1, 'one process');
    // The http instrumentation works in a worker too: the request a worker makes is traced
    // (CLIENT span in the worker, SERVER span in the main thread, one trace).
    const client = collector.spans().filter((s) => s.kind === 'CLIENT');
    const server = collector.spans().filter((s) => s.kind === 'SERVER');
    if (HTTP_ON) {
      assert.equal(client.length, 2);
      assert.equal(server.length, 2);
      for (const c of client) assert.ok(server.some((s) => s.parentSpanId === c.spanId && s.traceId === c.traceId), 'context crosses the thread boundary over http');
    }
  });

  it('cluster: every worker process traces its own requests; no span lost or doubled through a graceful shutdown', async () => {
    const h = runFixture({
      script: path.join(FIX, 'cluster.js'),
      mode: 'require',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_LOG_LEVEL: 'info', OTEL_BSP_SCHEDULE_DELAY: '60000' },
    });
    const port = await h.waitForPort();
    const pids = new Set();
    for (let i = 0; i < 40; i++) {
      const r = await get(`http://127.0.0.1:${port}/work`);
      assert.equal(r.status, 200);
      pids.add(r.body);
    }
    assert.equal(pids.size, 2, 'both workers served');
    // The workers' spans are still queued (60 s schedule delay): they must be flushed as the workers exit.
    h.child.kill('SIGTERM');
    const r = await h.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(started(r.stderr), 3, `primary + 2 workers, each once:\n${r.stderr}`);
    const work = (await collector.waitForSpans((s) => s.filter((x) => x.name === 'work').length >= 40)).filter((x) => x.name === 'work');
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(collector.spans().filter((x) => x.name === 'work').length, 40, 'each span exactly once');
    assert.deepEqual(new Set(work.map((s) => String(s.resource['process.pid']))), pids, 'each span carries the pid of the worker that served it');
    for (const s of work) assert.equal(String(s.attributes['worker.pid']), String(s.resource['process.pid']));
  });
});
