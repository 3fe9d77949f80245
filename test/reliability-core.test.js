'use strict';
// Issue 9, the agent's own pipeline: memory bounded however the exporter
// behaves (one export at a time, the queue cap holds), the periodic debug
// summary, a transport that cannot be starved of sockets by a receiver that
// never finishes its answers, and no secret of the endpoint in any log line.
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { ExportResultCode } = require('@opentelemetry/core');
const { BatchProcessor } = require('../dist/processor');
const { HttpTransport } = require('../dist/transport');
/** `t.send` as a promise of its result. */
const send = (t, b) => new Promise((resolve) => t.send(b, resolve));
const { setLogLevel } = require('../dist/logger');
const { runFixture } = require('./helpers/run');
const { startCollector } = require('./helpers/collector');

const EXIT_APP = path.join(__dirname, 'fixtures', 'reliability', 'exit-app.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const span = () => ({ spanContext: () => ({ traceFlags: 1 }) });

/** Collects what the agent's logger writes to stderr while `fn` runs. */
async function captureLog(level, fn) {
  const lines = [];
  const write = process.stderr.write;
  process.stderr.write = (chunk, ...rest) => {
    if (String(chunk).startsWith('[@acme/otel-agent]')) {
      lines.push(String(chunk).trimEnd());
      return true;
    }
    return write.call(process.stderr, chunk, ...rest);
  };
  setLogLevel(level);
  try {
    await fn(lines);
  } finally {
    process.stderr.write = write;
    setLogLevel('warn');
  }
  return lines;
}

describe('batch processor: encoding ahead (OTLP protobuf)', () => {
  // A fake exporter that "encodes" a span as one byte holding its number, so bodies show which
  // spans they carry. `added` counts spans encoded, `taken` the spans of each closed body.
  function encodingExporter() {
    const sent = [];
    const taken = [];
    const pending = [];
    const e = {
      sent, taken, pending, added: 0, fail: () => false,
      export: () => assert.fail('spans as objects: the processor should send encoded bodies'),
      encoder: () => {
        let open = [];
        return {
          get count() { return open.length; },
          add: (s) => { if (e.fail(s)) throw new Error('encoder bug'); e.added++; open.push(s.n); },
          take: () => { if (open.length === 0) return undefined; taken.push(open.length); const b = Buffer.from(open); open = []; return b; },
          clear: () => { open = []; },
        };
      },
      exportEncoded: (body, done) => { sent.push([...body]); pending.push(() => done({ code: ExportResultCode.SUCCESS })); },
      exportEncodedSync: (body) => { sent.push(['sync', ...body]); return true; },
      shutdown: async () => {},
    };
    return e;
  }
  const numbered = (n) => ({ n, spanContext: () => ({ traceFlags: 1 }) });
  // The processor's own setImmediate was queued first, so it has run when this resolves (a 1 ms timer may fire earlier).
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
  const { CHUNK } = require('../dist/processor');

  it('encodes the spans that ended in a turn of the loop at its end, a body every CHUNK spans; the export concatenates the bodies', async () => {
    const e = encodingExporter();
    const p = new BatchProcessor(e, { scheduleDelayMs: 60000, exportTimeoutMs: 60000, maxQueueSize: 2048, maxExportBatchSize: 2 * CHUNK }, 'test');
    for (let i = 0; i < 5; i++) p.onEnd(numbered(i));
    assert.equal(e.added, 0, 'not on the request path');
    await nextTurn();
    assert.equal(e.added, 5, 'encoded at the end of the turn, though no chunk is full: span objects do not wait');
    assert.deepEqual(e.taken, []);
    for (let i = 5; i < CHUNK; i++) p.onEnd(numbered(i % 256));
    await nextTurn();
    assert.equal(e.added, CHUNK);
    assert.deepEqual(e.taken, [CHUNK], 'a body closed at CHUNK spans');
    assert.deepEqual(e.sent, [], 'nothing sent before a batch is full');
    for (let i = CHUNK; i < 2 * CHUNK + 3; i++) p.onEnd(numbered(i % 256));
    await nextTurn();
    assert.equal(e.sent.length, 1);
    assert.deepEqual(e.sent[0], Array.from({ length: 2 * CHUNK }, (_, i) => i % 256), 'one batch, in order, from two chunks');
    assert.equal(p.pending, true, 'three spans wait for the schedule delay');
    e.pending.splice(0).forEach((f) => f());
    assert.equal(p.stats.exported, 2 * CHUNK);
    const shut = p.shutdown();
    await nextTurn();
    e.pending.splice(0).forEach((f) => f());
    await shut;
    assert.deepEqual(e.sent[1], [0, 1, 2].map((i) => (2 * CHUNK + i) % 256), 'the rest at shutdown');
  });

  it('a server or consumer span is encoded as it ends, with the spans that waited for it; a full batch is still exported at the end of the turn', async () => {
    const { SpanKind } = require('@opentelemetry/api');
    const e = encodingExporter();
    const p = new BatchProcessor(e, { scheduleDelayMs: 60000, exportTimeoutMs: 60000, maxQueueSize: 2048, maxExportBatchSize: 6 }, 'test');
    p.onEnd(numbered(1));
    p.onEnd({ ...numbered(2), kind: SpanKind.CLIENT });
    assert.equal(e.added, 0, 'a client span ends before its response: it waits for the end of the turn');
    p.onEnd({ ...numbered(3), kind: SpanKind.SERVER });
    assert.equal(e.added, 3, 'the server span and the spans before it, at once');
    p.onEnd({ ...numbered(4), kind: SpanKind.INTERNAL });
    p.onEnd({ ...numbered(5), kind: SpanKind.PRODUCER });
    p.onEnd({ ...numbered(6), kind: SpanKind.CONSUMER });
    assert.equal(e.added, 6);
    assert.deepEqual(e.sent, [], 'no export from inside onEnd, though the batch is full');
    await nextTurn();
    assert.deepEqual(e.sent, [[1, 2, 3, 4, 5, 6]]);
    e.pending.splice(0).forEach((f) => f());
    await p.shutdown();
  });

  it('with the real encoder, no ended span object waits for its chunk or its export', async function () {
    // What the encoding ahead is for: a span that waits is a span that survives young collections.
    const v8 = require('node:v8');
    const vm = require('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    const { createOtlpExporter } = require('../dist/exporter');
    const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
    const { SpanKind } = require('@opentelemetry/api');
    const exporter = createOtlpExporter({ url: 'http://127.0.0.1:9/v1/traces', protocol: 'http/protobuf', headers: {}, timeoutMs: 1000, compression: 'none' }, '0.0.0');
    const p = new BatchProcessor(exporter, { scheduleDelayMs: 60000, exportTimeoutMs: 60000, maxQueueSize: 2048, maxExportBatchSize: 512 }, 'test');
    const tracer = new BasicTracerProvider({ spanProcessors: [p] }).getTracer('t');
    // In a function of its own: a suspended async function keeps its locals, the last span among them.
    const endSpans = () => Array.from({ length: 20 }, (_, i) => {
      const span = tracer.startSpan(`s${i}`, { kind: i % 2 ? SpanKind.SERVER : SpanKind.CLIENT, attributes: { i, s: 'x'.repeat(100) } });
      span.end();
      return new WeakRef(span);
    });
    const refs = endSpans();
    await nextTurn();
    gc();
    assert.deepEqual(refs.map((r, i) => (r.deref() === undefined ? -1 : i)).filter((i) => i >= 0), [], 'ended spans still alive');
    assert.equal(p.pending, true, 'their bytes wait for the export');
    assert.equal(p.abandon(), 20);
    await exporter.shutdown();
  });

  it('the schedule-delay timer is armed in the root context: it keeps no context of the app\'s until it fires', async () => {
    const v8 = require('node:v8');
    const vm = require('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    const { context, createContextKey, ROOT_CONTEXT, SpanKind } = require('@opentelemetry/api');
    const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
    assert.ok(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()));
    try {
      const e = encodingExporter();
      const p = new BatchProcessor(e, { scheduleDelayMs: 60000, exportTimeoutMs: 60000, maxQueueSize: 2048, maxExportBatchSize: 512 }, 'test');
      const key = createContextKey('app data');
      // A span ended inside a context of the app's (a request's, with what the app keeps in it).
      const endIn = () => {
        const ctx = ROOT_CONTEXT.setValue(key, { body: 'x'.repeat(10000) });
        context.with(ctx, () => p.onEnd({ ...numbered(1), kind: SpanKind.SERVER }));
        return new WeakRef(ctx);
      };
      const ref = endIn();
      await nextTurn();
      gc();
      assert.equal(p.pending, true, 'the span waits for the timer');
      assert.equal(ref.deref(), undefined, 'the app\'s context is still reachable');
      assert.equal(p.abandon(), 1);
    } finally {
      context.disable();
    }
  });

  it('the queue cap counts encoded spans; a hung export holds one batch; the exit flush sends in-flight, encoded and queued spans in one body', async () => {
    const e = encodingExporter();
    const p = new BatchProcessor(e, { scheduleDelayMs: 60000, exportTimeoutMs: 60000, maxQueueSize: 3 * CHUNK, maxExportBatchSize: CHUNK }, 'test');
    await captureLog('warn', async () => {
      for (let i = 0; i < 10 * CHUNK; i++) {
        p.onEnd(numbered(i % 256));
        if (i % 16 === 0) await nextTurn();
      }
    });
    assert.equal(e.sent.length, 1, 'one export at a time');
    assert.equal(p.stats.dropped, 10 * CHUNK - CHUNK - 3 * CHUNK, 'in flight: one batch; queued (encoded or not): the cap');
    assert.equal(p.flushSync(1000), 0);
    assert.equal(e.sent.length, 2);
    assert.equal(e.sent[1][0], 'sync');
    assert.equal(e.sent[1].length - 1, 4 * CHUNK, 'the in-flight batch and the queue, nothing lost or sent twice');
    assert.equal(p.stats.exported, 4 * CHUNK);
    assert.equal(p.pending, false);
    await p.shutdown();
  });

  it('a span the encoder fails on costs that span and one warning, nothing else', async () => {
    const e = encodingExporter();
    e.fail = (s) => s.n === 1;
    const p = new BatchProcessor(e, { scheduleDelayMs: 1, exportTimeoutMs: 60000, maxQueueSize: 2048, maxExportBatchSize: CHUNK }, 'test');
    const lines = await captureLog('warn', async () => {
      for (let i = 0; i < CHUNK; i++) p.onEnd(numbered(i % 2 ? 1 : 2));
      for (let i = 0; i < CHUNK / 2; i++) p.onEnd(numbered(3));
      await sleep(5);
      e.pending.splice(0).forEach((f) => f());
      await sleep(5);
      e.pending.splice(0).forEach((f) => f());
    });
    assert.equal(p.stats.failed, CHUNK / 2);
    assert.equal(p.stats.exported, CHUNK);
    assert.deepEqual(e.sent, [[...Array(CHUNK / 2).fill(2), ...Array(CHUNK / 2).fill(3)]], 'the spans around the failed ones, in one body');
    assert.equal(lines.filter((l) => l.includes('encoder bug')).length, 1, lines.join('\n'));
    await p.shutdown();
  });
});

describe('reliability: batch processor memory and reports', function () {
  it('exports one batch at a time: a hung exporter holds one batch plus the capped queue, the rest is dropped and counted', async () => {
    const pending = [];
    let calls = 0;
    const exporter = { export: (spans, done) => { calls++; pending.push(() => done({ code: ExportResultCode.SUCCESS })); }, shutdown: async () => {} };
    const p = new BatchProcessor(exporter, { scheduleDelayMs: 1, exportTimeoutMs: 60000, maxQueueSize: 100, maxExportBatchSize: 10 }, 'test');
    await captureLog('warn', async () => {
      // Spans trickle in across many schedule delays, as under steady load.
      for (let i = 0; i < 1000; i++) {
        p.onEnd(span());
        if (i % 20 === 0) await sleep(2);
      }
    });
    assert.equal(calls, 1, 'no second export while the first hangs');
    // At most one batch (10) in flight plus the queue (100): everything else was dropped.
    assert.ok(p.stats.dropped >= 1000 - 10 - 100, `dropped ${p.stats.dropped}`);
    pending.splice(0).forEach((f) => f());
    // Once the hung export ends, the queue drains, still one batch at a time.
    for (let i = 0; i < 100 && p.pending; i++) {
      await sleep(2);
      pending.splice(0).forEach((f) => f());
    }
    assert.equal(p.stats.exported, 1000 - p.stats.dropped);
    await p.shutdown();
  });

  it('debug summary of exported/dropped/failed: periodic, only when it changed, not per export; always at exit', async () => {
    let fail = false;
    const exporter = {
      export: (spans, done) => done({ code: fail ? ExportResultCode.FAILED : ExportResultCode.SUCCESS, error: new Error('x') }),
      shutdown: async () => {},
    };
    const lines = await captureLog('debug', async () => {
      const p = new BatchProcessor(exporter, { scheduleDelayMs: 1, exportTimeoutMs: 1000, maxQueueSize: 4, maxExportBatchSize: 1 }, 'http://c:4318/v1/traces', 150);
      // 6 exports of one span each (a full batch is exported on the next turn of the loop, not inside onEnd).
      for (let i = 0; i < 6; i++) {
        p.onEnd(span());
        await new Promise(setImmediate);
      }
      await sleep(400); // two or three periods, one change
      fail = true;
      p.onEnd(span());
      await sleep(250);
      p.reportSummary(true);
      await p.shutdown();
    });
    const summaries = lines.filter((l) => l.includes('exported'));
    assert.deepEqual(summaries, [
      '[@acme/otel-agent] debug: spans to http://c:4318/v1/traces: exported 6, dropped 0, failed 0',
      '[@acme/otel-agent] debug: spans to http://c:4318/v1/traces: exported 6, dropped 0, failed 1',
      '[@acme/otel-agent] debug: spans to http://c:4318/v1/traces (at exit): exported 6, dropped 0, failed 1',
    ]);
  });

  it('no summary below debug', async () => {
    const exporter = { export: (s, done) => done({ code: ExportResultCode.SUCCESS }), shutdown: async () => {} };
    const lines = await captureLog('info', async () => {
      const p = new BatchProcessor(exporter, { scheduleDelayMs: 1, exportTimeoutMs: 1000, maxQueueSize: 4, maxExportBatchSize: 1 }, 'x', 50);
      p.onEnd(span());
      await sleep(150);
      p.reportSummary(true);
      await p.shutdown();
    });
    assert.deepEqual(lines, []);
  });

  it('the exit summary reaches stderr at OTEL_LOG_LEVEL=debug', async () => {
    const collector = await startCollector();
    try {
      const r = await runFixture({ script: EXIT_APP, mode: 'require', env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_LOG_LEVEL: 'debug' } }).exited;
      assert.equal(r.code, 0);
      assert.match(r.stderr, /debug: spans to http:\/\/127\.0\.0\.1:\d+\/v1\/traces \(at exit\): exported 10, dropped 0, failed 0\n/);
      assert.equal((r.stderr.match(/exported \d+, dropped/g) || []).length, 1, 'one summary, not one per export');
    } finally {
      await collector.close();
    }
  });
});

describe('reliability: OTLP transport against misbehaving receivers', function () {
  this.timeout(15000);

  it('a receiver that sends headers but never finishes the body cannot hold the sockets forever', async () => {
    let stall = true;
    const server = http.createServer((req, res) => {
      req.resume();
      if (stall) {
        res.writeHead(200, { 'content-length': '100' });
        res.write('x'); // and never the other 99 bytes
      } else {
        res.writeHead(200).end();
      }
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const t = new HttpTransport({ url: `http://127.0.0.1:${server.address().port}/v1/traces`, headers: {}, timeoutMs: 400, gzip: false, userAgent: 't' });
    try {
      // The transport allows 4 sockets: 4 stalled answers would take them all.
      for (let i = 0; i < 4; i++) assert.equal((await send(t, new Uint8Array(1))).ok, true);
      await sleep(600);
      stall = false;
      const r = await send(t, new Uint8Array(1));
      assert.deepEqual(r, { ok: true, error: undefined }, 'a fifth export still finds a socket');
    } finally {
      t.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('an OTLP header value Node refuses (a newline) fails the export with a clear reason, never the app', async () => {
    const t = new HttpTransport({ url: 'http://127.0.0.1:1/v1/traces', headers: { 'x-api-key': 'abc\ndef' }, timeoutMs: 400, gzip: false, userAgent: 't' });
    const r = await send(t, new Uint8Array(1));
    assert.equal(r.ok, false);
    assert.match(r.error, /Invalid character in header content \["x-api-key"\]/);
    assert.doesNotMatch(r.error, /abc/);
    t.close();
  });
});

describe('reliability: secrets of the endpoint in log lines', function () {
  it('URL credentials, query parameters (signed URLs, keys) and OTLP header values never reach stderr, even at debug', async () => {
    const r = await runFixture({
      script: EXIT_APP,
      mode: 'require',
      env: {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://user:hunter2@127.0.0.1:1/v1/traces?X-Amz-Signature=sig0123&api_key=key4567',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20tok8901,x-api-key=apik2345',
        OTEL_EXPORTER_OTLP_TIMEOUT: '300',
        OTEL_LOG_LEVEL: 'debug',
      },
    }).exited;
    assert.equal(r.code, 0);
    assert.match(r.stderr, /cannot export spans to http:\/\/REDACTED:REDACTED@127\.0\.0\.1:1\/v1\/traces \(/);
    for (const secret of ['hunter2', 'sig0123', 'key4567', 'tok8901', 'apik2345']) assert.ok(!r.stderr.includes(secret), `${secret} leaked:\n${r.stderr}`);
  });

  it('an OTLP header value with a newline: the app runs, one warning without the value', async () => {
    const collector = await startCollector();
    try {
      const r = await runFixture({
        script: EXIT_APP,
        mode: 'require',
        env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s3cr%0Aet99' },
      }).exited;
      assert.equal(r.code, 0);
      assert.match(r.stderr, /cannot export spans to .* \(Invalid character in header content \["x-api-key"\]\)/);
      assert.ok(!r.stderr.includes('s3cr') && !r.stderr.includes('et99'), r.stderr);
    } finally {
      await collector.close();
    }
  });
});
