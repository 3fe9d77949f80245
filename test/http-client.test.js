'use strict';
// CLIENT spans for http.request/http.get/https.request/https.get, end to end:
// service A (under the agent) calls service B or C (under the agent too) or the
// test's own harness server, and the spans link up across the services.
const assert = require('node:assert/strict');
const { startCollector } = require('./helpers/collector');
const { closedPort, sendJson, startApp, startHarness, startResetServer } = require('./fixtures/http/harness');

const CAPTURE = {
  OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST: 'x-app,authorization',
  OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE: 'x-harness,set-cookie',
};

describe('http client spans', function () {
  let collector;
  let harness;
  let a; // http, old names, calls out
  let b; // https (node:https)
  let c; // node:http
  let dup; // http/dup names, calls out

  before(async () => {
    collector = await startCollector();
    harness = await startHarness();
    [a, b, c, dup] = await Promise.all([
      startApp(collector, { ...CAPTURE, OTEL_SERVICE_NAME: 'svc-a' }),
      startApp(collector, { HTTP_SPEC: 'node:https', OTEL_SERVICE_NAME: 'svc-b' }),
      startApp(collector, { HTTP_SPEC: 'node:http', OTEL_SERVICE_NAME: 'svc-c' }),
      startApp(collector, { OTEL_SEMCONV_STABILITY_OPT_IN: 'http/dup', OTEL_SERVICE_NAME: 'svc-dup' }),
    ]);
  });
  after(async () => {
    await Promise.all([a, b, c, dup].filter(Boolean).map((x) => x.handle.kill()));
    await harness?.close();
    await collector?.close();
  });

  /** Has `from` call `to` (a URL) the way `via` says; resolves with what the app saw. */
  function call(from, to, via = 'request', extra = '') {
    return sendJson(from.port, `/call?to=${encodeURIComponent(to)}&via=${via}${extra}`);
  }

  /** The CLIENT spans of the trace whose SERVER span in `service` served `/call` for `to`. */
  async function traceOf(service, to) {
    const isCaller = (s) =>
      s.kind === 'SERVER' && s.resource['service.name'] === service && String(s.attributes['http.target'] ?? s.attributes['url.query']).includes(encodeURIComponent(to));
    let spans = await collector.waitForSpans((list) => list.some(isCaller));
    const caller = spans.find(isCaller);
    spans = await collector.waitForSpans((list) => list.some((s) => s.kind === 'CLIENT' && s.parentSpanId === caller.spanId));
    const clients = spans.filter((s) => s.kind === 'CLIENT' && s.parentSpanId === caller.spanId);
    return { caller, clients, client: clients[0] };
  }

  /** The SERVER span in `service` whose parent is `client`. */
  async function calleeOf(client) {
    const spans = await collector.waitForSpans((list) => list.some((s) => s.kind === 'SERVER' && s.parentSpanId === client.spanId));
    return spans.find((s) => s.kind === 'SERVER' && s.parentSpanId === client.spanId);
  }

  for (const via of ['request', 'get', 'get-options', 'request-frozen', 'request-array']) {
    it(`${via}: one CLIENT span, the callee's SERVER span its child, the caller's headers untouched`, async () => {
      const to = `${c.url}/echo?via=${via}`;
      const r = await call(a, to, via);
      assert.equal(r.status, 200);
      const echo = JSON.parse(r.body);
      const { caller, clients, client } = await traceOf('svc-a', to);
      assert.equal(clients.length, 1, 'traced once');
      assert.equal(client.name, 'GET');
      assert.equal(client.traceId, caller.traceId);
      const callee = await calleeOf(client);
      assert.equal(callee.resource['service.name'], 'svc-c');
      assert.equal(callee.traceId, caller.traceId);
      assert.equal(echo.headers.traceparent, `00-${client.traceId}-${client.spanId}-03`);
      if (via !== 'request' && via !== 'get') {
        assert.equal(echo.headers['x-app'], 'a1');
        assert.equal(echo.headers['x-other'], 'o1');
        const names = echo.rawHeaders.filter((_, i) => i % 2 === 0);
        assert.ok(names.indexOf('x-app') < names.indexOf('X-Other'), `caller's header order kept: ${names}`);
        assert.ok(names.indexOf('X-Other') < names.indexOf('traceparent'), `ours come after the caller's: ${names}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
      const all = collector.spans().filter((s) => s.kind === 'CLIENT' && s.parentSpanId === caller.spanId);
      assert.equal(all.length, 1, 'no second CLIENT span arrived later');
    });
  }

  it('request keeps Host and the caller headers first, ours last', async () => {
    const to = `${c.url}/echo?case=order`;
    const echo = JSON.parse((await call(a, to, 'request-frozen')).body);
    const names = echo.rawHeaders.filter((_, i) => i % 2 === 0);
    assert.deepEqual(names.slice(0, 3), ['x-app', 'X-Other', 'Host']);
    assert.deepEqual(names.slice(3).filter((n) => n !== 'Connection'), ['traceparent']);
  });

  it('a traceparent the caller set is not replaced', async () => {
    const to = `${c.url}/echo?case=own`;
    const echo = JSON.parse((await call(a, to, 'request-own-traceparent')).body);
    assert.equal(echo.headers.traceparent, '00-11111111111111111111111111111111-2222222222222222-01');
  });

  it('https.request and https.get: through the https agent to an https service', async () => {
    for (const via of ['request', 'get']) {
      const to = `${b.url.replace('http:', 'https:')}/hello?via=${via}`;
      const r = await call(a, to, via);
      assert.equal(r.body, 'hello');
      const { clients, client } = await traceOf('svc-a', to);
      assert.equal(clients.length, 1);
      assert.equal(client.attributes['http.url'], to);
      assert.equal(client.attributes['net.peer.port'], b.port);
      const callee = await calleeOf(client);
      assert.equal(callee.resource['service.name'], 'svc-b');
      assert.equal(callee.attributes['http.scheme'], 'https');
    }
  });

  it('old attributes; credentials and signed query parameters redacted; headers captured and masked', async () => {
    const to = `${harness.url}/x?AWSAccessKeyId=AKIA1&Signature=abc&sig=s1&X-Goog-Signature=g1&keep=1`;
    const r = await call(a, to, 'request-auth');
    assert.equal(r.status, 200);
    assert.match(harness.last().headers.authorization, /^Basic /, 'the app still sends its credentials');
    const { client } = await traceOf('svc-a', to);
    assert.equal(client.status.code, 'UNSET');
    assert.deepEqual(client.attributes, {
      'http.method': 'GET',
      'http.url': `http://REDACTED:REDACTED@127.0.0.1:${new URL(harness.url).port}/x?AWSAccessKeyId=REDACTED&Signature=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED&keep=1`,
      'net.peer.name': '127.0.0.1',
      'net.peer.port': Number(new URL(harness.url).port),
      'http.flavor': '1.1',
      'http.status_code': 200,
      'http.request.header.authorization': ['[REDACTED]'],
      'http.response.header.x_harness': ['h1'],
      'http.response.header.set_cookie': ['[REDACTED]'],
    });
  });

  it('http/dup: both sets of names; status >= 400 is ERROR', async () => {
    const to = `${harness.url}/x?status=404`;
    await call(dup, to);
    const { client } = await traceOf('svc-dup', to);
    const port = Number(new URL(harness.url).port);
    assert.deepEqual(client.attributes, {
      'http.method': 'GET',
      'http.request.method': 'GET',
      'http.url': to,
      'url.full': to,
      'net.peer.name': '127.0.0.1',
      'server.address': '127.0.0.1',
      'net.peer.port': port,
      'server.port': port,
      'http.flavor': '1.1',
      'network.protocol.version': '1.1',
      'http.status_code': 404,
      'http.response.status_code': 404,
      'error.type': '404',
    });
    assert.deepEqual(client.status, { code: 'ERROR', message: '404 Not Found' });
  });

  describe('transport errors: ERROR, an exception event, error.type; the app sees the same error', () => {
    async function failing(to, extra, expectedCode) {
      const r = await call(a, to, 'request', extra);
      assert.equal(r.error?.code, expectedCode, JSON.stringify(r));
      const { client } = await traceOf('svc-a', to);
      assert.equal(client.status.code, 'ERROR');
      return { r, client };
    }

    it('connection refused', async () => {
      const to = `http://127.0.0.1:${await closedPort()}/x`;
      const { r, client } = await failing(to, '', 'ECONNREFUSED');
      assert.equal(client.status.message, r.error.message);
      assert.equal(client.attributes['error.type'], 'ECONNREFUSED');
      assert.equal(client.events[0].name, 'exception');
      assert.equal(client.events[0].attributes['exception.message'], r.error.message);
    });

    it('connection reset', async () => {
      const reset = await startResetServer();
      try {
        const { client } = await failing(`${reset.url}/x`, '', 'ECONNRESET');
        assert.equal(client.attributes['error.type'], 'ECONNRESET');
        assert.equal(client.events.length, 1);
      } finally {
        await reset.close();
      }
    });

    it('timeout (the app destroys the request from its timeout handler)', async () => {
      const { client } = await failing(`${c.url}/hold?case=timeout`, '&timeout=100', 'APP_TIMEOUT');
      assert.equal(client.attributes['error.type'], 'timeout');
      assert.equal(client.status.message, 'app timeout');
    });

    it('aborted by the app', async () => {
      const { client } = await failing(`${c.url}/hold?case=abort`, '&abort=100', 'ECONNRESET');
      assert.equal(client.attributes['error.type'], 'ECONNRESET');
    });
  });

  it('requests to the OTLP endpoint are never traced', async () => {
    const to = collector.tracesUrl;
    const r = await sendJson(a.port, `/call?to=${encodeURIComponent(to)}&via=request&method=POST`);
    assert.ok(r.status >= 400, JSON.stringify(r));
    await call(a, `${harness.url}/after-otlp`);
    await traceOf('svc-a', `${harness.url}/after-otlp`);
    const port = new URL(collector.tracesUrl).port;
    const toCollector = collector.spans().filter((s) => s.kind === 'CLIENT' && String(s.attributes['http.url'] ?? s.attributes['url.full']).includes(`:${port}/`));
    assert.deepEqual(toCollector, []);
  });

  it('at the attribute count limit: the version and status code count once each, the captured headers after them are dropped past it', async () => {
    const limited = await startApp(collector, {
      OTEL_SERVICE_NAME: 'svc-limit',
      OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '7',
      OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE: 'x-harness,set-cookie',
    });
    try {
      const to = `${harness.url}/limit?case=h-limit`;
      await call(limited, to);
      // The caller's SERVER span is over the limit too (its http.target may be dropped): find the CLIENT span by its URL.
      const isClient = (s) => s.kind === 'CLIENT' && s.resource['service.name'] === 'svc-limit' && s.attributes['http.url'] === to;
      const client = (await collector.waitForSpans((list) => list.some(isClient))).find(isClient);
      // 4 at the start, the version and the status code: 6; one of the two headers fits.
      assert.deepEqual(Object.keys(client.attributes).sort(), [
        'http.flavor', 'http.method', 'http.response.header.x_harness', 'http.status_code', 'http.url', 'net.peer.name', 'net.peer.port',
      ]);
      assert.equal(client.attributes['http.status_code'], 200);
      assert.equal(client.droppedAttributesCount, 1);
    } finally {
      await limited.handle.kill();
    }
  });
});
