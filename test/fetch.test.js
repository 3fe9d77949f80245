'use strict';
// CLIENT spans for the global fetch (undici diagnostics channels), end to end.
const assert = require('node:assert/strict');
const path = require('node:path');
const { startCollector } = require('./helpers/collector');
const { runFixture } = require('./helpers/run');
const { closedPort, sendJson, startApp, startHarness, startResetServer } = require('./fixtures/http/harness');

describe('fetch client spans', function () {
  let collector;
  let harness;
  let a; // old names, calls out with fetch
  let c; // the callee
  let stable;

  before(async () => {
    collector = await startCollector();
    harness = await startHarness();
    [a, c, stable] = await Promise.all([
      startApp(collector, {
        OTEL_SERVICE_NAME: 'fetch-a',
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST: 'x-app',
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE: 'x-harness,set-cookie',
      }),
      startApp(collector, { OTEL_SERVICE_NAME: 'fetch-c', HTTP_SPEC: 'node:http' }),
      startApp(collector, { OTEL_SERVICE_NAME: 'fetch-stable', OTEL_SEMCONV_STABILITY_OPT_IN: 'http' }),
    ]);
  });
  after(async () => {
    await Promise.all([a, c, stable].filter(Boolean).map((x) => x.handle.kill()));
    await harness?.close();
    await collector?.close();
  });

  function call(from, to, via = 'fetch', extra = '') {
    return sendJson(from.port, `/call?to=${encodeURIComponent(to)}&via=${via}${extra}`);
  }

  /** The CLIENT spans under the SERVER span that served `/call` for `to` in `service`. */
  async function clientsOf(service, to, count = 1) {
    const isCaller = (s) =>
      s.kind === 'SERVER' && s.resource['service.name'] === service && String(s.attributes['http.target'] ?? s.attributes['url.query']).includes(encodeURIComponent(to));
    const spans = await collector.waitForSpans((list) => {
      const caller = list.find(isCaller);
      return caller !== undefined && list.filter((s) => s.kind === 'CLIENT' && s.parentSpanId === caller.spanId).length >= count;
    });
    const caller = spans.find(isCaller);
    return { caller, clients: spans.filter((s) => s.kind === 'CLIENT' && s.parentSpanId === caller.spanId) };
  }

  it('fetch → server: caller SERVER → CLIENT → callee SERVER, one trace; old attributes', async () => {
    const to = `${c.url}/echo?case=f1`;
    const r = await call(a, to);
    assert.equal(r.status, 200);
    const echo = JSON.parse(r.body);
    const { caller, clients } = await clientsOf('fetch-a', to);
    assert.equal(clients.length, 1);
    const [client] = clients;
    assert.equal(client.name, 'GET');
    assert.equal(echo.headers.traceparent, `00-${caller.traceId}-${client.spanId}-03`);
    const spans = await collector.waitForSpans((list) => list.some((s) => s.parentSpanId === client.spanId));
    const callee = spans.find((s) => s.parentSpanId === client.spanId);
    assert.equal(callee.kind, 'SERVER');
    assert.equal(callee.resource['service.name'], 'fetch-c');
    assert.deepEqual(client.attributes, {
      'http.method': 'GET',
      'http.url': to,
      'net.peer.name': '127.0.0.1',
      'net.peer.port': c.port,
      'http.flavor': '1.1',
      'http.status_code': 200,
    });
    assert.equal(client.status.code, 'UNSET');
    assert.ok(client.endTimeUnixNano >= client.startTimeUnixNano);
  });

  it("the caller's headers are kept, its own traceparent is not replaced; headers captured and masked", async () => {
    const to = `${harness.url}/own?case=f2`;
    await call(a, to, 'fetch-headers');
    const seen = harness.last().headers;
    assert.equal(seen['x-app'], 'a1');
    assert.equal(seen.traceparent, '00-11111111111111111111111111111111-2222222222222222-01');
    const { clients } = await clientsOf('fetch-a', to);
    assert.deepEqual(clients[0].attributes['http.request.header.x_app'], ['a1']);
    assert.deepEqual(clients[0].attributes['http.response.header.x_harness'], ['h1']);
    assert.deepEqual(clients[0].attributes['http.response.header.set_cookie'], ['[REDACTED]']);
  });

  it('signed URLs are redacted; status >= 400 is ERROR; stable names', async () => {
    const to = `${harness.url}/s?X-Goog-Signature=abc&keep=1&status=503`;
    await call(stable, to);
    const { clients } = await clientsOf('fetch-stable', to);
    const port = Number(new URL(harness.url).port);
    assert.deepEqual(clients[0].attributes, {
      'http.request.method': 'GET',
      'url.full': `${harness.url}/s?X-Goog-Signature=REDACTED&keep=1&status=503`,
      'server.address': '127.0.0.1',
      'server.port': port,
      'network.protocol.version': '1.1',
      'http.response.status_code': 503,
      'error.type': '503',
    });
    assert.deepEqual(clients[0].status, { code: 'ERROR', message: '503 Service Unavailable' });
  });

  describe('failures: ERROR, exception event, error.type; the app sees the same error', () => {
    it('connection refused', async () => {
      const to = `http://127.0.0.1:${await closedPort()}/x`;
      const r = await call(a, to);
      assert.equal(r.error.name, 'TypeError');
      assert.equal(r.error.message, 'fetch failed');
      const { clients } = await clientsOf('fetch-a', to);
      assert.equal(clients[0].status.code, 'ERROR');
      assert.equal(clients[0].attributes['error.type'], 'ECONNREFUSED');
      assert.equal(clients[0].events[0].name, 'exception');
    });

    it('connection reset', async () => {
      const reset = await startResetServer();
      try {
        const to = `${reset.url}/x`;
        const r = await call(a, to);
        assert.equal(r.error.message, 'fetch failed');
        const { clients } = await clientsOf('fetch-a', to);
        assert.equal(clients[0].status.code, 'ERROR');
        assert.match(clients[0].attributes['error.type'], /^(ECONNRESET|UND_ERR_SOCKET)$/);
      } finally {
        await reset.close();
      }
    });

    it('aborted', async () => {
      const to = `${c.url}/hold?case=fabort`;
      const r = await call(a, to, 'fetch', '&abort=100');
      assert.equal(r.error.name, 'AbortError');
      const { clients } = await clientsOf('fetch-a', to);
      assert.equal(clients[0].status.code, 'ERROR');
      assert.equal(clients[0].attributes['error.type'], 'AbortError');
    });

    it('timeout', async () => {
      const to = `${c.url}/hold?case=ftimeout`;
      const r = await call(a, to, 'fetch', '&timeout=100');
      assert.equal(r.error.name, 'TimeoutError');
      const { clients } = await clientsOf('fetch-a', to);
      assert.equal(clients[0].status.code, 'ERROR');
      assert.equal(clients[0].attributes['error.type'], 'TimeoutError');
    });
  });

  it('a body never read: the span still ends, once per request', async () => {
    const to = `${c.url}/hello?case=unread`;
    for (let i = 0; i < 20; i++) assert.equal((await call(a, to, 'fetch', '&read=0')).body, '(unread)');
    const spans = await collector.waitForSpans((list) => list.filter((s) => s.kind === 'CLIENT' && s.attributes['http.url'] === to).length >= 20);
    const clients = spans.filter((s) => s.kind === 'CLIENT' && s.attributes['http.url'] === to);
    assert.equal(clients.length, 20);
    for (const s of clients) assert.equal(s.attributes['http.status_code'], 200);
  });

  it('large bodies never read: no leak, each span ends (not as an error) once the response is collected', async () => {
    const h = runFixture({
      script: path.join(__dirname, 'fixtures', 'http', 'fetch-unread.js'),
      mode: 'require',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_SERVICE_NAME: 'fetch-unread', COUNT: '5' },
    });
    const r = await h.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /statuses 200,200,200,200,200/);
    const mine = (list) => list.filter((s) => s.resource['service.name'] === 'fetch-unread' && s.kind === 'CLIENT');
    const spans = mine(await collector.waitForSpans((list) => mine(list).length >= 5));
    assert.equal(spans.length, 5);
    for (const s of spans) {
      assert.equal(s.status.code, 'UNSET');
      assert.equal(s.attributes['http.status_code'], 200);
      assert.deepEqual(s.events, []);
    }
  });

  it('works in an ES module app (no module hook involved)', async () => {
    const h = runFixture({
      script: path.join(__dirname, 'fixtures', 'http', 'fetch.mjs'),
      mode: 'import',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_SERVICE_NAME: 'fetch-esm', TARGET: `${harness.url}/esm` },
    });
    const r = await h.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /status 200 harness/);
    const spans = await collector.waitForSpans((list) => list.some((s) => s.resource['service.name'] === 'fetch-esm'));
    const client = spans.find((s) => s.resource['service.name'] === 'fetch-esm');
    assert.equal(client.kind, 'CLIENT');
    assert.equal(client.parentSpanId, '');
    assert.equal(harness.last().headers.traceparent, `00-${client.traceId}-${client.spanId}-03`);
    assert.equal(harness.last().headers['x-app'], 'esm');
  });

  it('a subscriber that keeps failing costs the app nothing, warns once and unsubscribes itself', async () => {
    const before = harness.seen.length;
    const h = runFixture({
      script: path.join(__dirname, 'fixtures', 'http', 'fetch-faulty.js'),
      mode: 'require',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_SERVICE_NAME: 'fetch-faulty', TARGET: `${harness.url}/faulty` },
    });
    const r = await h.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'subscribed false\nstatus 200 harness\n');
    const warnings = r.stderr.trim().split('\n');
    assert.equal(warnings.length, 1, r.stderr);
    assert.match(warnings[0], /^\[@acme\/otel-agent\] warn: internal error in fetch \(undici:request:create\)/);
    assert.equal(harness.seen.length, before + 1);
    assert.equal(harness.last().headers.traceparent, undefined);
  });

  it('at the attribute count limit: the version and status code count once each, the captured headers after them are dropped past it', async () => {
    // 4 at the start, the version and the status code: 6; one of the two headers fits.
    const limited = await startApp(collector, {
      OTEL_SERVICE_NAME: 'fetch-limit',
      OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '7',
      OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE: 'x-harness,set-cookie',
    });
    try {
      const to = `${harness.url}/limit?case=f-limit`;
      await call(limited, to);
      // The caller's SERVER span is over the limit too (its http.target may be dropped): find the CLIENT span by its URL.
      const isClient = (s) => s.kind === 'CLIENT' && s.resource['service.name'] === 'fetch-limit' && s.attributes['http.url'] === to;
      const clients = (await collector.waitForSpans((list) => list.some(isClient))).filter(isClient);
      assert.deepEqual(Object.keys(clients[0].attributes).sort(), [
        'http.flavor', 'http.method', 'http.response.header.x_harness', 'http.status_code', 'http.url', 'net.peer.name', 'net.peer.port',
      ]);
      assert.equal(clients[0].attributes['http.status_code'], 200);
      assert.equal(clients[0].droppedAttributesCount, 1);
    } finally {
      await limited.handle.kill();
    }
  });
});
