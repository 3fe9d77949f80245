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
      const r = await transport(s.url).send(body);
      assert.deepEqual(r, { ok: true, error: undefined });
      assert.equal(s.count(), 2);
      assert.ok(Date.now() - t0 >= 700, 'waited a jittered ~1 s backoff');
      await s.close();
    });
  }

  it('honours Retry-After on 429', async () => {
    const s = await server((n, req, res) => (n === 1 ? res.writeHead(429, { 'Retry-After': '2' }).end() : res.writeHead(200).end()));
    const t0 = Date.now();
    assert.equal((await transport(s.url, 5000).send(body)).ok, true);
    assert.ok(Date.now() - t0 >= 1900, `waited ${Date.now() - t0} ms`);
    await s.close();
  });

  it('gives up when Retry-After is beyond the export timeout', async () => {
    const s = await server((n, req, res) => res.writeHead(429, { 'Retry-After': '60' }).end());
    const t0 = Date.now();
    const r = await transport(s.url, 1000).send(body);
    assert.deepEqual(r, { ok: false, error: 'HTTP 429' });
    assert.equal(s.count(), 1);
    assert.ok(Date.now() - t0 < 500);
    await s.close();
  });

  it('does not retry 400 (bad payload) or other final codes', async () => {
    for (const code of [400, 401, 404, 500]) {
      const s = await server((n, req, res) => res.writeHead(code).end('no'));
      const r = await transport(s.url).send(body);
      assert.deepEqual(r, { ok: false, error: `HTTP ${code}` });
      assert.equal(s.count(), 1, `${code} sent once`);
      await s.close();
    }
  });

  it('connection refused: fails within the export timeout, retrying meanwhile', async () => {
    const t0 = Date.now();
    const r = await transport('http://127.0.0.1:1/v1/traces', 1500).send(body);
    assert.equal(r.ok, false);
    assert.match(r.error, /ECONNREFUSED/);
    assert.ok(Date.now() - t0 < 2000);
  });

  it('a blackholed receiver (accepts, never reads or answers) times out at the export timeout', async () => {
    const sockets = [];
    const s = net.createServer((c) => { c.pause(); sockets.push(c); });
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const t0 = Date.now();
    const r = await transport(`http://127.0.0.1:${s.address().port}/`, 800).send(body);
    assert.equal(r.ok, false);
    assert.match(r.error, /no answer within/);
    assert.ok(Date.now() - t0 < 1500);
    sockets.forEach((c) => c.destroy());
    s.close();
  });

  it('a receiver that closes the connection mid-request, then recovers: retried and delivered', async () => {
    const s = await server((n, req, res) => (n === 1 ? req.socket.destroy() : res.writeHead(200).end()));
    assert.equal((await transport(s.url).send(body)).ok, true);
    assert.equal(s.count(), 2);
    await s.close();
  });

  it('a receiver that answers garbage (not HTTP) fails cleanly', async () => {
    const s = net.createServer((c) => c.end('\x00\x01garbage\r\n\r\n'));
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const r = await transport(`http://127.0.0.1:${s.address().port}/`, 1500).send(body);
    assert.equal(r.ok, false);
    s.close();
  });

  it('keeps no handle alive: a process whose export is stuck still exits', async () => {
    const { execFileSync } = require('node:child_process');
    const sockets = [];
    const s = net.createServer((c) => sockets.push(c));
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const code = `const { HttpTransport } = require(${JSON.stringify(require.resolve('../dist/transport'))});
      new HttpTransport({ url: 'http://127.0.0.1:${s.address().port}/', headers: {}, timeoutMs: 30000, gzip: false, userAgent: 't' }).send(new Uint8Array(1));`;
    const t0 = Date.now();
    execFileSync(process.execPath, ['-e', code], { timeout: 10000 });
    assert.ok(Date.now() - t0 < 5000, 'the process did not wait for the 30 s export timeout');
    sockets.forEach((c) => c.destroy());
    s.close();
  });
});
