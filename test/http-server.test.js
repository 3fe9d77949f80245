'use strict';
// SERVER spans for http/https servers, end to end: the fixture app runs under
// `node --require` and exports to the test collector.
const assert = require('node:assert/strict');
const http = require('node:http');
const { startCollector } = require('./helpers/collector');
const { runFixture } = require('./helpers/run');
const { APP, send, startApp } = require('./fixtures/http/harness');

const CAPTURE = {
  OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST: 'x-req,authorization,x-secret,cookie',
  OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE: 'x-resp,set-cookie,content-type',
  OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS: 'x-sec.*',
  OTEL_NODE_EXCLUDED_URLS: '^/health,/metrics$',
};
const REQUEST_HEADERS = ['User-Agent', 'ua-test', 'X-Req', 'r', 'Authorization', 'Bearer t0ken', 'X-Secret', 's', 'Cookie', 'c=1', 'Content-Type', 'text/plain'];

/** The attributes without the peer port (a different number on every connection). */
function withoutPeerPort(attributes) {
  const a = { ...attributes };
  for (const k of ['net.sock.peer.port', 'network.peer.port']) {
    if (k in a) {
      assert.equal(typeof a[k], 'number');
      delete a[k];
    }
  }
  return a;
}

describe('http server spans', function () {
  let collector;
  const apps = {};

  before(async () => {
    collector = await startCollector();
    const started = await Promise.all([
      startApp(collector, { ...CAPTURE, HTTP_SPEC: 'node:http' }),
      startApp(collector, { ...CAPTURE, OTEL_SEMCONV_STABILITY_OPT_IN: 'http' }),
      startApp(collector, { ...CAPTURE, OTEL_SEMCONV_STABILITY_OPT_IN: 'http/dup', HTTP_SPEC: 'https' }),
    ]);
    [apps.old, apps.stable, apps.dup] = started;
  });
  after(async () => {
    await Promise.all(Object.values(apps).map((a) => a.handle.kill()));
    await collector?.close();
  });

  /** Resolves with the SERVER span whose target or query includes `marker`. */
  async function serverSpan(marker) {
    const match = (s) =>
      s.kind === 'SERVER' && String(s.attributes['http.target'] ?? s.attributes['url.query'] ?? '').includes(marker);
    const spans = await collector.waitForSpans((list) => list.some(match));
    return spans.find(match);
  }

  it('old attribute names by default (node:http): every attribute, request headers captured and masked', async () => {
    const { port } = apps.old;
    const r = await send(port, '/hello?case=old1', { method: 'POST', headers: [...REQUEST_HEADERS, 'Content-Length', '3'], body: 'abc' });
    assert.equal(r.body, 'hello');
    const span = await serverSpan('case=old1');
    assert.equal(span.name, 'POST');
    assert.equal(span.parentSpanId, '');
    assert.equal(span.status.code, 'UNSET');
    assert.deepEqual(withoutPeerPort(span.attributes), {
      'http.method': 'POST',
      'http.scheme': 'http',
      'http.url': `http://127.0.0.1:${port}/hello?case=old1`,
      'http.target': '/hello?case=old1',
      'http.flavor': '1.1',
      'http.user_agent': 'ua-test',
      'http.status_code': 200,
      'http.request_content_length': 3,
      'http.response_content_length': 5,
      'net.host.name': '127.0.0.1',
      'net.host.port': port,
      'net.sock.peer.addr': '127.0.0.1',
      'http.request.header.x_req': ['r'],
      'http.request.header.authorization': ['[REDACTED]'],
      'http.request.header.x_secret': ['[REDACTED]'],
      'http.request.header.cookie': ['[REDACTED]'],
      'http.response.header.content_type': ['text/plain'],
    });
  });

  it('host and port from the Host header: names, IPv6 literals, no port or no valid one (then the port connected to)', async () => {
    const { port } = apps.old;
    const cases = [
      ['example.com:8080', 'example.com', 8080],
      ['example.com', 'example.com', port],
      ['[::1]:8443', '::1', 8443],
      ['[2001:db8::7]', '2001:db8::7', port],
      ['example.com:0080', 'example.com', 80],
      ['example.com:http', 'example.com', port],
      ['example.com:99999', 'example.com', port],
      ['example.com:', 'example.com', port],
      ['example.com:8080', 'example.com', 8080],
    ];
    for (const [i, [host, name, hostPort]] of cases.entries()) {
      await send(port, `/hello?case=host${i}`, { host });
      const a = (await serverSpan(`case=host${i}`)).attributes;
      assert.deepEqual([a['net.host.name'], a['net.host.port'], a['http.url']], [name, hostPort, `http://${host}/hello?case=host${i}`], host);
    }
    // The same target under other hosts, one after the other: http.url is not the previous span's.
    const hosts = ['a.example:81', 'b.example:82', 'b.example:82', 'a.example:81'];
    for (const host of hosts) await send(port, '/hello?case=samepath', { host });
    const match = (s) => s.kind === 'SERVER' && s.attributes['http.target'] === '/hello?case=samepath';
    const spans = (await collector.waitForSpans((list) => list.filter(match).length >= hosts.length)).filter(match);
    assert.deepEqual(spans.map((s) => s.attributes['http.url']).sort(), hosts.map((h) => `http://${h}/hello?case=samepath`).sort());
  });

  it('OTEL_SEMCONV_STABILITY_OPT_IN=http: stable names only', async () => {
    const { port } = apps.stable;
    await send(port, '/hello?case=st1&AWSAccessKeyId=AKIA&Signature=s1g', { method: 'POST', headers: REQUEST_HEADERS, body: 'abc' });
    const span = await serverSpan('case=st1');
    assert.equal(span.name, 'POST');
    assert.deepEqual(withoutPeerPort(span.attributes), {
      'http.request.method': 'POST',
      'url.scheme': 'http',
      'url.path': '/hello',
      'url.query': 'case=st1&AWSAccessKeyId=REDACTED&Signature=REDACTED',
      'network.protocol.version': '1.1',
      'user_agent.original': 'ua-test',
      'http.response.status_code': 200,
      'server.address': '127.0.0.1',
      'server.port': port,
      'client.address': '127.0.0.1',
      'network.peer.address': '127.0.0.1',
      'http.request.header.x-req': ['r'],
      'http.request.header.authorization': ['[REDACTED]'],
      'http.request.header.x-secret': ['[REDACTED]'],
      'http.request.header.cookie': ['[REDACTED]'],
      'http.response.header.content-type': ['text/plain'],
    });
    await send(port, '/hello?case=st2', { headers: ['X-Forwarded-For', '203.0.113.7, 10.0.0.1'] });
    assert.equal((await serverSpan('case=st2')).attributes['client.address'], '203.0.113.7');
  });

  it('http/dup: both sets of names (https server)', async () => {
    const { port } = apps.dup;
    const https = require('node:https');
    const ca = require('node:fs').readFileSync(require('node:path').join(__dirname, 'fixtures/http/cert.pem'));
    await new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/hello?case=dup1', ca, headers: { 'user-agent': 'ua-test' } }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    const a = (await serverSpan('case=dup1')).attributes;
    for (const [k, v] of Object.entries({
      'http.method': 'GET',
      'http.request.method': 'GET',
      'http.scheme': 'https',
      'url.scheme': 'https',
      'http.url': `https://127.0.0.1:${port}/hello?case=dup1`,
      'http.target': '/hello?case=dup1',
      'url.path': '/hello',
      'url.query': 'case=dup1',
      'http.status_code': 200,
      'http.response.status_code': 200,
      'net.host.name': '127.0.0.1',
      'server.address': '127.0.0.1',
      'net.host.port': port,
      'server.port': port,
      'http.flavor': '1.1',
      'network.protocol.version': '1.1',
      'http.user_agent': 'ua-test',
      'user_agent.original': 'ua-test',
      'net.sock.peer.addr': '127.0.0.1',
      'network.peer.address': '127.0.0.1',
      'http.response.header.content_type': ['text/plain'],
      'http.response.header.content-type': ['text/plain'],
    })) {
      assert.deepEqual(a[k], v, k);
    }
  });

  it('statuses: 200 and 404 leave the status unset, 5xx is ERROR with a message (error.type in stable mode)', async () => {
    for (const [app, tag] of [[apps.old, 'o'], [apps.stable, 's']]) {
      for (const code of [200, 404, 500, 503]) await send(app.port, `/status/${code}?case=status-${tag}-${code}`);
    }
    for (const code of [200, 404]) {
      assert.equal((await serverSpan(`status-o-${code}`)).status.code, 'UNSET');
      assert.equal((await serverSpan(`status-o-${code}`)).attributes['http.status_code'], code);
    }
    const e500 = await serverSpan('status-o-500');
    assert.deepEqual(e500.status, { code: 'ERROR', message: '500 Internal Server Error' });
    assert.equal(e500.attributes['error.type'], undefined, 'old names only by default');
    const s503 = await serverSpan('status-s-503');
    assert.deepEqual(s503.status, { code: 'ERROR', message: '503 Service Unavailable' });
    assert.equal(s503.attributes['error.type'], '503');
    assert.equal(s503.attributes['http.response.status_code'], 503);
    assert.equal((await serverSpan('status-s-404')).attributes['error.type'], undefined);
  });

  it('the status code is the one sent: not a statusCode set after writeHead; a string status as Node reads it', async () => {
    for (const [app, tag] of [[apps.old, 'o'], [apps.stable, 's']]) {
      assert.equal((await send(app.port, `/sent/changed?case=sent-${tag}-changed`)).status, 201);
      assert.equal((await send(app.port, `/sent/string?case=sent-${tag}-string`)).status, 202);
    }
    const changed = await serverSpan('sent-o-changed');
    assert.equal(changed.attributes['http.status_code'], 201);
    assert.equal(changed.status.code, 'UNSET');
    const stable = await serverSpan('sent-s-changed');
    assert.equal(stable.attributes['http.response.status_code'], 201);
    assert.equal(stable.attributes['error.type'], undefined);
    assert.equal((await serverSpan('sent-o-string')).attributes['http.status_code'], 202);
    assert.equal((await serverSpan('sent-s-string')).attributes['http.response.status_code'], 202);
  });

  it('an idle keep-alive connection keeps neither its last request\'s span nor its context alive; code that runs later still sees its ids', async () => {
    // Node arms each connection's keep-alive timer when the response finishes, and the timer
    // holds the context it was made in until the connection's next request: the agent emits
    // `finish` in the root context when only Node listens to it (an app's listener still runs in
    // the request's, below).
    const handle = runFixture({
      script: require('node:path').join(__dirname, 'fixtures', 'http', 'keepalive.js'),
      mode: 'require',
      timeoutMs: 60000,
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_SERVICE_NAME: 'keepalive-test' },
    });
    try {
      const port = await handle.waitForPort();
      const agent = new http.Agent({ keepAlive: true });
      const N = 20;
      await Promise.all(Array.from({ length: N }, () => new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/span', agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
      })));
      assert.equal(agent.totalSocketCount, N);
      const spans = await collector.waitForSpans((list) => list.filter((s) => s.resource['service.name'] === 'keepalive-test' && s.name === 'late child').length === N);
      const mine = spans.filter((s) => s.resource['service.name'] === 'keepalive-test');
      const servers = new Map(mine.filter((s) => s.kind === 'SERVER').map((s) => [s.spanId, s]));
      assert.equal(servers.size, N);
      // The export is done once the collector has every span; poll the count a little while the
      // agent lets go of its batch (the connections stay idle and open all along).
      let report;
      for (const deadline = Date.now() + 3000; ;) {
        report = JSON.parse((await send(port, '/alive')).body);
        if ((report.alive === 0 && report.contexts === 0) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(report.of, N);
      assert.equal(report.alive, 0, `${report.alive} of ${N} spans still reachable from ${agent.totalSocketCount} idle connections`);
      assert.equal(report.contexts, 0, `${report.contexts} of ${N} request contexts still reachable from ${agent.totalSocketCount} idle connections`);
      // Code that ran after the response, in the request's context: the server span's ids, not recording.
      assert.equal(report.late.length, N);
      for (const l of report.late) {
        const server = servers.get(l.spanId);
        assert.ok(server, `late code saw span ${l.spanId}, not a server span`);
        assert.equal(l.traceId, server.traceId);
        assert.equal(l.recording, false);
      }
      // Its child spans are the server spans' children.
      const children = mine.filter((s) => s.name === 'late child');
      assert.deepEqual(new Set(children.map((c) => c.parentSpanId)), new Set(servers.keys()));
      for (const c of children) assert.equal(c.traceId, servers.get(c.parentSpanId).traceId);
      // A `finish` listener of the app's runs in its request's context.
      await new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/finish', agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
      });
      const [finishSpan] = (await collector.waitForSpans((list) => list.some((s) => s.attributes['url.path'] === '/finish' || s.attributes['http.target'] === '/finish')))
        .filter((s) => s.attributes['url.path'] === '/finish' || s.attributes['http.target'] === '/finish');
      report = JSON.parse((await send(port, '/alive')).body);
      assert.deepEqual(report.finished, [finishSpan.spanId]);
      agent.destroy();
    } finally {
      await handle.kill();
    }
  });

  it('names: the method, never the path; unknown methods are _OTHER', async () => {
    await send(apps.old.port, '/hello?case=m1', { method: 'PROPFIND' });
    await send(apps.stable.port, '/hello?case=m2', { method: 'PROPFIND' });
    const old = await serverSpan('case=m1');
    assert.equal(old.name, '_OTHER');
    assert.equal(old.attributes['http.method'], '_OTHER');
    const stable = await serverSpan('case=m2');
    assert.equal(stable.name, '_OTHER');
    assert.equal(stable.attributes['http.request.method'], '_OTHER');
    assert.equal(stable.attributes['http.request.method_original'], 'PROPFIND');
  });

  it('incoming traceparent: valid continues the trace, invalid or absent starts a new one', async () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    await send(apps.old.port, '/hello?case=tp-valid', { headers: ['traceparent', `00-${trace}-00f067aa0ba902b7-01`] });
    await send(apps.old.port, '/hello?case=tp-invalid', { headers: ['traceparent', `00-${trace}-0000000000000000-01`] });
    await send(apps.old.port, '/hello?case=tp-absent');
    const valid = await serverSpan('tp-valid');
    assert.equal(valid.traceId, trace);
    assert.equal(valid.parentSpanId, '00f067aa0ba902b7');
    const invalid = await serverSpan('tp-invalid');
    assert.notEqual(invalid.traceId, trace);
    assert.equal(invalid.parentSpanId, '');
    assert.equal((await serverSpan('tp-absent')).parentSpanId, '');
  });

  it('excluded URLs get no span', async () => {
    await send(apps.old.port, '/health?case=ex1');
    await send(apps.old.port, '/x/metrics');
    await send(apps.old.port, '/hello?case=ex2');
    await serverSpan('case=ex2');
    await new Promise((r) => setTimeout(r, 200));
    const spans = collector.spans().filter((s) => s.kind === 'SERVER' && /health|metrics/.test(String(s.attributes['http.target'])));
    assert.deepEqual(spans, []);
  });

  it('response headers from setHeader and from writeHead alone are captured, cookies masked', async () => {
    await send(apps.old.port, '/setheader?case=rh1');
    await send(apps.old.port, '/writehead?case=rh2');
    const a1 = (await serverSpan('case=rh1')).attributes;
    assert.deepEqual(a1['http.response.header.x_resp'], ['r2']);
    assert.deepEqual(a1['http.response.header.set_cookie'], ['[REDACTED]']);
    const a2 = (await serverSpan('case=rh2')).attributes;
    assert.equal(a2['http.status_code'], 201);
    assert.equal(a2['http.response_content_length'], 2);
    assert.deepEqual(a2['http.response.header.x_resp'], ['r1']);
    assert.deepEqual(a2['http.response.header.set_cookie'], ['[REDACTED]']);
  });

  it('http.response_content_length is the Content-Length the client received, and absent when none was sent', async () => {
    const { port } = apps.old;
    /** An HTTP/1.0 request on a raw socket: Node sends no Content-Length then and closes the connection. */
    const http10 = (urlPath) =>
      new Promise((resolve, reject) => {
        let text = '';
        const socket = require('node:net').connect(port, '127.0.0.1', () => socket.write(`GET ${urlPath} HTTP/1.0\r\nHost: x\r\n\r\n`));
        socket.setEncoding('latin1').on('data', (c) => (text += c)).on('error', reject);
        socket.on('end', () => {
          const m = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, text.indexOf('\r\n\r\n')));
          resolve({ headers: m ? { 'content-length': m[1] } : {} });
        });
      });
    const cases = [
      ['/length/computed', {}],
      ['/length/zero', {}],
      ['/length/buffer', {}],
      ['/length/chunked', {}],
      ['/length/removed', {}],
      ['/length/array', {}],
      ['/length/set', {}],
      ['/length/head-object', {}],
      ['/length/head-reason', {}],
      ['/length/head-pairs', {}],
      ['/length/head-none', {}],
      ['/length/head-merged', {}],
      ['/length/writeheader', {}],
      ['/length/computed', { method: 'HEAD' }],
      ['/status/204', {}],
      ['/status/304', {}],
      ['/writehead', {}],
      ['/length/computed', { http10: true }],
    ];
    for (const [i, [route, how]] of cases.entries()) {
      const target = `${route}?case=len${i}`;
      const r = how.http10 ? await http10(target) : await send(port, target, how);
      const sent = r.headers['content-length'];
      const a = (await serverSpan(`case=len${i}`)).attributes;
      assert.equal(a['http.response_content_length'], sent === undefined ? undefined : Number(sent), `${route} ${JSON.stringify(how)}`);
    }
  });

  it('the app sees exactly the same responses as without the agent (status, body, header names and order, keep-alive)', async () => {
    const plain = await startApp(null, {}, 'none');
    try {
      for (const route of ['/hello', '/writehead', '/setheader', '/status/500', '/nope', '/echo']) {
        const headers = ['Connection', 'keep-alive', 'X-Req', 'r'];
        const [a, b] = await Promise.all([send(apps.old.port, route, { headers }), send(plain.port, route, { headers })]);
        const shape = (r) => ({
          status: r.status,
          body: route === '/echo' ? JSON.parse(r.body).rawHeaders.filter((h, i, all) => i % 2 === 0 || all[i - 1] !== 'Host') : r.body,
          headers: r.rawHeaders.map((h, i, all) => (i % 2 === 1 && all[i - 1] === 'Date' ? '(date)' : h)),
        });
        assert.deepEqual(shape(a), shape(b), route);
      }
    } finally {
      await plain.handle.kill();
    }
  });

  it('a client that goes away before the response: ERROR, error.type aborted', async () => {
    await new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: apps.old.port, path: '/hold?case=gone', agent: false });
      req.on('error', () => resolve());
      setTimeout(() => req.destroy(), 150);
    });
    const span = await serverSpan('case=gone');
    assert.equal(span.status.code, 'ERROR');
    assert.equal(span.status.message, 'connection closed before a response was sent');
    assert.equal(span.attributes['error.type'], 'aborted');
    assert.equal(span.attributes['http.status_code'], undefined);
  });

  it('body events run in the span context: a call made after reading the body is its child', async () => {
    const to = encodeURIComponent(`http://127.0.0.1:${apps.old.port}/hello?case=body-child`);
    const r = await send(apps.old.port, `/body-call?case=body-parent&to=${to}`, { method: 'POST', body: 'x'.repeat(100000) });
    assert.equal(JSON.parse(r.body).body, 'hello');
    const parent = await serverSpan('case=body-parent');
    const child = await serverSpan('case=body-child');
    const client = collector.spans().find((s) => s.spanId === child.parentSpanId);
    assert.equal(client.kind, 'CLIENT');
    assert.equal(client.parentSpanId, parent.spanId);
    assert.equal(child.traceId, parent.traceId);
  });

  describe('a request listener that throws', () => {
    it('without an uncaughtException handler: the process dies as before, the span is exported with the exception', async () => {
      const run = async (mode) => {
        const h = runFixture({ script: APP, mode, env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl } });
        const port = await h.waitForPort();
        await send(port, '/throw?case=crash').catch((err) => err);
        return h.exited;
      };
      const [withAgent, without] = await Promise.all([run('require'), run('none')]);
      assert.equal(withAgent.code, without.code);
      assert.equal(withAgent.code, 1);
      assert.match(withAgent.stderr, /TypeError: listener boom/);
      assert.equal(withAgent.stderr.match(/TypeError: listener boom/g).length, without.stderr.match(/TypeError: listener boom/g).length);
      const span = await serverSpan('case=crash');
      assert.deepEqual(span.status, { code: 'ERROR', message: 'listener boom' });
      assert.equal(span.events.length, 1);
      assert.equal(span.events[0].name, 'exception');
      assert.equal(span.events[0].attributes['exception.type'], 'TypeError');
      assert.equal(span.events[0].attributes['exception.message'], 'listener boom');
      assert.match(span.events[0].attributes['exception.stacktrace'], /TypeError: listener boom\n\s+at /);
      assert.equal(span.attributes['error.type'], 'TypeError');
    });

    it('with an uncaughtException handler that answers: the span waits for the response', async () => {
      const app = await startApp(collector, { ON_THROW: 'survive' });
      try {
        const r = await send(app.port, '/throw?case=survive');
        assert.equal(r.status, 500);
        assert.equal(r.body, 'survived');
        await app.handle.waitForOutput('uncaught listener boom');
        const span = await serverSpan('case=survive');
        assert.equal(span.status.code, 'ERROR');
        assert.equal(span.status.message, 'listener boom');
        assert.equal(span.attributes['http.status_code'], 500);
        assert.equal(span.events.filter((e) => e.name === 'exception').length, 1);
      } finally {
        await app.handle.kill();
      }
    });
  });
});

describe('http server spans at the attribute count limit', function () {
  this.timeout(30000);
  it('the response\'s attributes count once each: an app-set http.status_code is replaced, the limit holds for what comes after', async () => {
    const collector = await startCollector();
    const app = await startApp(collector, { OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '14', OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE: 'x-a,x-b,x-c,x-d' });
    try {
      assert.equal((await send(app.port, '/preset?case=limit')).body, 'preset');
      const [span] = await collector.waitForSpans((list) => list.some((s) => s.kind === 'SERVER'));
      // 9 at the start, the app's 1, then the length (the status code was there): 11; three of the four headers fit.
      assert.deepEqual(Object.keys(span.attributes).sort(), [
        'http.flavor', 'http.method', 'http.response.header.x_a', 'http.response.header.x_b', 'http.response.header.x_c',
        'http.response_content_length', 'http.scheme', 'http.status_code', 'http.target', 'http.url',
        'net.host.name', 'net.host.port', 'net.sock.peer.addr', 'net.sock.peer.port',
      ]);
      assert.equal(span.attributes['http.status_code'], 200);
      assert.equal(span.attributes['http.response_content_length'], 6);
      assert.equal(span.droppedAttributesCount, 1);
    } finally {
      await app.handle.kill();
      await collector.close();
    }
  });
});

describe('header lookup in a raw [name, value, ...] list (undici, rawHeaders)', () => {
  const { rawHeader } = require('../dist/http-spans');
  it('matches whole names case-insensitively, every value in order; Buffer names (undici responses) too', () => {
    const raw = ['X-App', 'a1', 'x-ap', 'no', 'x-app-2', 'no', 'x-APP', 'a2', Buffer.from('X-App'), Buffer.from('a3'), 'K\u212a', 'kelvin'];
    assert.deepEqual(rawHeader(raw, 'x-app'), ['a1', 'a2', 'a3']);
    assert.deepEqual(rawHeader(raw, 'x-app-2'), ['no']);
    assert.equal(rawHeader(raw, 'x-missing'), undefined);
    // What toLowerCase makes of a name decides, as before: the Kelvin sign lower-cases to k.
    assert.deepEqual(rawHeader(raw, 'kk'), ['kelvin']);
    assert.equal(rawHeader(['x-app'], 'x-app'), undefined, 'a name without a value');
  });
});

describe('outgoing header lookup in the header block Node wrote', () => {
  const { outgoingHeader } = require('../dist/http-spans');
  // getHeader() knows nothing: the headers went to writeHead(code, headers) alone.
  const msg = (raw) => ({ getHeader: () => undefined, _header: raw });

  it('matches names case-insensitively and only whole names, first occurrence wins', () => {
    const raw = 'HTTP/1.1 200 OK\r\nContent-Length-X: 9\r\ncontent-lengthx: 8\r\nCONTENT-LENGTH:  12 \r\nContent-Length: 13\r\n\r\n';
    assert.equal(outgoingHeader(msg(raw), 'content-length'), '12');
    assert.equal(outgoingHeader(msg(raw), 'content-length-x'), '9');
    assert.equal(outgoingHeader(msg(raw), 'x-missing'), undefined);
    // A short line ('x') must not join the next ('-a: 1') into a match for 'x-a'.
    assert.equal(outgoingHeader(msg('HTTP/1.1 200 OK\r\nx\r\n-a: 1\r\nx-a: 2\r\n\r\n'), 'x-a'), '2');
    assert.equal(outgoingHeader(msg('HTTP/1.1 200 OK\r\nX_Resp_2: r\r\n\r\n'), 'x_resp_2'), 'r');
    assert.equal(outgoingHeader({ getHeader: () => 'set', _header: raw }, 'content-length'), 'set');
  });
});

describe('server span names from framework routes', () => {
  const { ROOT_CONTEXT } = require('@opentelemetry/api');
  const { ServerContext, setRoute } = require('../dist/server-span');
  const { kContext } = require('../dist/context');
  /** A request as the http instrumentation leaves it, its span recording what setRoute does to it. */
  function served(method) {
    const seen = {};
    const span = { updateName: (name) => (seen.name = name), setAttribute: (k, v) => (seen[k] = v) };
    return { seen, req: { [kContext]: new ServerContext(ROOT_CONTEXT, { span, method }) } };
  }

  it('names each span METHOD route whatever pairs came before, past the name cache\'s bound too', () => {
    const pairs = [['GET', '/a'], ['POST', '/a'], ['GET', '/a'], ['GET', '/b'], ['_OTHER', '/a'], ['GET', '/café/:x'], ['GET', '/\ud800'], ['GET', '/a']];
    for (let i = 0; i < 1200; i++) pairs.push(['GET', `/r/${i}`], ['PUT', `/r/${i % 7}`], ['GET', '/a']);
    // Routes equal to earlier ones but made anew (as mount prefixes are joined per request).
    pairs.push(['POST', '/a'], ['GET', ['/r/', '3'].join('')], ['PUT', ['/r/', '3'].join('')]);
    for (const [method, route] of pairs) {
      const { seen, req } = served(method);
      setRoute(req, route);
      assert.equal(seen.name, `${method} ${route}`);
      assert.equal(seen['http.route'], route);
    }
  });
});
