'use strict';
// The examples in examples/, run under the agent as examples/README.md tells users to, exporting to
// the test collector: the spans they produce are the ones the README describes. The last tests run
// `npm run demo` (every example through the real otel-instrument) and check the README's commands.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startCollector } = require('./helpers/collector');
const { runFixture, request, REPO } = require('./helpers/run');

const EXAMPLES = path.join(REPO, 'examples');
const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

describe('examples', function () {
  this.timeout(30000);
  let collector;

  before(async () => {
    collector = await startCollector();
  });
  after(() => collector.close());

  const started = [];
  // Stops the apps a test started (SIGTERM: the agent flushes, the app exits); the agent must not
  // have complained about anything on the way.
  afterEach(async () => {
    for (const app of started.splice(0).filter((a) => a.keep !== true)) await stop(app);
  });

  async function stop(app) {
    const { stderr } = await app.kill();
    assert.doesNotMatch(stderr, /\[@acme\/otel-agent\]/);
  }

  /**
   * Starts examples/<file> as service `service` under the agent, as `otel-instrument` does it
   * (`--require` of the agent, settings in `OTEL_*`; the demo test goes through the real CLI);
   * resolves once it listens.
   */
  async function start(file, service, env = {}, keep = false) {
    const app = runFixture({
      script: path.join(EXAMPLES, file),
      mode: 'require',
      env: { PORT: '0', OTEL_SERVICE_NAME: service, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, ...env },
      timeoutMs: 120000,
    });
    app.keep = keep;
    started.push(app);
    const [, port] = await app.waitForOutput(/listening on http:\/\/localhost:(\d+)/, 30000);
    app.url = `http://127.0.0.1:${port}`;
    return app;
  }

  const ofService = (spans, service) => spans.filter((s) => s.resource['service.name'] === service);

  /** Waits for `count` spans of `service` whose name and kind match, then returns them. */
  async function spansOf(service, count, name, kind) {
    const pick = (spans) => ofService(spans, service).filter((s) => s.name === name && s.kind === kind);
    return pick(await collector.waitForSpans((spans) => pick(spans).length >= count));
  }

  /** A SERVER span for GET `target`, checked against what every server span of the walkthrough has. */
  function assertServerSpan(span, target, status) {
    assert.equal(span.kind, 'SERVER');
    assert.equal(span.attributes['http.method'], 'GET');
    assert.equal(span.attributes['http.target'], target);
    assert.equal(span.attributes['http.status_code'], status);
    assert.match(span.attributes['http.url'], new RegExp(`^http://127\\.0\\.0\\.1:\\d+${target}$`));
    assert.ok(span.attributes['net.sock.peer.addr'], 'net.sock.peer.addr');
  }

  describe('1. hello world', function () {
    this.timeout(60000);
    const cases = [
      ['hello-http.js', 'GET', undefined, 'Hello, world!'],
      ['hello-http.mjs', 'GET', undefined, 'Hello, world!'],
      ['hello-express.js', 'GET /hello/:name', '/hello/:name', 'Hello, world!'],
      ['hello-express.mjs', 'GET /hello/:name', '/hello/:name', 'Hello, world!'],
      ['hello-fastify.js', 'GET /hello/:name', '/hello/:name', '{"message":"Hello, world!"}'],
      ['hello-fastify.mjs', 'GET /hello/:name', '/hello/:name', '{"message":"Hello, world!"}'],
    ];
    const serviceOf = (file) => `example-${file.replace('.', '-')}`;
    const apps = new Map();
    // Six small apps: starting them side by side saves most of their start-up time.
    before(async () => {
      await Promise.all(cases.map(async ([file]) => apps.set(file, await start(file, serviceOf(file), {}, true))));
    });
    after(() => Promise.all([...apps.values()].map(stop)));

    for (const [file, name, route, body] of cases) {
      it(`${file}: one root SERVER span "${name}" per request`, async () => {
        const app = apps.get(file);
        const res = await request(`${app.url}/hello/world`);
        assert.equal(res.status, 200);
        assert.equal(res.body, body);
        assert.equal((await request(`${app.url}/hello/otel`)).status, 200);

        const spans = await spansOf(serviceOf(file), 2, name, 'SERVER');
        assert.deepEqual(spans.map((s) => s.attributes['http.target']).sort(), ['/hello/otel', '/hello/world']);
        for (const span of spans) {
          assert.equal(span.parentSpanId, '', 'a root span');
          assertServerSpan(span, span.attributes['http.target'], 200);
          assert.equal(span.attributes['http.route'], route);
          assert.equal(span.status.code, 'UNSET');
        }
      });
    }
  });

  it('2. exceptions.js: the server span is in error with the exception type, message and stack', async () => {
    const app = await start('exceptions.js', 'example-exceptions');
    assert.equal((await request(`${app.url}/hello/world`)).status, 500);
    const [span] = await spansOf('example-exceptions', 1, 'GET /hello/:name', 'SERVER');
    assertServerSpan(span, '/hello/world', 500);
    assert.deepEqual(span.status, { code: 'ERROR', message: 'Failure injection' });
    const events = span.events.filter((e) => e.name === 'exception');
    assert.equal(events.length, 1);
    assert.equal(events[0].attributes['exception.type'], 'Error');
    assert.equal(events[0].attributes['exception.message'], 'Failure injection');
    assert.match(events[0].attributes['exception.stacktrace'], /^Error: Failure injection\n\s+at .*examples[/\\]exceptions\.js:\d+/);
  });

  it('3. database.js: the SELECT is a CLIENT span under the server span; a failing query marks both', async () => {
    const service = 'example-database';
    const app = await start('database.js', service, { DATABASE_URL });
    const ok = await request(`${app.url}/hello/1`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'Hello, Alice!');
    assert.equal((await request(`${app.url}/hello/x`)).status, 500);

    const servers = await spansOf(service, 2, 'GET /hello/:id', 'SERVER');
    const selects = await spansOf(service, 2, 'SELECT people', 'CLIENT');
    for (const server of servers) {
      const select = selects.find((s) => s.parentSpanId === server.spanId);
      assert.ok(select, `a SELECT span under ${server.attributes['http.target']}`);
      assert.equal(select.traceId, server.traceId);
      assert.equal(server.parentSpanId, '');
      assert.equal(server.attributes['http.route'], '/hello/:id');
      assert.equal(select.attributes['db.system'], 'postgresql');
      assert.equal(select.attributes['db.name'], 'test');
      assert.equal(select.attributes['db.operation'], 'SELECT');
      assert.equal(select.attributes['db.statement'], 'SELECT name FROM people WHERE id = $1');
      assert.equal(select.attributes['net.peer.name'], '127.0.0.1');
      assert.equal(select.attributes['net.peer.port'], 5432);
      const failed = server.attributes['http.target'] === '/hello/x';
      assert.equal(server.status.code, failed ? 'ERROR' : 'UNSET');
      assert.equal(select.status.code, failed ? 'ERROR' : 'UNSET');
      if (failed) assert.match(select.status.message, /invalid input syntax for type integer/);
    }
    // The start-up statements have no request around them: root spans of their own.
    const setup = ofService(collector.spans(), service).filter((s) => /^(CREATE|INSERT) people$/.test(s.name));
    assert.equal(setup.length, 2);
    for (const s of setup) assert.equal(s.parentSpanId, '');
  });

  describe('with the user service', () => {
    let users;
    before(async () => {
      users = await start('user-service.js', 'user-service', {}, true);
    });
    after(() => users && stop(users));

    /** The three spans of one call: front SERVER → front CLIENT → user-service SERVER, one trace. */
    async function assertCall(service, route, target, userId) {
      const [server] = (await spansOf(service, 1, `GET ${route}`, 'SERVER')).filter((s) => s.attributes['http.target'] === target);
      assert.ok(server, `the server span of ${target}`);
      assertServerSpan(server, target, 200);
      assert.equal(server.parentSpanId, '');
      const inTrace = (spans) => spans.filter((s) => s.traceId === server.traceId);
      const spans = inTrace(await collector.waitForSpans((all) => inTrace(all).length >= 3));
      const client = spans.find((s) => s.kind === 'CLIENT');
      assert.ok(client, 'a CLIENT span');
      assert.equal(client.resource['service.name'], service);
      assert.equal(client.parentSpanId, server.spanId);
      assert.equal(client.name, 'GET');
      assert.equal(client.attributes['http.method'], 'GET');
      assert.equal(client.attributes['http.url'], `${users.url}/user/${userId}`);
      assert.equal(client.attributes['http.status_code'], 200);
      assert.equal(client.attributes['net.peer.name'], '127.0.0.1');
      assert.equal(client.attributes['net.peer.port'], Number(new URL(users.url).port));
      const callee = spans.find((s) => s.resource['service.name'] === 'user-service');
      assert.ok(callee, 'the user service span in the same trace');
      assert.equal(callee.name, 'GET /user/:id');
      assert.equal(callee.parentSpanId, client.spanId);
      assertServerSpan(callee, `/user/${userId}`, 200);
      // What the user service printed is the header it received: this trace, the CLIENT span as parent.
      await users.waitForOutput(new RegExp(`traceparent: 00-${server.traceId}-${client.spanId}-0[13]\\n`));
      return server;
    }

    it('4. front-service.js: fetch and http.get calls join the user service into one trace', async () => {
      const front = await start('front-service.js', 'front-service', { USER_SERVICE_URL: users.url });
      const viaFetch = await request(`${front.url}/hello/1`);
      assert.equal(viaFetch.body, 'Hello, Alice!');
      const viaHttp = await request(`${front.url}/hello-http/2`);
      assert.equal(viaHttp.body, 'Hello, Bob!');
      await assertCall('front-service', '/hello/:id', '/hello/1', 1);
      await assertCall('front-service', '/hello-http/:id', '/hello-http/2', 2);
      assert.match(users.stdout, /trace-flags 0[13]: sampled/);
    });

    it('5. custom-attributes.js: the handler adds user.id and an event to the server span', async () => {
      const app = await start('custom-attributes.js', 'custom-attributes', { USER_SERVICE_URL: users.url });
      assert.equal((await request(`${app.url}/hello/2`)).body, 'Hello, Bob!');
      const server = await assertCall('custom-attributes', '/hello/:id', '/hello/2', 2);
      assert.equal(server.attributes['user.id'], '2');
      assert.deepEqual(
        server.events.map((e) => e.name),
        ['the user profile has been loaded from the user service'],
      );
    });
  });

  it('npm run demo runs every example and prints their traces as trees', async function () {
    this.timeout(60000);
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    assert.equal(pkg.scripts.demo, 'node examples/demo.js');
    const demo = runFixture({ script: path.join(EXAMPLES, 'demo.js'), mode: 'none', env: { DATABASE_URL }, timeoutMs: 55000 });
    const { code, stdout, stderr } = await demo.exited;
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.doesNotMatch(stdout, /FAILED|skipped|no spans received|\[@acme\/otel-agent\]/);
    for (const line of [
      /^└─ SERVER GET  [\d.]+ ms$/m,
      /^└─ SERVER GET \/hello\/:name  [\d.]+ ms  ERROR "Failure injection"$/m,
      /^\s+exception\.stacktrace=Error: Failure injection$/m,
      /^   └─ CLIENT SELECT people  [\d.]+ ms$/m,
      / user\.id="1"/,
      /^\s+event the user profile has been loaded from the user service$/m,
      /^\[user-service\] traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-0[13]$/m,
    ]) {
      assert.match(stdout, line);
    }
    // Example 4 is one trace across both services: the user service's span nests under the front's client span.
    assert.match(
      stdout,
      /^trace [0-9a-f]{32}\n└─ SERVER GET \/hello\/:id .*\[front-service\]\n(?: {6}.*\n)+   └─ CLIENT GET .*\[front-service\]\n(?: {9}.*\n)+      └─ SERVER GET \/user\/:id .*\[user-service\]$/m,
    );
  });

  it('examples/README.md documents every example with its command', () => {
    const readme = fs.readFileSync(path.join(EXAMPLES, 'README.md'), 'utf8');
    for (const file of fs.readdirSync(EXAMPLES).filter((f) => /\.m?js$/.test(f) && f !== 'demo.js')) {
      assert.match(readme, new RegExp(`otel-instrument (?:[^\\n]|\\\\\\n)*node examples/${file.replace('.', '\\.')}`), file);
    }
    assert.ok(readme.includes('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://coroot.coroot:8080/v1/traces'));
    assert.ok(readme.includes('npm run demo'));
  });
});
