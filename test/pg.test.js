'use strict';
// pg instrumentation end to end, against the real PostgreSQL of this machine:
// fixture apps run under `node --require` (and `--import`) with the pg under
// test (the oldest and the newest supported pg 8 minor), export to the test
// collector, and answer each scenario with pg's results so that a run without
// the agent can be compared with a run under it.
const assert = require('node:assert/strict');
const path = require('node:path');
const { startCollector } = require('./helpers/collector');
const { runFixture, request, REPO } = require('./helpers/run');

const APP = path.join(__dirname, 'fixtures', 'pg', 'app.js');
const ESM_APP = path.join(__dirname, 'fixtures', 'pg', 'esm.mjs');
const NATIVE_STUB = path.join(__dirname, 'fixtures', 'pg', 'native-stub');
const PG = {
  host: process.env.PGHOST || '127.0.0.1',
  port: Number(process.env.PGPORT || 5432),
  user: process.env.PGUSER || 'postgres',
  database: process.env.PGDATABASE || 'test',
};
const VERSIONS = [
  { label: 'pg 8.23 (newest: the root dev dependency)', dir: REPO, version: /^8\.23\./, instrumentations: 'pg,http' },
  { label: 'pg 8.0 (oldest supported: test/versions/pg-8-oldest)', dir: path.join(__dirname, 'versions', 'pg-8-oldest'), version: /^8\.0\./, instrumentations: 'pg' },
];

/** Fails (never skips) when no PostgreSQL answers, saying how to start one. */
async function requirePostgres() {
  const { Client } = require('pg');
  const c = new Client({ ...PG, password: process.env.PGPASSWORD, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG.host}:${PG.port} as ${PG.user}, database ${PG.database} (${err.message}). ` +
        'The pg tests need a real server: start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` ' +
        `and create the database with \`psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE test'\`, or set PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD.`,
    );
  } finally {
    await c.end().catch(() => {});
  }
}

/** Table names, pids and ports differ between two runs; the rest must not. */
const normalize = (value) => JSON.parse(JSON.stringify(value).replace(/pgtest_\d+/g, 'TABLE').replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT'));

describe('pg instrumentation (real PostgreSQL)', function () {
  this.timeout(30000);
  let collector;
  const apps = [];

  before(async () => {
    await requirePostgres();
    collector = await startCollector();
  });
  after(async () => {
    await Promise.all(apps.map((a) => a.close()));
    if (collector) await collector.close();
  });

  /** Starts the fixture app; `get(scenario)` answers `{ traceId, spanId, table, result }`. */
  async function startApp({ dir = REPO, mode = 'require', env = {} } = {}) {
    const h = runFixture({
      script: APP,
      mode,
      timeoutMs: 120000,
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'pg', PG_DIR: dir, ...env },
    });
    const port = await h.waitForPort(15000);
    const get = async (scenario) => {
      const res = await request(`http://127.0.0.1:${port}/${scenario}`);
      assert.equal(res.status, 200, `${scenario}: ${res.body}\n${h.stderr}`);
      return JSON.parse(res.body);
    };
    const app = {
      h,
      get,
      closed: false,
      async close() {
        if (app.closed) return;
        app.closed = true;
        await get('close').catch(() => h.kill('SIGKILL'));
        await h.exited;
      },
    };
    apps.push(app);
    return app;
  }

  /** All spans of the trace of a scenario response, once its SERVER span (which ends last) has arrived. */
  async function traceOf(r) {
    await collector.waitForSpans((spans) => spans.some((s) => s.spanId === r.spanId), 10000);
    return collector.spans().filter((s) => s.traceId === r.traceId);
  }
  /** The CLIENT spans whose parent is the span named `parentName`. */
  function dbUnder(spans, parentName) {
    const parent = spans.find((s) => s.name === parentName);
    assert.ok(parent, `no span ${parentName} in ${spans.map((s) => s.name).join(', ')}`);
    return spans.filter((s) => s.parentSpanId === parent.spanId && s.kind === 'CLIENT');
  }
  function onlyDbUnder(spans, parentName) {
    const db = dbUnder(spans, parentName);
    assert.equal(db.length, 1, `${parentName}: ${db.map((s) => s.name).join(', ')}`);
    return db[0];
  }
  const CONN = { 'db.system': 'postgresql', 'db.name': PG.database, 'db.user': PG.user, 'net.peer.name': PG.host, 'net.peer.port': PG.port };
  function assertDb(span, name, statement, extra = {}) {
    assert.equal(span.kind, 'CLIENT');
    assert.equal(span.name, name);
    for (const [k, v] of Object.entries({ ...CONN, 'db.statement': statement, ...extra })) assert.equal(span.attributes[k], v, `${name} ${k}`);
  }
  function assertError(span, message, sqlstate) {
    assert.equal(span.status.code, 'ERROR', span.name);
    assert.equal(span.status.message, message);
    const ex = span.events.filter((e) => e.name === 'exception');
    assert.equal(ex.length, 1, 'one exception event');
    assert.equal(ex[0].attributes['exception.message'], message);
    assert.ok(ex[0].attributes['exception.type']);
    assert.equal(span.attributes['db.response.status_code'], sqlstate);
  }

  for (const v of VERSIONS) {
    describe(v.label, () => {
      let app;
      let base;
      before(async () => {
        assert.match(require(require.resolve('pg/package.json', { paths: [v.dir] })).version, v.version, `run npm test (it installs test/versions/*)`);
        [app, base] = await Promise.all([
          startApp({ dir: v.dir, env: { OTEL_NODE_ENABLED_INSTRUMENTATIONS: v.instrumentations } }),
          startApp({ dir: v.dir, mode: 'none' }),
        ]);
      });
      /** Runs a scenario with and without the agent: same results; returns the agent run's response and trace. */
      async function scenario(name) {
        const [r, b] = await Promise.all([app.get(name), base.get(name)]);
        assert.deepEqual(normalize(r.result), normalize(b.result), `${name}: results differ from a run without the agent`);
        return { r, spans: await traceOf(r) };
      }

      it('every Client#query calling style: one CLIENT span per query, child of the calling context; results unchanged', async () => {
        const { r, spans } = await scenario('styles');
        const server = spans.find((s) => s.spanId === r.spanId);
        assert.equal(server.kind, 'SERVER');
        assert.ok(spans.filter((s) => s.name.startsWith('style:')).every((s) => s.parentSpanId === r.spanId));
        assertDb(onlyDbUnder(spans, 'style:text'), 'SELECT test', 'SELECT ? AS one', { 'db.operation': 'SELECT' });
        assertDb(onlyDbUnder(spans, 'style:values'), 'SELECT test', 'SELECT $1::int + ? AS n');
        assertDb(onlyDbUnder(spans, 'style:config'), 'SELECT test', 'SELECT $1::text AS s');
        assertDb(onlyDbUnder(spans, 'style:text-callback'), 'SELECT test', 'SELECT ? AS two');
        assertDb(onlyDbUnder(spans, 'style:values-callback'), 'SELECT test', 'SELECT $1::int AS n');
        assertDb(onlyDbUnder(spans, 'style:config-callback'), 'SELECT test', 'SELECT ? AS three');
        assertDb(onlyDbUnder(spans, 'style:config-callback-prop'), 'SELECT test', 'SELECT ? AS four');
        assertDb(onlyDbUnder(spans, 'style:submittable'), 'SELECT test', 'SELECT generate_series(?, ?) AS g');
        assertDb(onlyDbUnder(spans, 'style:submittable-callback'), 'SELECT test', 'SELECT ? AS five');
        const prepared = dbUnder(spans, 'style:prepared');
        assert.equal(prepared.length, 2);
        for (const s of prepared) assertDb(s, 'SELECT test', 'SELECT $1::int * ? AS d');
        assertDb(onlyDbUnder(spans, 'style:row-mode'), 'SELECT test', 'SELECT ? AS a, ? AS b');
        assertDb(onlyDbUnder(spans, 'style:types'), 'SELECT test', 'SELECT ?::int8 AS big');
        assertDb(onlyDbUnder(spans, 'style:notice'), 'DO test', 'DO ?');
        assertDb(onlyDbUnder(spans, 'style:multi'), 'SELECT test', 'SELECT ? AS a; SELECT ? AS b');
        assertDb(onlyDbUnder(spans, 'style:table'), `SELECT ${r.table}`, `SELECT id, name FROM ${r.table} ORDER BY id`, { 'db.sql.table': r.table });
        // Callbacks run in the caller's context, however pg delivers them.
        assert.equal(r.result.textCallback.sameContext, true);
        assert.equal(r.result.nested.sameContext, true);
        const nested = dbUnder(spans, 'style:nested-callback');
        assert.deepEqual(nested.map((s) => s.attributes['db.statement']).sort(), ['SELECT ? AS seven', 'SELECT ? AS six']);
        // Submittables: the span lasts until the cursor is closed / the stream ends or is destroyed.
        for (const style of ['style:cursor', 'style:stream', 'style:stream-destroyed']) {
          const db = onlyDbUnder(spans, style);
          const parent = spans.find((s) => s.name === style);
          assertDb(db, 'SELECT test', db.attributes['db.statement']);
          assert.match(db.attributes['db.statement'], /^SELECT generate_series\(\?, \?\) AS g$/);
          assert.equal(db.status.code, 'UNSET');
          assert.ok(db.endTimeUnixNano > db.startTimeUnixNano, style);
          // A stream ends for the app at its last row; its query ends at the server's ReadyForQuery, just after.
          // Otherwise 5 ms: the SDK anchors each span's clock to Date.now(), so sibling ends may skew by a millisecond.
          const slack = style === 'style:stream' ? 500000000n : 5000000n;
          assert.ok(db.endTimeUnixNano <= parent.endTimeUnixNano + slack, `${style} ended after its caller`);
        }
        for (const s of spans.filter((x) => x.kind === 'CLIENT')) assert.equal(s.status.code, 'UNSET', s.name);
      });

      it('queued queries on a busy client: each span measures from its call and has the context of its call', async () => {
        const { spans } = await scenario('queued');
        const [a, b, c] = ['queued:a', 'queued:b', 'queued:c'].map((n) => onlyDbUnder(spans, n));
        assert.equal(a.attributes['db.statement'], 'SELECT pg_sleep(?) AS slept');
        assert.equal(b.attributes['db.statement'], 'SELECT ? AS b');
        assert.equal(c.attributes['db.statement'], 'SELECT ? AS c');
        assert.ok(b.startTimeUnixNano < a.endTimeUnixNano, 'b starts at its call, while a still runs');
        assert.ok(c.startTimeUnixNano < a.endTimeUnixNano);
        // Each span's clock is anchored to Date.now() at its start: allow a few ms between siblings.
        const skew = 5000000n;
        assert.ok(b.endTimeUnixNano + skew >= a.endTimeUnixNano && c.endTimeUnixNano + skew >= b.endTimeUnixNano);
        assert.ok(Number(b.endTimeUnixNano - b.startTimeUnixNano) / 1e6 > 100, 'b includes its wait in the queue');
      });

      it('Pool#query and Pool#connect (promise and callback): spans under the caller', async () => {
        const { r, spans } = await scenario('pool');
        assertDb(onlyDbUnder(spans, 'pool:query'), 'SELECT test', 'SELECT $1::int AS i');
        assertDb(onlyDbUnder(spans, 'pool:query-callback'), 'SELECT test', 'SELECT ? AS i');
        assertDb(onlyDbUnder(spans, 'pool:connect-callback'), 'SELECT test', 'SELECT ? AS i');
        assert.deepEqual(
          dbUnder(spans, 'pool:connect').map((s) => s.name),
          ['BEGIN test', `SELECT ${r.table}`, 'COMMIT test'],
        );
        assert.equal(r.result.connectCallback.sameContext, true, 'pool.connect calls back in the caller context');
      });

      it('50 parallel requests on a pool of 5: every query span keeps its own request as parent', async () => {
        const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => app.get(`one?i=${i}`)));
        responses.forEach((r, i) => assert.equal(r.result, i));
        const serverIds = new Set(responses.map((r) => r.spanId));
        await collector.waitForSpans((spans) => spans.filter((s) => serverIds.has(s.spanId)).length === 50, 10000);
        const all = collector.spans();
        for (const r of responses) {
          const db = all.filter((s) => s.traceId === r.traceId && s.kind === 'CLIENT');
          assert.equal(db.length, 1, `trace ${r.traceId}`);
          assert.equal(db[0].parentSpanId, r.spanId);
          assertDb(db[0], 'SELECT test', 'SELECT $1::int AS i, pg_sleep(?)');
        }
      });

      it('failing queries: ERROR span with the server message, exception event and SQLSTATE; the caller gets pg’s error', async () => {
        const { r, spans } = await scenario('errors');
        const res = r.result;
        assertError(onlyDbUnder(spans, 'error:syntax'), 'syntax error at or near "SELEC"', '42601');
        assertError(onlyDbUnder(spans, 'error:syntax-callback'), 'syntax error at or near "WHERE"', '42601');
        const unique = onlyDbUnder(spans, 'error:unique');
        assertError(unique, res.unique.message, '23505');
        assert.equal(unique.name, `INSERT ${r.table}`);
        assert.equal(res.unique.code, '23505');
        assertError(onlyDbUnder(spans, 'error:undefined-table'), 'relation "pgtest_no_such_table" does not exist', '42P01');
        assertError(onlyDbUnder(spans, 'error:row-parser'), 'parser failed', undefined);
        assertError(onlyDbUnder(spans, 'error:cursor'), 'relation "pgtest_no_such_table" does not exist', '42P01');
        assertError(onlyDbUnder(spans, 'error:stream'), 'division by zero', '22012');
        assertError(onlyDbUnder(spans, 'error:submittable'), 'relation "pgtest_no_such_table" does not exist', '42P01');
        assertError(onlyDbUnder(spans, 'error:unhandled'), 'syntax error at or near "SELEC"', '42601');
        assert.deepEqual(res.unhandled, ['syntax error at or near "SELEC"'], 'an unhandled rejection stays unhandled');
        if (v.version.test('8.23.0')) assert.equal(res.syntax.isDatabaseError, true);
      });

      it('connection errors: refused, unknown role, queued before a failed connect, terminated backend', async () => {
        const { r, spans } = await scenario('connection');
        const res = r.result;
        const refused = onlyDbUnder(spans, 'conn:refused');
        assert.match(res.refused.message, /ECONNREFUSED/);
        assertError(refused, res.refused.message, undefined);
        assert.equal(refused.name, 'SELECT test');
        assert.equal(refused.attributes['net.peer.port'], Number(res.refused.message.split(':').pop()));
        const auth = onlyDbUnder(spans, 'conn:auth');
        assertError(auth, 'role "pgtest_no_such_role" does not exist', '28000');
        assert.equal(auth.attributes['db.user'], 'pgtest_no_such_role');
        assert.equal(auth.name, `SELECT ${r.table}`);
        assertError(onlyDbUnder(spans, 'conn:queued'), 'Connection terminated unexpectedly', undefined);
        const terminated = dbUnder(spans, 'conn:terminated').find((s) => s.attributes['db.statement'] === 'SELECT pg_sleep(?)');
        assertError(terminated, 'terminating connection due to administrator command', '57P01');
        assertError(onlyDbUnder(spans, 'conn:after-terminate'), res.afterTerminate.message, undefined);
      });

      it('statements: literals replaced by ?, parameter values never recorded, a Unix socket by its path', async () => {
        const { spans } = await scenario('statements');
        assertDb(onlyDbUnder(spans, 'stmt:literals'), 'SELECT test', 'SELECT ? AS s, ? AS n, ? AS d, ? AS e, ? AS h, ? AS f WHERE ? = ?');
        const params = onlyDbUnder(spans, 'stmt:params');
        assert.match(params.attributes['db.statement'], /^SELECT name FROM pgtest_\d+ WHERE name = \$1$/);
        assert.doesNotMatch(JSON.stringify(spans.map((s) => [s.name, s.attributes, s.events, s.status])), /secret/);
        const unix = onlyDbUnder(spans, 'stmt:unix');
        assert.equal(unix.attributes['net.peer.name'], '/var/run/postgresql/.s.PGSQL.5432');
        assert.equal(unix.attributes['net.sock.family'], 'unix');
        assert.equal(unix.attributes['net.peer.port'], undefined);
      });

      it('old attribute names only, by default', async () => {
        const { r, spans } = await scenario('attrs');
        const ok = onlyDbUnder(spans, 'attrs:ok');
        assert.deepEqual(ok.attributes, {
          ...CONN,
          'db.statement': `SELECT name FROM ${r.table} WHERE id = ?`,
          'db.operation': 'SELECT',
          'db.sql.table': r.table,
        });
        const failed = onlyDbUnder(spans, 'attrs:error');
        assert.deepEqual(Object.keys(failed.attributes).sort(), [...Object.keys(ok.attributes), 'db.response.status_code'].sort());
      });

      it('sqlcommenter is off by default', async () => {
        const r = await app.get('commenter');
        assert.doesNotMatch(JSON.stringify(r.result), /traceparent/);
      });
    });
  }

  describe('settings (pg 8.23)', () => {
    const SETTINGS = {
      stable: { OTEL_SEMCONV_STABILITY_OPT_IN: 'database' },
      dup: { OTEL_SEMCONV_STABILITY_OPT_IN: 'database/dup' },
      raw: { OTEL_NODE_DB_STATEMENT: 'raw', OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '40' },
      limit: { OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '30' },
      off: { OTEL_NODE_DB_STATEMENT: 'off' },
      commenter: { OTEL_NODE_DB_SQLCOMMENTER: 'true' },
      dropped: { OTEL_TRACES_SAMPLER: 'always_off' },
      native: { FIXTURE_NO_DB: '1', NODE_PATH: NATIVE_STUB, NODE_PG_FORCE_NATIVE: '1', OTEL_LOG_LEVEL: 'debug' },
    };
    const running = {};
    // One process per setting, all started at once (process start-up is most of the cost).
    before(async () => {
      const names = [...Object.keys(SETTINGS), 'base'];
      const started = await Promise.all(names.map((n) => (n === 'base' ? startApp({ mode: 'none' }) : startApp({ env: SETTINGS[n] }))));
      names.forEach((n, i) => (running[n] = started[i]));
    });
    it('OTEL_SEMCONV_STABILITY_OPT_IN=database: stable names only, with db.response.status_code and error.type on the failing span only', async () => {
      const app = running.stable;
      const r = await app.get('attrs');
      const spans = await traceOf(r);
      const ok = onlyDbUnder(spans, 'attrs:ok');
      assert.deepEqual(ok.attributes, {
        'db.system.name': 'postgresql',
        'db.namespace': PG.database,
        'server.address': PG.host,
        'server.port': PG.port,
        'db.query.text': `SELECT name FROM ${r.table} WHERE id = ?`,
        'db.operation.name': 'SELECT',
        'db.collection.name': r.table,
      });
      assert.equal(ok.name, `SELECT ${r.table}`);
      const failed = onlyDbUnder(spans, 'attrs:error');
      assert.equal(failed.attributes['db.response.status_code'], '23505');
      assert.equal(failed.attributes['error.type'], '23505');
      assert.equal(failed.status.code, 'ERROR');
      assert.deepEqual(Object.keys(failed.attributes).sort(), [...Object.keys(ok.attributes), 'db.response.status_code', 'error.type'].sort());
      // The same statement text failing, then succeeding: what the error added stays on its own span.
      const repeatFailed = onlyDbUnder(spans, 'attrs:repeat-error');
      const repeatOk = onlyDbUnder(spans, 'attrs:repeat-ok');
      assert.equal(repeatFailed.attributes['error.type'], '22012');
      assert.equal(repeatOk.attributes['db.query.text'], repeatFailed.attributes['db.query.text']);
      assert.equal(repeatOk.attributes['error.type'], undefined);
      assert.equal(repeatOk.attributes['db.response.status_code'], undefined);
      assert.notEqual(repeatOk.status.code, 'ERROR');
      await app.close();
    });

    it('OTEL_SEMCONV_STABILITY_OPT_IN=database/dup: old and stable names', async () => {
      const app = running.dup;
      const r = await app.get('attrs');
      const ok = onlyDbUnder(await traceOf(r), 'attrs:ok');
      assert.deepEqual(Object.keys(ok.attributes).sort(), [
        'db.collection.name', 'db.name', 'db.namespace', 'db.operation', 'db.operation.name', 'db.query.text', 'db.sql.table',
        'db.statement', 'db.system', 'db.system.name', 'db.user', 'net.peer.name', 'net.peer.port', 'server.address', 'server.port',
      ]);
      assert.equal(ok.attributes['db.statement'], ok.attributes['db.query.text']);
      await app.close();
    });

    it('OTEL_NODE_DB_STATEMENT=raw records literals as written, cut to the attribute length limit', async () => {
      const app = running.raw;
      const r = await app.get('statements');
      const spans = await traceOf(r);
      assert.equal(onlyDbUnder(spans, 'stmt:literals').attributes['db.statement'], "SELECT 'secret-literal' AS s, 42 AS n, $");
      const long = onlyDbUnder(spans, 'stmt:long');
      assert.equal(long.attributes['db.statement'], "SELECT 'abcdefghij' AS a, 'klmnopqrst' A");
      assert.equal(long.name, `SELECT ${r.table}`);
      await app.close();
    });

    it('a sanitized statement longer than the limit is cut after sanitizing', async () => {
      const app = running.limit;
      const r = await app.get('statements');
      const spans = await traceOf(r);
      assert.equal(onlyDbUnder(spans, 'stmt:long').attributes['db.statement'], 'SELECT ? AS a, ? AS b, ? AS c ');
      assert.equal(onlyDbUnder(spans, 'stmt:literals').attributes['db.statement'], 'SELECT ? AS s, ? AS n, ? AS d,');
      await app.close();
    });

    it('OTEL_NODE_DB_STATEMENT=off records no statement; names and operations stay', async () => {
      const app = running.off;
      const r = await app.get('statements');
      const spans = await traceOf(r);
      const db = spans.filter((s) => s.kind === 'CLIENT');
      assert.ok(db.length >= 4);
      for (const s of db) assert.equal(s.attributes['db.statement'], undefined);
      const long = onlyDbUnder(spans, 'stmt:long');
      assert.equal(long.name, `SELECT ${r.table}`);
      assert.equal(long.attributes['db.operation'], 'SELECT');
      await app.close();
    });

    it('OTEL_NODE_DB_SQLCOMMENTER=true: the server sees the traceparent of the query span; named statements are left alone', async () => {
      const app = running.commenter;
      const r = await app.get('commenter');
      const spans = await traceOf(r);
      const res = r.result;
      const q = 'SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()';
      const tp = (name) => {
        const s = onlyDbUnder(spans, name);
        assert.doesNotMatch(s.attributes['db.statement'], /traceparent/, 'the recorded statement is the app’s');
        return `/*traceparent='00-${s.traceId}-${s.spanId}-01'*/`;
      };
      assert.equal(res.text, `${q} ${tp('commenter:text')}`);
      assert.equal(res.semicolon, `${q} ${tp('commenter:semicolon')};`);
      assert.equal(res.config, `${q} AND $1::int = 1 ${tp('commenter:config')}`);
      assert.equal(res.lineComment, `${q} -- trailing\n${tp('commenter:line-comment')}`);
      assert.deepEqual(res.named, [q, q]);
      await app.close();
    });

    it('a dropped trace (always_off) records nothing and changes no result', async () => {
      const { dropped: app, base } = running;
      for (const s of ['styles', 'pool', 'errors']) {
        const [r, b] = await Promise.all([app.get(s), base.get(s)]);
        assert.deepEqual(normalize(r.result), normalize(b.result), s);
      }
      await app.close();
      assert.equal(collector.spans().filter((s) => s.kind === 'CLIENT' && s.resource['process.pid'] === app.h.child.pid).length, 0);
    });

    it('pg-native (pg.native, NODE_PG_FORCE_NATIVE) is left alone with a debug line', async () => {
      const app = running.native;
      const r = await app.get('native');
      assert.deepEqual(r.result, { native: true, forced: true });
      app.closed = true;
      const { stderr } = await app.h.exited;
      assert.match(stderr, /debug: pg: the pg-native client \(NODE_PG_FORCE_NATIVE\) is not instrumented/);
      assert.match(stderr, /debug: pg: pg\.native \(pg-native\) is not instrumented/);
      assert.doesNotMatch(stderr, /warn|error/);
    });

    it('an ES module app (import pg from "pg", node --import)', async () => {
      const h = runFixture({ script: ESM_APP, mode: 'import', env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'pg' } });
      const { code, stdout, stderr } = await h.exited;
      assert.equal(code, 0, stderr);
      assert.equal(stdout.trim(), '[{"v":"esm"}]');
      const spans = await collector.waitForSpans((all) => all.some((s) => s.name === 'esm-root' && s.resource['process.pid'] === h.child.pid));
      const root = spans.find((s) => s.name === 'esm-root' && s.resource['process.pid'] === h.child.pid);
      const db = spans.filter((s) => s.parentSpanId === root.spanId);
      assert.equal(db.length, 1, JSON.stringify(db.map((s) => [s.spanId, s.name, s.attributes]), null, 1) + collector.requests.length);
      assertDb(db[0], 'SELECT test', 'SELECT $1::text AS v');
    });

    it('pg 9 or 7 would be skipped: the supported ranges are declared', () => {
      const targets = require('../dist/instrumentations/pg.js').default.targets;
      const satisfies = require('semver/functions/satisfies');
      for (const t of targets.filter((x) => x.module === 'pg')) {
        assert.ok(satisfies('8.0.3', t.versions) && satisfies('8.23.1', t.versions), t.versions);
        assert.ok(!satisfies('7.18.2', t.versions) && !satisfies('9.0.0', t.versions), t.versions);
      }
      const pool = targets.find((x) => x.module === 'pg-pool');
      assert.ok(satisfies('3.1.1', pool.versions) && satisfies('3.14.0', pool.versions) && !satisfies('4.0.0', pool.versions));
    });
  });
});
