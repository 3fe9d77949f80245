'use strict';
// The agent core end to end: apps run under `node --require`/`--import`,
// spans made with @opentelemetry/api arrive at a real OTLP receiver.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startCollector } = require('./helpers/collector');
const { runFixture, REPO } = require('./helpers/run');

const FIX = path.join(__dirname, 'fixtures', 'core');
const API_DIR = path.join(__dirname, 'versions', 'api-1.9.0');
const app = path.join(FIX, 'api-spans.js');

describe('agent core (end to end)', function () {
  let collector;
  before(async () => {
    collector = await startCollector();
  });
  after(() => collector.close());
  beforeEach(() => collector.reset());

  const run = (env, extra = {}) =>
    runFixture({ script: app, mode: 'require', ...extra, env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, ...env } });

  it("spans from the app's own @opentelemetry/api copy arrive with resource, links, attributes and events", async () => {
    const h = run({ API_DIR });
    const r = await h.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const spans = await collector.waitForSpans(2);
    const parent = spans.find((s) => s.name === 'parent');
    const child = spans.find((s) => s.name === 'child');
    assert.equal(parent.parentSpanId, '');
    assert.equal(parent.parentSpanIdBytes, 0, 'a root span has no parent span id at all (not zeros)');
    assert.equal(child.parentSpanId, parent.spanId);
    assert.equal(child.traceId, parent.traceId);
    assert.equal(parent.kind, 'INTERNAL');
    assert.deepEqual(parent.attributes, { 'app.attr': 'p' });
    assert.deepEqual(child.attributes, { 'user.id': 42 });
    assert.equal(child.events[0].name, 'loaded');
    assert.deepEqual(child.events[0].attributes, { source: 'db' });
    assert.deepEqual(parent.scope, { name: 'fixture-app', version: '1.2.3' });
    const res = parent.resource;
    assert.equal(res['service.name'], 'core-fixture-app', 'default service.name is the nearest package.json name');
    assert.equal(res['telemetry.sdk.language'], 'nodejs');
    assert.equal(res['telemetry.sdk.name'], 'opentelemetry');
    assert.ok(res['telemetry.sdk.version']);
    assert.equal(res['process.pid'], h.child.pid);
    assert.equal(res['process.runtime.name'], 'nodejs');
    assert.equal(res['process.runtime.version'], process.versions.node);
    assert.equal(res['process.command'], app);
    assert.equal(res['host.name'], os.hostname());
    assert.match(res['service.instance.id'], /^[0-9a-f-]{36}$/);
    assert.equal(collector.requests[0].contentType, 'application/x-protobuf');
  });

  it('OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES set the resource', async () => {
    await run({ OTEL_SERVICE_NAME: 'checkout', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=a%20b' }).exited;
    const [span] = await collector.waitForSpans(2);
    assert.equal(span.resource['service.name'], 'checkout');
    assert.equal(span.resource['deployment.environment'], 'prod');
    assert.equal(span.resource.team, 'a b');
  });

  it('a service name starting with / is cleaned (Coroot treats it as a path)', async () => {
    await run({ OTEL_SERVICE_NAME: '/srv/app' }).exited;
    const [span] = await collector.waitForSpans(2);
    assert.equal(span.resource['service.name'], 'srv/app');
  });

  it('http/json, gzip and OTLP headers reach the receiver; header values never appear in logs', async () => {
    const r = await run({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s3cret%21',
      OTEL_LOG_LEVEL: 'debug',
    }).exited;
    await collector.waitForSpans(2);
    const req = collector.requests[0];
    assert.equal(req.contentType, 'application/json');
    assert.equal(req.headers['content-encoding'], 'gzip');
    assert.equal(req.headers['x-api-key'], 's3cret!');
    assert.match(r.stderr, /info: started @acme\/otel-agent .* service core-fixture-app, exporter otlp http\/json to http:\/\/127\.0\.0\.1:\d+\/v1\/traces \(headers: x-api-key=\*\*\*\)/);
    assert.doesNotMatch(r.stderr, /s3cret/);
  });

  it('flushes on process.exit() and keeps its exit code', async () => {
    const r = await run({ EXIT: 'process.exit', EXIT_CODE: '3', OTEL_BSP_SCHEDULE_DELAY: '60000' }).exited;
    assert.equal(r.code, 3);
    const spans = collector.spans();
    assert.deepEqual(spans.map((s) => s.name).sort(), ['child', 'parent'], 'no span lost on process.exit()');
  });

  it('flushes on natural exit before the schedule delay', async () => {
    const t = Date.now();
    const r = await run({ OTEL_BSP_SCHEDULE_DELAY: '60000' }).exited;
    assert.equal(r.code, 0);
    assert.equal(collector.spans().length, 2);
    assert.ok(Date.now() - t < 10000);
  });

  it("an app that keeps running from its own beforeExit gets a full flush deadline at its next exit", async () => {
    const r = await run({ EXIT: 'before-exit-work', OTEL_NODE_SHUTDOWN_TIMEOUT: '1000', LATE_MS: '1500', OTEL_BSP_SCHEDULE_DELAY: '60000' }).exited;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /late span made/);
    assert.deepEqual(collector.spans().map((s) => s.name).sort(), ['child', 'late', 'parent']);
  });

  for (const signal of ['SIGTERM', 'SIGINT']) {
    it(`on ${signal} with no app handler: flushes, then dies by ${signal}`, async () => {
      const h = run({ EXIT: 'sigterm-wait', OTEL_BSP_SCHEDULE_DELAY: '60000' });
      await h.waitForOutput('waiting');
      h.kill(signal);
      const r = await h.exited;
      assert.equal(r.signal, signal);
      assert.equal(r.code, null);
      assert.deepEqual(collector.spans().map((s) => s.name).sort(), ['child', 'parent']);
    });
  }

  it("on SIGTERM with the app's own handler: flushes and lets the app decide (no exit of ours)", async () => {
    const h = run({ EXIT: 'app-handler', OTEL_BSP_SCHEDULE_DELAY: '60000' });
    await h.waitForOutput('waiting');
    h.kill('SIGTERM');
    const r = await h.exited;
    assert.equal(r.code, 7);
    assert.match(r.stdout, /app handled SIGTERM/);
    assert.deepEqual(collector.spans().map((s) => s.name).sort(), ['child', 'parent']);
  });

  it('an uncaught exception is recorded on the active span, flushed, and the process dies as it would have', async () => {
    const plain = await runFixture({ script: app, mode: 'none', env: { EXIT: 'throw' } }).exited;
    const r = await run({ EXIT: 'throw', OTEL_BSP_SCHEDULE_DELAY: '60000' }).exited;
    assert.equal(r.code, plain.code);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TypeError: boom from app/);
    const doomed = collector.spans().find((s) => s.name === 'doomed');
    assert.ok(doomed, 'the span active when the exception escaped is ended and exported');
    assert.equal(doomed.status.code, 'ERROR');
    assert.equal(doomed.status.message, 'boom from app');
    const ev = doomed.events.find((e) => e.name === 'exception');
    assert.equal(ev.attributes['exception.type'], 'TypeError');
    assert.equal(ev.attributes['exception.message'], 'boom from app');
    assert.match(ev.attributes['exception.stacktrace'], /api-spans\.js/);
  });

  it('collector down (connection refused): same output and exit code as without the agent, one warning at most', async () => {
    const plain = await runFixture({ script: app, mode: 'none' }).exited;
    const r = await runFixture({
      script: app,
      mode: 'require',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:1/v1/traces', OTEL_EXPORTER_OTLP_TIMEOUT: '1000' },
    }).exited;
    assert.equal(r.code, plain.code);
    assert.equal(r.stdout, plain.stdout);
    assert.ok(r.stderr.split('\n').filter(Boolean).length <= 1, r.stderr);
  });

  it('a blackholed collector never holds the exit beyond the shutdown deadline', async () => {
    const net = require('node:net');
    const sockets = [];
    const hole = net.createServer((c) => sockets.push(c.pause()));
    await new Promise((r) => hole.listen(0, '127.0.0.1', r));
    const env = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${hole.address().port}/v1/traces`, OTEL_NODE_SHUTDOWN_TIMEOUT: '1000', OTEL_EXPORTER_OTLP_TIMEOUT: '30000' };
    try {
      for (const EXIT of ['natural', 'process.exit']) {
        const t0 = Date.now();
        const r = await runFixture({ script: app, mode: 'require', env: { ...env, EXIT } }).exited;
        const took = Date.now() - t0;
        assert.equal(r.code, 0);
        assert.ok(took < 3500, `${EXIT}: exit took ${took} ms with a 1000 ms deadline`);
      }
    } finally {
      sockets.forEach((c) => c.destroy());
      hole.close();
    }
  });

  it('one warning when the collector fails and one when it is back, not one per batch', async () => {
    const flaky = await startCollector({ status: (req) => (flaky.requests.length <= 3 ? 400 : 200) });
    try {
      const h = runFixture({
        script: app,
        mode: 'require',
        env: { EXIT: 'sigterm-wait', EXTRA_SPANS: '8', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: flaky.tracesUrl },
      });
      await flaky.waitForSpans(2);
      h.kill('SIGTERM');
      const r = await h.exited;
      assert.equal(r.stderr.match(/cannot export spans to/g)?.length, 1, r.stderr);
      assert.match(r.stderr, /cannot export spans to http:\/\/127\.0\.0\.1:\d+\/v1\/traces \(HTTP 400\)/);
      assert.equal(r.stderr.match(/works again/g)?.length, 1, r.stderr);
    } finally {
      await flaky.close();
    }
  });

  it('otel-instrument runs an app with flags mapped onto OTEL_* variables', async () => {
    const r = await runFixture({
      script: app,
      mode: 'cli',
      cliFlags: ['--traces_exporter', 'otlp', '--metrics_exporter', 'none', '--service_name=from-flag', '--exporter_otlp_traces_endpoint', collector.tracesUrl],
      env: { OTEL_SERVICE_NAME: 'from-env' },
    }).exited;
    assert.equal(r.code, 0, r.stderr);
    const [span] = await collector.waitForSpans(2);
    assert.equal(span.resource['service.name'], 'from-flag');
  });

  it('OTEL_SDK_DISABLED=true: nothing is patched, no SDK, no export', async () => {
    const r = await runFixture({
      script: path.join(FIX, 'disabled.js'),
      mode: 'require',
      env: { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl },
    }).exited;
    assert.deepEqual(JSON.parse(r.stdout), { patched: 0, provider: 'NoopTracerProvider', active: true });
    const enabled = await runFixture({ script: path.join(FIX, 'disabled.js'), mode: 'require', env: { OTEL_TRACES_EXPORTER: 'none' } }).exited;
    assert.notEqual(JSON.parse(enabled.stdout).provider, 'NoopTracerProvider', 'the same check sees the agent when it runs');
    assert.equal(collector.requests.length, 0);
  });

  it('OTEL_TRACES_EXPORTER=none exports nothing; console prints a readable tree', async () => {
    await run({ OTEL_TRACES_EXPORTER: 'none' }).exited;
    const r = await run({ OTEL_TRACES_EXPORTER: 'console' }).exited;
    assert.equal(collector.requests.length, 0);
    assert.match(r.stdout, /^trace [0-9a-f]{32} \(service core-fixture-app\)\n└─ INTERNAL parent {2}\d+\.\d ms\n {3}(│ {2})? {3}app\.attr="p"\n {3}└─ INTERNAL child {2}\d+\.\d ms\n {6} {3}user\.id=42\n {9}event loaded source="db"/m);
  });

  it("an export's timers are made outside the app's context, whatever ended the span", async () => {
    const r = await runFixture({
      script: path.join(FIX, 'export-context.js'),
      mode: 'require',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1', OTEL_BSP_EXPORT_TIMEOUT: '12345' },
    }).exited;
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout);
    assert.ok(seen.length >= 2, `deadline timers seen: ${r.stdout}`);
    assert.deepEqual(seen.filter((s) => s !== null), [], 'no deadline timer holds the context of the code that ended a span');
    await collector.waitForSpans(4);
  });

  it('ids: distinct, never zero, uniform bytes, and another sequence in each process', async () => {
    const once = async () => {
      const r = await runFixture({ script: path.join(FIX, 'ids.js'), mode: 'require', env: { OTEL_TRACES_EXPORTER: 'none', N: '50000' } }).exited;
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const [a, b] = await Promise.all([once(), once()]);
    for (const x of [a, b]) {
      assert.equal(x.bad, 0);
      assert.equal(x.traces, x.n, 'every trace id distinct');
      assert.equal(x.spans, 2 * x.n, 'every span id distinct');
      // 800,000 bytes of trace ids: 3125 of each value expected, a standard deviation of ~56.
      assert.ok(x.minByte > 2800 && x.maxByte < 3450, `byte counts from ${x.minByte} to ${x.maxByte}`);
    }
    assert.notEqual(a.first, b.first, 'each process starts its own sequence');
  });

  it('a full queue drops spans, counts them and says so once', async () => {
    const r = await run({ EXTRA_SPANS: '20', OTEL_BSP_MAX_QUEUE_SIZE: '2', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2', OTEL_BSP_SCHEDULE_DELAY: '60000' }).exited;
    assert.equal(r.code, 0);
    // 22 spans end in one synchronous burst: the queue holds 2 (their export starts on the next turn of the
    // loop, never inside the app's call), the other 20 are dropped. The first drop is reported at once, the
    // rest at most once a minute or, as here, at exit.
    assert.match(r.stderr, /export queue full \(OTEL_BSP_MAX_QUEUE_SIZE=2\): 1 span\(s\) dropped since the last report, 1 in all\n/);
    assert.match(r.stderr, /export queue full \(OTEL_BSP_MAX_QUEUE_SIZE=2\): 19 span\(s\) dropped since the last report, 20 in all\n/);
    assert.equal(r.stderr.match(/export queue full/g).length, 2);
    assert.equal(collector.spans().length, 2);
  });

  it('starts once even when loaded twice (--require twice, --require and --import)', async () => {
    const script = app;
    const { AGENT, AGENT_ESM } = require('./helpers/run');
    const h = runFixture({
      script,
      mode: 'none',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, NODE_OPTIONS: `--require ${AGENT} --require ${AGENT} --import ${AGENT_ESM}` },
    });
    const r = await h.exited;
    assert.equal(r.code, 0, r.stderr);
    await collector.waitForSpans(2);
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(collector.spans().length, 2, 'each span exported once');
  });

  it('--import entry works for a CommonJS app', async () => {
    const r = await run({}, { mode: 'import' }).exited;
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await collector.waitForSpans(2)).length, 2);
  });

  it('the package name resolves for --require and --import (package.json exports)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otel-agent-pkg-'));
    fs.mkdirSync(path.join(dir, 'node_modules', '@acme'), { recursive: true });
    fs.symlinkSync(REPO, path.join(dir, 'node_modules', '@acme', 'otel-agent'));
    fs.writeFileSync(path.join(dir, 'app.js'), "console.log(require('@acme/otel-agent/package.json').name)");
    try {
      for (const flag of ['--require', '--import']) {
        const r = await runFixture({
          script: path.join(dir, 'app.js'),
          mode: 'none',
          cwd: dir,
          env: { NODE_OPTIONS: `${flag} @acme/otel-agent`, OTEL_LOG_LEVEL: 'info', OTEL_TRACES_EXPORTER: 'none' },
        }).exited;
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /info: started @acme\/otel-agent/, flag);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not start inside package-manager processes (npm, npx, yarn, pnpm)', async () => {
    const r = await runFixture({
      script: path.join(FIX, 'fake-npm', 'npm-cli.js'),
      mode: 'require',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl },
    }).exited;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tracer provider is ProxyTracerProvider/);
    assert.equal(collector.requests.length, 0);
  });

  it('a bad configuration value warns on stderr and the app runs', async () => {
    const r = await run({ OTEL_BSP_SCHEDULE_DELAY: 'soon', OTEL_TRACES_SAMPLER: 'sometimes' }).exited;
    assert.equal(r.code, 0);
    assert.match(r.stderr, /warn: OTEL_BSP_SCHEDULE_DELAY="soon" is not valid .*using 5000/);
    assert.match(r.stderr, /warn: OTEL_TRACES_SAMPLER="sometimes" is not valid/);
    assert.equal((await collector.waitForSpans(2)).length, 2);
  });
});
