'use strict';
// Issue 9: what happens to the app when a library update or the agent itself
// goes wrong. Libraries shaped wrongly on purpose (versions in range, internals
// moved, getters that throw), frozen core modules, modules loaded before the
// agent, and the agent's own span machinery failing on every call: the app
// answers as it would without the agent, each failure is said once, the other
// instrumentations keep working.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startCollector } = require('./helpers/collector');
const { runFixture, request, AGENT, REPO } = require('./helpers/run');

const FIX = path.join(__dirname, 'fixtures', 'reliability');
const HTTP_ON = fs.existsSync(path.join(REPO, 'dist', 'instrumentations', 'http.js'));
const PG_ON = fs.existsSync(path.join(REPO, 'dist', 'instrumentations', 'pg.js'));
const agentLines = (stderr) => stderr.split('\n').filter((l) => l.startsWith('[@acme/otel-agent]'));

describe('reliability: libraries shaped wrongly, agent failing inside', function () {
  this.timeout(30000);
  let collector;
  before(async () => {
    collector = await startCollector();
  });
  after(() => collector.close());
  beforeEach(() => collector.reset());
  const env = (extra) => ({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, ...extra });

  it('express, fastify and pg whose internals moved: each skipped with one warning, the app and http/fetch run', async () => {
    const h = runFixture({ script: path.join(FIX, 'shapes', 'app.js'), mode: 'require', env: env() });
    const base = `http://127.0.0.1:${await h.waitForPort()}`;
    const want = { '/express': 'express ok', '/fastify': 'fastify ok', '/pg': 'pg ok 1', '/fetch': 'fetch plain', '/plain': 'plain' };
    for (let round = 0; round < 3; round++) {
      for (const [p, body] of Object.entries(want)) {
        const r = await request(base + p);
        assert.deepEqual([r.status, r.body], [200, body], p);
      }
    }
    if (HTTP_ON) await collector.waitForSpans((s) => s.filter((x) => x.kind === 'SERVER').length >= 18);
    const r = await h.kill('SIGTERM');
    const lines = agentLines(r.stderr);
    const about = (name) => lines.filter((l) => l.includes(name));
    assert.equal(about('express').length, 1, lines.join('\n'));
    assert.match(about('express')[0], /warn: instrumentation express@4\.21\.2 failed on express\/lib\/router\/layer\.js; it stays uninstrumented: Layer#handle_request moved/);
    assert.equal(about('pg').length, 1, lines.join('\n'));
    assert.match(about('pg')[0], /warn: instrumentation pg@8\.11\.3 failed on pg\/lib\/query\.js; it stays uninstrumented/);
    assert.equal(about('fastify').length, 1, lines.join('\n'));
    assert.match(about('fastify')[0], /warn: internal error in fastify instance \(the app is unaffected; further errors here are not reported\): fastify version moved/);
    assert.equal(lines.length, 3, lines.join('\n'));
    if (HTTP_ON) {
      // The other instrumentations still work: a SERVER span per request, a CLIENT span for each fetch.
      const spans = collector.spans();
      assert.ok(spans.filter((s) => s.kind === 'SERVER').length >= 18);
      assert.ok(spans.filter((s) => s.kind === 'CLIENT').length >= 3, 'fetch spans');
      assert.equal(spans.filter((s) => s.attributes['db.system']).length, 0, 'no pg span from a pg that does not fit');
    }
  });

  it('frozen http/https (hardened app): the app serves and the agent does not crash it', async () => {
    const h = runFixture({
      script: path.join(FIX, 'server-app.js'),
      mode: 'none',
      env: env({ NODE_OPTIONS: `--require ${path.join(FIX, 'freeze-http.js')} --require ${AGENT}` }),
    });
    const base = `http://127.0.0.1:${await h.waitForPort()}`;
    for (let i = 0; i < 5; i++) assert.equal((await request(`${base}/x`)).status, 200);
    await collector.waitForSpans((s) => s.filter((x) => x.name === 'work').length >= 5);
    const r = await h.kill('SIGTERM');
    assert.equal(r.signal, 'SIGTERM');
    assert.ok(agentLines(r.stderr).length <= 1, r.stderr);
  });

  it('agent required after express: one warning names them, the rest (pg, http, the app) works', async function () {
    const h = runFixture({ script: path.join(FIX, 'agent-after-express.js'), mode: 'none', env: env({ AGENT_PATH: AGENT }) });
    const base = `http://127.0.0.1:${await h.waitForPort()}`;
    assert.equal((await request(`${base}/users/3`)).body, 'user 3');
    assert.equal((await request(`${base}/pg`)).body, 'pg 1');
    if (PG_ON) await collector.waitForSpans((s) => s.some((x) => x.attributes['db.system'] === 'postgresql'));
    const r = await h.kill('SIGTERM');
    const lines = agentLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /warn: express, router loaded before the agent and will not be instrumented; start the agent first \(node --require @acme\/otel-agent\)/);
  });

  for (const what of ['start', 'attributes', 'end', 'propagation', 'all']) {
    it(`agent code failing on every call (${what}): every answer unchanged, each failure reported once, no crash`, async () => {
      const h = runFixture({ script: path.join(FIX, 'sabotage-app.js'), mode: 'require', env: env({ SABOTAGE: what }) });
      const base = `http://127.0.0.1:${await h.waitForPort()}`;
      const want = { '/users/5': 'user 5', '/pg': 'pg 42', '/fetch': 'fetch user 7', '/client': 'client user 8' };
      // More rounds than a guarded subscriber's failure budget (10).
      for (let round = 0; round < 12; round++) {
        for (const [p, body] of Object.entries(want)) {
          const r = await request(base + p);
          assert.deepEqual([r.status, r.body], [200, body], `${p} (round ${round})`);
        }
        const fail = await request(`${base}/fail`);
        assert.equal(fail.status, 500);
        assert.match(fail.body, /route failed/);
      }
      const r = await h.kill('SIGTERM');
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /sabotaged .*\n\s+at /, 'no stack trace: nothing reached the app or the console as uncaught');
      const lines = agentLines(r.stderr);
      assert.ok(lines.some((l) => l.includes('internal error in ')), `the sabotage reached agent code:\n${r.stderr}`);
      // Each place that failed says so once: the count does not grow with the 60 requests.
      assert.ok(lines.length <= 12, lines.join('\n'));
      const wheres = lines.map((l) => (l.match(/internal errors? in (.*?) \(|internal errors in (.*?) keep/) || [])[1]).filter(Boolean);
      assert.equal(new Set(wheres).size, wheres.length, `one report per place:\n${lines.join('\n')}`);
    });
  }
});

describe('reliability: the shared guard for request-path callbacks (agent.guarded)', () => {
  const { guarded, MAX_FAILURES } = require('../dist/agent');
  const { setLogLevel } = require('../dist/logger');

  function capture(fn) {
    const lines = [];
    const write = process.stderr.write;
    process.stderr.write = (chunk) => {
      lines.push(String(chunk));
      return true;
    };
    setLogLevel('warn');
    try {
      fn();
    } finally {
      process.stderr.write = write;
    }
    return lines;
  }

  it('never throws, reports once, switches itself off after MAX_FAILURES and says so once', async () => {
    let calls = 0;
    let offCalls = 0;
    const wrapped = guarded('test subscriber', () => {
      calls++;
      throw new Error('always');
    }, () => offCalls++);
    const lines = capture(() => {
      for (let i = 0; i < 50; i++) assert.doesNotThrow(() => wrapped({}, 'chan'));
    });
    assert.equal(calls, MAX_FAILURES);
    assert.deepEqual(lines, [
      '[@acme/otel-agent] warn: internal error in test subscriber (the app is unaffected; further errors here are not reported): always\n',
      '[@acme/otel-agent] warn: internal errors in test subscriber keep happening: switched off (the app is unaffected)\n',
    ]);
    await new Promise((r) => process.nextTick(r));
    assert.equal(offCalls, 1, 'onSwitchOff runs once, on a later tick');
  });

  it('survives hostile thrown values (a message getter or toString that throws)', () => {
    const hostile = { get message() { throw new Error('no'); }, toString() { throw new Error('no'); } };
    const proxy = new Proxy({}, { getPrototypeOf() { throw new Error('no'); } });
    const lines = capture(() => {
      assert.doesNotThrow(() => guarded('hostile a', () => { throw hostile; })(1, 2));
      assert.doesNotThrow(() => guarded('hostile b', () => { throw proxy; })(1, 2));
    });
    assert.equal(lines.length, 2);
    assert.match(lines[0], /internal error in hostile a .*: unknown error/);
  });

  it('passes the channel message and name through', () => {
    const seen = [];
    guarded('pass', (m, n) => seen.push([m, n]))('msg', 'name');
    assert.deepEqual(seen, [['msg', 'name']]);
  });
});
