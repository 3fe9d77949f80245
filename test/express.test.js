'use strict';
// express 4 and 5 end to end: the fixture app runs under `node --require` against each
// installed major (test/versions/express-N), its spans arrive at the test collector.
const assert = require('node:assert/strict');
const path = require('node:path');
const { startCollector } = require('./helpers/collector');
const { serverSpansFor, seen, frameworkServer, assertErrorsRecorded } = require('./helpers/traced-requests');

const APP = path.join(__dirname, 'fixtures', 'express', 'app.js');

const ROUTES = {
  hello: { path: '/hello/bob', route: '/hello/:name' },
  api: { path: '/api/users/7', route: '/api/users/:id' },
  apiRoot: { path: '/api', route: '/api' },
  nested: { path: '/api/admin/stats/mon', route: '/api/admin/stats/:day' },
  mountParam: { path: '/tenants/t1/orders/9', route: '/tenants/:tenant/orders/:order' },
  subApp: { path: '/sub/items/3', route: '/sub/items/:id' },
  leftRouter: { path: '/things/42', route: '/things/:id' },
  regex: { path: '/regex/12', route: String(/^\/regex\/(\d+)$/) },
  array: { path: '/multi/b', route: '/multi/a,/multi/b' },
};
const ERRORS = {
  syncThrow: { path: '/sync-throw', status: 500, type: 'Error', message: 'sync boom', route: '/sync-throw', frame: 'syncThrow' },
  asyncReject: { path: '/async-reject', status: 500, type: 'Error', message: 'async boom', route: '/async-reject' },
  nextError: { path: '/next-error', status: 500, type: 'Error', message: 'next boom', route: '/next-error' },
  middleware: { path: '/mw-throw/x', status: 500, type: 'TypeError', message: 'middleware boom', route: undefined, frame: 'throwing' },
  custom5xx: { path: '/custom/fail', status: 503, type: 'RangeError', message: 'custom boom', route: '/custom/fail' },
  custom4xx: { path: '/custom/bad', status: 400, type: 'Error', message: 'custom bad', route: '/custom/bad' },
  status400: { path: '/status/400', status: 400, type: 'Error', message: 'status 400', route: '/status/:code' },
  status502: { path: '/status/502', status: 502, type: 'Error', message: 'status 502', route: '/status/:code' },
};
const OTHER = {
  unmatched: { path: '/nope/123' },
  child: { path: '/child' },
  post: { path: '/echo', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' },
};
const ALL = { ...ROUTES, ...ERRORS, ...OTHER };

describe('express (end to end)', function () {
  this.timeout(30000);
  let collector;
  before(async () => {
    collector = await startCollector();
  });
  after(() => collector.close());

  const serve = frameworkServer(APP, () => collector);

  for (const version of ['express-4', 'express-5']) {
    describe(version, () => {
      let traced;
      let plain;
      let spans;
      before(async () => {
        [traced, plain] = await Promise.all([serve(version, ALL), serve(version, ALL, { mode: 'none' })]);
        spans = await serverSpansFor(collector, traced.responses);
      });
      after(() => Promise.all([traced?.handle.kill(), plain?.handle.kill()]));

      it('leaves every response as the app sends it without the agent', () => {
        for (const key of Object.keys(ALL)) assert.deepEqual(seen(traced.responses[key]), seen(plain.responses[key]), key);
        assert.equal(traced.responses.hello.body, 'hello bob');
        assert.equal(traced.responses.post.body, '{"a":1}');
      });

      it('names server spans by the full route template, mount paths included, with http.route', () => {
        for (const [key, { route }] of Object.entries(ROUTES)) {
          const { server } = spans[key];
          assert.equal(server.name, `GET ${route}`, key);
          assert.equal(server.attributes['http.route'], route, key);
          assert.equal(server.status.code, 'UNSET', key);
          assert.deepEqual(server.events, [], key);
        }
      });

      it('keeps the plain method name for a request no route matches', () => {
        const { server } = spans.unmatched;
        assert.equal(traced.responses.unmatched.status, 404);
        assert.equal(server.name, 'GET');
        assert.equal(server.attributes['http.route'], undefined);
      });

      it('records each thrown, rejected or next(err) error once; ERROR only for 5xx', () => {
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

      it('adds no INTERNAL spans and does not wrap `next` of plain middleware when internal spans are off', () => {
        for (const { trace } of Object.values(spans)) {
          assert.deepEqual(trace.filter((s) => s.kind === 'INTERNAL' && !s.name.startsWith('child ')).map((s) => s.name), []);
        }
        assert.equal(traced.responses.hello.headers['x-same-next'], undefined, 'registered before the logger');
        assert.equal(traced.responses.api.headers['x-same-next'], 'true');
      });

      it('with OTEL_NODE_INTERNAL_SPANS=true: middleware, router and handler spans, nested, named after them', async () => {
        const table = { api: ROUTES.api, child: OTHER.child, syncThrow: ERRORS.syncThrow, custom: ERRORS.custom5xx };
        const run = await serve(version, table, { env: { OTEL_NODE_INTERNAL_SPANS: 'true' } });
        try {
          const s = await serverSpansFor(collector, run.responses);
          const named = (key, name) => {
            const span = s[key].trace.find((x) => x.name === name);
            assert.ok(span, `${key}: no ${name} in ${s[key].trace.map((x) => x.name)}`);
            assert.equal(span.kind, 'INTERNAL');
            return span;
          };
          const server = s.api.server;
          assert.equal(server.name, 'GET /api/users/:id');
          for (const mw of ['middleware - logger', 'middleware - apiGate']) assert.equal(named('api', mw).parentSpanId, server.spanId, mw);
          const router = named('api', 'router - /api');
          assert.equal(router.parentSpanId, server.spanId);
          assert.equal(router.attributes['express.type'], 'router');
          const handler = named('api', 'request handler - /api/users/:id');
          assert.equal(handler.parentSpanId, router.spanId);
          assert.deepEqual(handler.attributes, { 'express.name': 'getUser', 'express.type': 'request_handler', 'http.route': '/api/users/:id' });

          const childHandler = named('child', 'request handler - /child');
          assert.equal(named('child', 'child get').parentSpanId, childHandler.spanId);
          assert.equal(s.child.trace.find((x) => x.kind === 'CLIENT').parentSpanId, childHandler.spanId);

          const failed = named('syncThrow', 'request handler - /sync-throw');
          assert.deepEqual(failed.status, { code: 'ERROR', message: 'sync boom' });
          assert.equal(failed.events.filter((e) => e.name === 'exception').length, 1);
          assert.equal(s.syncThrow.server.events.filter((e) => e.name === 'exception').length, 1);

          const errorMiddleware = named('custom', 'middleware - customErrors');
          assert.equal(errorMiddleware.parentSpanId, named('custom', 'router - /custom').spanId);
          assert.equal(run.responses.custom.status, 503);
        } finally {
          await run.handle.kill();
        }
      });
    });
  }

  it('express 3 (unsupported): the app works unchanged, spans keep the method name, a debug line says why', async () => {
    const table = { hello: ROUTES.hello, syncThrow: ERRORS.syncThrow };
    const [traced, plain] = await Promise.all([
      serve('express-3', table, { env: { OTEL_LOG_LEVEL: 'debug' } }),
      serve('express-3', table, { mode: 'none' }),
    ]);
    try {
      for (const key of Object.keys(table)) assert.deepEqual(seen(traced.responses[key]), seen(plain.responses[key]), key);
      assert.equal(traced.responses.hello.body, 'hello bob');
      const s = await serverSpansFor(collector, traced.responses);
      for (const key of Object.keys(table)) {
        assert.equal(s[key].server.name, 'GET', key);
        assert.equal(s[key].server.attributes['http.route'], undefined, key);
      }
      assert.match(traced.handle.stderr, /debug: skipping express \(express@3\.\d+\.\d+\): supported versions are >=4/);
      assert.doesNotMatch(traced.handle.stderr, /warn.*express|instrumented express/);
    } finally {
      await Promise.all([traced.handle.kill(), plain.handle.kill()]);
    }
  });
});
