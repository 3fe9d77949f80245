'use strict';
// fastify 4 and 5 end to end: the fixture app runs under `node --require` against each
// installed major (test/versions/fastify-N), its spans arrive at the test collector.
const assert = require('node:assert/strict');
const path = require('node:path');
const { startCollector } = require('./helpers/collector');
const { serverSpansFor, seen, frameworkServer, assertErrorsRecorded } = require('./helpers/traced-requests');

const APP = path.join(__dirname, 'fixtures', 'fastify', 'app.js');
const dirOf = (name) => path.join(__dirname, 'versions', name);

const ROUTES = {
  before: { path: '/hello/bob', route: '/hello/:name' },
  prefixed: { path: '/api/users/7', route: '/api/users/:id' },
  prefixRoot: { path: '/api', route: '/api' },
  nested: { path: '/api/admin/stats/mon', route: '/api/admin/stats/:day' },
  after: { path: '/after/z', route: '/after/:x' },
  rejectedByHook: { path: '/secure/data/1', route: '/secure/data/:id', status: 401 },
};
const ERRORS = {
  syncThrow: { path: '/sync-throw', status: 500, type: 'Error', message: 'sync boom', route: '/sync-throw', frame: 'syncThrow' },
  asyncReject: { path: '/async-reject', status: 500, type: 'Error', message: 'async boom', route: '/async-reject' },
  replySend: { path: '/reply-send-error', status: 500, type: 'Error', message: 'send boom', route: '/reply-send-error' },
  hook: { path: '/hook-throw', status: 500, type: 'TypeError', message: 'hook boom', route: '/hook-throw', frame: 'failingPreHandler' },
  custom5xx: { path: '/custom/fail', status: 503, type: 'RangeError', message: 'custom boom', route: '/custom/fail' },
  custom4xx: { path: '/custom/bad', status: 400, type: 'Error', message: 'custom bad', route: '/custom/bad' },
  status400: { path: '/status/400', status: 400, type: 'Error', message: 'status 400', route: '/status/:code' },
  status502: { path: '/status/502', status: 502, type: 'Error', message: 'status 502', route: '/status/:code' },
};
const OTHER = {
  notFound: { path: '/nope/123' },
  child: { path: '/child' },
  post: { path: '/echo', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' },
};
const ALL = { ...ROUTES, ...ERRORS, ...OTHER };

describe('fastify (end to end)', function () {
  this.timeout(30000);
  let collector;
  before(async () => {
    collector = await startCollector();
  });
  after(() => collector.close());

  const serve = frameworkServer(APP, () => collector);

  // Each major is reached through two of the three ways to get the factory.
  for (const [version, imports, internalImports] of [['fastify-4', 'call', 'named'], ['fastify-5', 'named', 'default']]) {
    describe(version, () => {
      let traced;
      let plain;
      let spans;
      before(async () => {
        [traced, plain] = await Promise.all([
          serve(version, ALL, { env: { FASTIFY_IMPORT: imports } }),
          serve(version, ALL, { mode: 'none', env: { FASTIFY_IMPORT: imports } }),
        ]);
        spans = await serverSpansFor(collector, traced.responses);
      });
      after(() => Promise.all([traced?.handle.kill(), plain?.handle.kill()]));

      it(`leaves every response as the app sends it without the agent (factory: ${imports})`, () => {
        for (const key of Object.keys(ALL)) assert.deepEqual(seen(traced.responses[key]), seen(plain.responses[key]), key);
        assert.equal(traced.responses.before.body, 'hello bob');
        assert.equal(traced.responses.post.body, '{"a":1}');
      });

      it('names server spans by the route template, plugin prefixes included, routes registered before or after plugins', () => {
        for (const [key, { route, status = 200 }] of Object.entries(ROUTES)) {
          const { server } = spans[key];
          assert.equal(traced.responses[key].status, status, key);
          assert.equal(server.name, `GET ${route}`, key);
          assert.equal(server.attributes['http.route'], route, key);
          assert.equal(server.status.code, 'UNSET', key);
          assert.deepEqual(server.events, [], key);
        }
      });

      it("keeps the plain method name for fastify's not-found handler", () => {
        assert.equal(traced.responses.notFound.status, 404);
        assert.equal(spans.notFound.server.name, 'GET');
        assert.equal(spans.notFound.server.attributes['http.route'], undefined);
      });

      it('records errors from handlers, hooks and reply.send(err) once; ERROR only for 5xx', () => {
        assertErrorsRecorded(spans, traced.responses, ERRORS);
      });

      it('makes downstream spans from a handler (fetch, http.get, manual after await) children of the server span', () => {
        for (const [key, name] of [['child', 'child get'], ['post', 'child post']]) {
          const { server, trace } = spans[key];
          const child = trace.find((s) => s.name === name);
          assert.ok(child, `${key}: ${trace.map((s) => s.name)}`);
          assert.equal(child.parentSpanId, server.spanId, key);
          const clients = trace.filter((s) => s.kind === 'CLIENT');
          assert.equal(clients.length, 1, `${key}: one CLIENT span in ${trace.map((s) => `${s.kind} ${s.name}`)}`);
          assert.equal(clients[0].parentSpanId, server.spanId, `${key}: CLIENT span under the server span`);
          const downstream = trace.find((s) => s.kind === 'SERVER' && s.parentSpanId === clients[0].spanId);
          assert.equal(downstream?.name, 'GET /hello/:name', `${key}: the called app's own server span`);
        }
      });

      it('adds no INTERNAL spans when internal spans are off', () => {
        for (const { trace } of Object.values(spans)) {
          assert.deepEqual(trace.filter((s) => s.kind === 'INTERNAL' && !s.name.startsWith('child ')).map((s) => s.name), []);
        }
      });

      it(`with OTEL_NODE_INTERNAL_SPANS=true: hook and handler spans, nested (factory: ${internalImports})`, async () => {
        const table = { prefixed: ROUTES.prefixed, rejected: ROUTES.rejectedByHook, hook: ERRORS.hook, child: OTHER.child, custom: ERRORS.custom5xx };
        const run = await serve(version, table, { env: { OTEL_NODE_INTERNAL_SPANS: 'true', FASTIFY_IMPORT: internalImports } });
        try {
          const s = await serverSpansFor(collector, run.responses);
          const named = (key, name) => {
            const span = s[key].trace.find((x) => x.name === name);
            assert.ok(span, `${key}: no ${name} in ${s[key].trace.map((x) => x.name)}`);
            assert.equal(span.kind, 'INTERNAL');
            return span;
          };
          const server = s.prefixed.server;
          assert.equal(server.name, 'GET /api/users/:id');
          const hook = named('prefixed', 'onRequest - tagRequest');
          assert.equal(hook.parentSpanId, server.spanId);
          assert.deepEqual(hook.attributes, { 'fastify.type': 'hook', 'hook.name': 'onRequest', 'hook.callback.name': 'tagRequest' });
          const handler = named('prefixed', 'request handler - /api/users/:id');
          assert.equal(handler.parentSpanId, server.spanId, 'hooks and handler are siblings');
          assert.deepEqual(handler.attributes, { 'fastify.type': 'request_handler', 'http.route': '/api/users/:id' });

          // A hook that answers the request itself (never calls done) still ends its span.
          assert.equal(run.responses.rejected.status, 401);
          assert.equal(named('rejected', 'onRequest - requireToken').parentSpanId, s.rejected.server.spanId);
          assert.equal(s.rejected.trace.filter((x) => x.name.startsWith('request handler')).length, 0);

          const failed = named('hook', 'preHandler - failingPreHandler');
          assert.deepEqual(failed.status, { code: 'ERROR', message: 'hook boom' });
          assert.equal(s.hook.server.events.filter((e) => e.name === 'exception').length, 1);

          const childHandler = named('child', 'request handler - /child');
          assert.equal(named('child', 'child get').parentSpanId, childHandler.spanId);
          assert.equal(s.child.trace.find((x) => x.kind === 'CLIENT').parentSpanId, childHandler.spanId);
          assert.deepEqual(named('custom', 'request handler - /custom/fail').status, { code: 'ERROR', message: 'custom boom' });
          assert.equal(run.responses.custom.status, 503);
        } finally {
          await run.handle.kill();
        }
      });
    });
  }

  it('fastify 3 (unsupported): the app works unchanged, spans keep the method name, debug lines say why', async () => {
    const table = { hello: ROUTES.before, syncThrow: ERRORS.syncThrow };
    // fastify 5 is loaded too: its module is instrumented, the fastify 3 instance it hears about is skipped.
    const env = { ALSO_LOAD_DIR: dirOf('fastify-5') };
    const [traced, plain] = await Promise.all([
      serve('fastify-3', table, { env: { ...env, OTEL_LOG_LEVEL: 'debug' } }),
      serve('fastify-3', table, { mode: 'none', env }),
    ]);
    try {
      for (const key of Object.keys(table)) assert.deepEqual(seen(traced.responses[key]), seen(plain.responses[key]), key);
      assert.equal(traced.responses.hello.body, 'hello bob');
      const s = await serverSpansFor(collector, traced.responses);
      for (const key of Object.keys(table)) {
        assert.equal(s[key].server.name, 'GET', key);
        assert.equal(s[key].server.attributes['http.route'], undefined, key);
        assert.deepEqual(s[key].server.events, [], key);
      }
      assert.match(traced.handle.stderr, /debug: skipping fastify \(fastify@3\.\d+\.\d+\): supported versions are >=4/);
      assert.match(traced.handle.stderr, /debug: skipping a fastify@3\.\d+\.\d+ instance: supported versions are >=4/);
      assert.doesNotMatch(traced.handle.stderr, /warn.*fastify/);
    } finally {
      await Promise.all([traced.handle.kill(), plain.handle.kill()]);
    }
  });
});
