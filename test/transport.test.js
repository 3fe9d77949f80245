'use strict';
// The OTLP/HTTP transport against real sockets misbehaving in each way the
// OTLP spec names: retryable codes, Retry-After, final codes, dead peers.
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { HttpTransport, parseRetryAfter } = require('../dist/transport');

/** A raw server whose handler decides per request (counted from 1). */
async function server(handler) {
  let n = 0;
  const s = http.createServer((req, res) => {
    n++;
    req.resume();
    req.on('end', () => handler(n, req, res));
  });
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${s.address().port}/v1/traces`, count: () => n, close: () => new Promise((r) => { s.closeAllConnections(); s.close(r); }) };
}

const transport = (url, timeoutMs = 3000) =>
  new HttpTransport({ url, headers: { 'Content-Type': 'application/x-protobuf' }, timeoutMs, gzip: false, userAgent: 'test' });
const body = new Uint8Array([1, 2, 3]);
/** `t.send` as a promise of its result. */
const send = (t, b) => new Promise((resolve) => t.send(b, resolve));

describe('OTLP/HTTP transport', function () {
  this.timeout(15000);

  it('parses Retry-After as seconds or an HTTP date', () => {
    assert.equal(parseRetryAfter('2'), 2000);
    assert.equal(parseRetryAfter(new Date(10_000 + 3000).toUTCString(), 10_000), 3000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });

  for (const code of [502, 503, 504]) {
    it(`retries ${code} with backoff, then succeeds`, async () => {
      const s = await server((n, req, res) => res.writeHead(n === 1 ? code : 200).end());
      const t0 = Date.now();
      const r = await send(transport(s.url), body);
      assert.deepEqual(r, { ok: true, error: undefined });
      assert.equal(s.count(), 2);
      assert.ok(Date.now() - t0 >= 700, 'waited a jittered ~1 s backoff');
      await s.close();
    });
  }

  it('honours Retry-After on 429', async () => {
    const s = await server((n, req, res) => (n === 1 ? res.writeHead(429, { 'Retry-After': '2' }).end() : res.writeHead(200).end()));
    const t0 = Date.now();
    assert.equal((await send(transport(s.url, 5000), body)).ok, true);
    assert.ok(Date.now() - t0 >= 1900, `waited ${Date.now() - t0} ms`);
    await s.close();
  });

  it('gives up when Retry-After is beyond the export timeout', async () => {
    const s = await server((n, req, res) => res.writeHead(429, { 'Retry-After': '60' }).end());
    const t0 = Date.now();
    const r = await send(transport(s.url, 1000), body);
    assert.deepEqual(r, { ok: false, error: 'HTTP 429' });
    assert.equal(s.count(), 1);
    assert.ok(Date.now() - t0 < 500);
    await s.close();
  });

  it('does not retry 400 (bad payload) or other final codes', async () => {
    for (const code of [400, 401, 404, 500]) {
      const s = await server((n, req, res) => res.writeHead(code).end('no'));
      const r = await send(transport(s.url), body);
      assert.deepEqual(r, { ok: false, error: `HTTP ${code}` });
      assert.equal(s.count(), 1, `${code} sent once`);
      await s.close();
    }
  });

  it('connection refused: fails within the export timeout, retrying meanwhile', async () => {
    const t0 = Date.now();
    const r = await send(transport('http://127.0.0.1:1/v1/traces', 1500), body);
    assert.equal(r.ok, false);
    assert.match(r.error, /ECONNREFUSED/);
    assert.ok(Date.now() - t0 < 2000);
  });

  it('a blackholed receiver (accepts, never reads or answers) times out at the export timeout', async () => {
    const sockets = [];
    const s = net.createServer((c) => { c.pause(); sockets.push(c); });
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const t0 = Date.now();
    const r = await send(transport(`http://127.0.0.1:${s.address().port}/`, 800), body);
    assert.equal(r.ok, false);
    assert.match(r.error, /no answer within/);
    assert.ok(Date.now() - t0 < 1500);
    sockets.forEach((c) => c.destroy());
    s.close();
  });

  it('a receiver that closes the connection mid-request, then recovers: retried and delivered', async () => {
    const s = await server((n, req, res) => (n === 1 ? req.socket.destroy() : res.writeHead(200).end()));
    assert.equal((await send(transport(s.url), body)).ok, true);
    assert.equal(s.count(), 2);
    await s.close();
  });

  it('a receiver that answers garbage (not HTTP) fails cleanly', async () => {
    const s = net.createServer((c) => c.end('\x00\x01garbage\r\n\r\n'));
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const r = await send(transport(`http://127.0.0.1:${s.address().port}/`, 1500), body);
    assert.equal(r.ok, false);
    s.close();
  });

  it('speaks HTTP/1.1 as http.request would: path and query, Host, the configured headers, URL credentials as Basic auth, the body; one kept-alive connection', async () => {
    const seen = [];
    let connections = 0;
    const s = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks), version: req.httpVersion });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.alloc(0));
      });
    });
    s.on('connection', () => connections++);
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const port = s.address().port;
    const t = new HttpTransport({
      url: `http://us%40er:p%3Ass@127.0.0.1:${port}/v1/traces?tenant=a`,
      // Names are case-insensitive: the last value given wins, as with setHeader.
      headers: { 'x-api-key': 'k0', 'Content-Type': 'application/x-protobuf', 'X-API-Key': 'k1', 'X-Scope-OrgID': 'org' },
      timeoutMs: 3000,
      gzip: false,
      userAgent: 'acme-test/1',
    });
    for (let i = 0; i < 3; i++) assert.deepEqual(await send(t, body), { ok: true, error: undefined });
    t.close();
    s.close();
    assert.equal(connections, 1, 'one connection for three exports');
    assert.equal(seen.length, 3);
    const r = seen[0];
    assert.equal(r.method, 'POST');
    assert.equal(r.version, '1.1');
    assert.equal(r.url, '/v1/traces?tenant=a');
    assert.equal(r.headers.host, `127.0.0.1:${port}`);
    assert.equal(r.headers['content-type'], 'application/x-protobuf');
    assert.equal(r.headers['content-length'], '3');
    assert.equal(r.headers['user-agent'], 'acme-test/1');
    assert.equal(r.headers['x-api-key'], 'k1', 'one line (two would read "k0, k1")');
    assert.equal(r.headers['x-scope-orgid'], 'org');
    assert.equal(r.headers.authorization, `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
    assert.deepEqual([...r.body], [1, 2, 3]);
  });

  /** A raw TCP receiver: `answer(request number, socket)` writes whatever it likes; counts connections and requests. */
  async function rawServer(answer) {
    let connections = 0;
    let requests = 0;
    let answering = Promise.resolve();
    const sockets = new Set();
    const s = net.createServer((c) => {
      connections++;
      sockets.add(c);
      c.on('close', () => sockets.delete(c));
      let buffered = '';
      c.on('data', (d) => {
        buffered += d.toString('latin1');
        // Each request is a head with Content-Length: 3, then 3 bytes.
        for (let end = buffered.indexOf('\r\n\r\n'); end !== -1 && buffered.length >= end + 7; end = buffered.indexOf('\r\n\r\n')) {
          buffered = buffered.slice(end + 7);
          answering = Promise.resolve(answer(++requests, c));
        }
      });
      c.on('error', () => {});
    });
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${s.address().port}/v1/traces`,
      connections: () => connections,
      requests: () => requests,
      /** Connections open now. */
      open: () => sockets.size,
      /** Resolves once the last answer has been written, and the client has had a moment to read it. */
      answered: () => answering.then(() => new Promise((r) => setTimeout(r, 20))),
      close: () => { sockets.forEach((c) => c.destroy()); s.close(); },
    };
  }

  /** Writes `text` one byte at a time, each in its own TCP segment. */
  async function trickle(socket, text) {
    socket.setNoDelay(true);
    for (const ch of text) {
      if (socket.destroyed) return;
      socket.write(ch);
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  it('reads answers however they are framed and split: chunked (with extensions and trailers), Content-Length, 100 Continue first, byte by byte; the connection carries the next export', async () => {
    const answers = [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nabcd',
      'HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n',
      'HTTP/1.1 204 No Content\r\n\r\n',
    ];
    const s = await rawServer((n, c) => trickle(c, answers[n - 1] ?? answers[0]));
    const t = transport(s.url);
    // The status settles an export; the connection is free for the next one once the answer has been read to its end.
    for (let i = 0; i <= answers.length; i++) {
      assert.deepEqual(await send(t, body), { ok: true, error: undefined }, `answer ${i + 1}`);
      await s.answered();
    }
    assert.equal(s.connections(), 1);
    assert.equal(s.requests(), answers.length + 1);
    t.close();
    s.close();
  });

  it('an answer whose body ends with the connection (HTTP/1.0, no length) or that says Connection: close is read, and the next export opens a new connection', async () => {
    const s = await rawServer((n, c) => {
      if (n === 1) c.end('HTTP/1.0 200 OK\r\n\r\nsome body until close');
      else if (n === 2) c.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
      else c.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    const t = transport(s.url);
    for (let i = 0; i < 3; i++) assert.deepEqual(await send(t, body), { ok: true, error: undefined });
    assert.equal(s.connections(), 3);
    t.close();
    s.close();
  });

  it('a kept-alive connection the receiver drops as the next export arrives: sent again at once on a new connection, no backoff', async () => {
    // The receiver closes the connection on its second request without answering, as one whose idle timeout struck.
    const s = await rawServer((n, c) => (n === 2 ? c.destroy() : c.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')));
    const t = transport(s.url);
    assert.equal((await send(t, body)).ok, true);
    const t0 = Date.now();
    assert.deepEqual(await send(t, body), { ok: true, error: undefined });
    assert.ok(Date.now() - t0 < 500, `took ${Date.now() - t0} ms`);
    assert.equal(s.requests(), 3);
    assert.equal(s.connections(), 2);
    t.close();
    s.close();
  });

  it('answers whose bodies never end hold at most 4 connections: the oldest is closed for the next export, long before the export timeout', async () => {
    // Each answer says 200 (the export succeeds) and then never sends the rest of its body.
    const s = await rawServer((n, c) => c.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nx'));
    const t = transport(s.url, 10000);
    let most = 0;
    try {
      for (let i = 0; i < 6; i++) {
        assert.deepEqual(await send(t, body), { ok: true, error: undefined }, `export ${i + 1}`);
        await s.answered();
        most = Math.max(most, s.open());
      }
      assert.equal(s.connections(), 6, 'no draining connection carried another export');
      assert.equal(most, 4, 'the fifth and sixth exports closed the oldest draining connections');
    } finally {
      t.close();
      s.close();
    }
  });

  it('honours the Keep-Alive timeout hint: a connection the receiver keeps 1 s is not reused', async () => {
    const s = await rawServer((n, c) => c.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 0\r\n\r\n'));
    const t = transport(s.url);
    assert.equal((await send(t, body)).ok, true);
    assert.equal((await send(t, body)).ok, true);
    assert.equal(s.connections(), 2);
    t.close();
    s.close();
  });

  it('a malformed answer (bad chunk size, conflicting lengths) costs its connection: a 200 head still counts, a bad head is retried on a new connection', async () => {
    const s = await rawServer((n, c) => {
      if (n === 1) c.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
      else if (n === 2) c.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
      else c.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    const t = transport(s.url);
    // The head said 200 before the body went wrong: the spans count as delivered, as with Node's client.
    assert.equal((await send(t, body)).ok, true);
    const r = await send(t, body);
    assert.equal(r.ok, true, 'retried after the invalid answer');
    assert.equal(s.connections(), 3);
    t.close();
    s.close();
  });

  it('an invalid header name fails the export with a clear reason', async () => {
    const t = new HttpTransport({ url: 'http://127.0.0.1:1/v1/traces', headers: { 'bad name': 'v' }, timeoutMs: 400, gzip: false, userAgent: 't' });
    const r = await send(t, body);
    assert.deepEqual(r, { ok: false, error: 'Header name must be a valid HTTP token ["bad name"]' });
  });

  it('over https: the receiver\'s certificate is checked against the host name (NODE_EXTRA_CA_CERTS trusts it), and a certificate nobody trusts fails', async function () {
    const { execFileSync } = require('node:child_process');
    const fs = require('node:fs');
    const os = require('node:os');
    const path = require('node:path');
    const https = require('node:https');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otel-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
        '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    } catch {
      this.skip(); // no openssl on this machine
    }
    let got = 0;
    const s = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }, (req, res) => {
      req.resume();
      req.on('end', () => { got++; res.writeHead(200).end(); });
    });
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const run = (host, env) => {
      const code = `const { HttpTransport } = require(${JSON.stringify(require.resolve('../dist/transport'))});
        const t = new HttpTransport({ url: 'https://${host}:${s.address().port}/v1/traces', headers: {}, timeoutMs: 1500, gzip: true, userAgent: 't' });
        // The transport keeps nothing alive (by design): this test's process waits for the answer itself.
        const keep = setInterval(() => {}, 1000);
        t.send(new Uint8Array([1, 2, 3]), (r) => { console.log(JSON.stringify(r)); t.close(); clearInterval(keep); });`;
      return new Promise((resolve) => {
        const child = require('node:child_process').execFile(process.execPath, ['-e', code], { env: { PATH: process.env.PATH, ...env }, timeout: 10000 }, (err, stdout) => resolve(JSON.parse(stdout || 'null')));
        child.on('error', () => {});
      });
    };
    try {
      assert.deepEqual(await run('localhost', { NODE_EXTRA_CA_CERTS: path.join(dir, 'cert.pem') }), { ok: true });
      assert.equal(got, 1);
      const untrusted = await run('localhost', {});
      assert.equal(untrusted.ok, false);
      assert.match(untrusted.error, /self[- ]signed/i);
      const wrongName = await run('127.0.0.1', { NODE_EXTRA_CA_CERTS: path.join(dir, 'cert.pem') });
      assert.equal(wrongName.ok, false);
      assert.match(wrongName.error, /IP: 127\.0\.0\.1 is not in the cert's list|altnames/i);
      assert.equal(got, 1);
    } finally {
      s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a result callback that throws stays inside the agent (no uncaught exception in the app)', async () => {
    const { createOtlpExporter } = require('../dist/exporter');
    const s = await server((n, req, res) => res.writeHead(200).end());
    const exporter = createOtlpExporter({ url: s.url, protocol: 'http/protobuf', headers: {}, timeoutMs: 2000, compression: 'none' }, '0.0.0');
    let called = 0;
    exporter.exportEncoded(body, () => {
      called++;
      throw new Error('a bug in the processor');
    });
    // Mocha fails the test on an uncaught exception in this process.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(called, 1);
    await exporter.shutdown();
    await s.close();
  });

  it('keeps no handle alive: a process whose export is stuck still exits', async () => {
    const { execFileSync } = require('node:child_process');
    const sockets = [];
    const s = net.createServer((c) => sockets.push(c));
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const code = `const { HttpTransport } = require(${JSON.stringify(require.resolve('../dist/transport'))});
      new HttpTransport({ url: 'http://127.0.0.1:${s.address().port}/', headers: {}, timeoutMs: 30000, gzip: false, userAgent: 't' }).send(new Uint8Array(1), () => {});`;
    const t0 = Date.now();
    execFileSync(process.execPath, ['-e', code], { timeout: 10000 });
    assert.ok(Date.now() - t0 < 5000, 'the process did not wait for the 30 s export timeout');
    sockets.forEach((c) => c.destroy());
    s.close();
  });
});

describe('OTLP/HTTP transport in the app', function () {
  this.timeout(30000);
  const { startCollector } = require('./helpers/collector');
  const { runFixture } = require('./helpers/run');
  const path = require('node:path');

  it('exports make no kind of async resource a keep-alive http server does not make itself (no promise, Immediate, HTTP client parser)', async () => {
    const collector = await startCollector();
    const app = runFixture({
      script: path.join(__dirname, 'fixtures', 'core', 'export-kinds.js'),
      mode: 'require',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '20' },
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (p) =>
      new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve(text));
        }).on('error', reject);
      });
    let port;
    try {
      port = await app.waitForPort();
      // The first batches open the export's connection; then the count starts.
      for (let i = 0; i < 60; i++) await get('/warm');
      await collector.waitForSpans(60);
      await get('/start');
      for (let i = 0; i < 200; i++) await get('/x');
      await collector.waitForSpans(261);
      const kinds = JSON.parse(await get('/stop'));
      assert.ok(kinds.TickObject > 0, JSON.stringify(kinds));
      assert.deepEqual(Object.keys(kinds).filter((k) => k !== 'TickObject' && k !== 'Timeout'), [], `kinds made: ${JSON.stringify(kinds)}`);
    } finally {
      agent.destroy();
      await app.kill();
      await collector.close();
    }
  });
});
