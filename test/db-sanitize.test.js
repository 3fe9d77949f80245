'use strict';
// Unit tests of the shared database span rules (src/db-spans.ts): the SQL
// scanner (literal sanitizer, operation and table), attribute names per
// semantic-convention mode, span names, the statement cache and error mapping.
const assert = require('node:assert/strict');
const semconv = require('@opentelemetry/semantic-conventions');
const { sanitizeSql, scanSql, DbSpanRules } = require('../dist/db-spans.js');

const OLD = { old: true, stable: false };
const STABLE = { old: false, stable: true };
const DUP = { old: true, stable: true };

describe('db-spans: SQL sanitizer', () => {
  const cases = [
    ['string literals', "SELECT * FROM t WHERE a = 'x' AND b = 'y z'", 'SELECT * FROM t WHERE a = ? AND b = ?'],
    ["doubled quotes inside a string", "SELECT 'it''s ''quoted''' AS s", 'SELECT ? AS s'],
    ["E'' strings with backslash-escaped quotes", "SELECT E'a\\'b\\\\', e'c\\'' FROM t", 'SELECT ?, ? FROM t'],
    ['standard strings keep backslashes literal', "SELECT 'C:\\' AS dir, 'x' AS y", 'SELECT ? AS dir, ? AS y'],
    ['bit, hex, national and Unicode strings', "SELECT B'0101', X'1F', N'nat', U&'d\\0061t', b'1', x'ff'", 'SELECT ?, ?, ?, ?, ?, ?'],
    ['dollar quotes', 'SELECT $$a \'b\' $1$$, $fn$ x $$ y $fn$ AS body', 'SELECT ?, ? AS body'],
    ['integers, decimals, exponents', 'SELECT 42, 1.5, .5, 1e10, 1.5E-3, 2e+4, 5.', 'SELECT ?, ?, ?, ?, ?, ?, ?'],
    ['hex, octal, binary and underscored numbers', 'SELECT 0x1F, 0o17, 0b101, 1_000_000', 'SELECT ?, ?, ?, ?'],
    ['negative numbers keep their sign', 'UPDATE t SET a = -5 WHERE b > -1.5', 'UPDATE t SET a = -? WHERE b > -?'],
    ['identifiers with digits stay', 'SELECT t1.c2, col_3, a1b2, x$1 FROM t1 JOIN t22 ON t1.id = t22.id', 'SELECT t1.c2, col_3, a1b2, x$1 FROM t1 JOIN t22 ON t1.id = t22.id'],
    ['quoted identifiers stay, quotes and digits inside included', `SELECT "it's 42", "a""b" FROM "T1"`, `SELECT "it's 42", "a""b" FROM "T1"`],
    ['$n placeholders stay', 'SELECT * FROM t WHERE a = $1 AND b IN ($2, $10)', 'SELECT * FROM t WHERE a = $1 AND b IN ($2, $10)'],
    ['placeholders next to literals', "INSERT INTO t (a, b, c) VALUES ($1, 'x', 3)", 'INSERT INTO t (a, b, c) VALUES ($1, ?, ?)'],
    ['line comments stay and hide quotes', "SELECT 1 -- it's 2\n, 'x'", "SELECT ? -- it's 2\n, ?"],
    ['nested block comments stay', "SELECT /* a /* 'b' */ 3 */ 'c'", "SELECT /* a /* 'b' */ 3 */ ?"],
    ['casts and typed literals', "SELECT '5'::int, date '2020-01-01', interval '1 day', 3::text", 'SELECT ?::int, date ?, interval ?, ?::text'],
    ['arrays and IN lists', "SELECT ARRAY[1, 2], a IN ('x', 'y')", 'SELECT ARRAY[?, ?], a IN (?, ?)'],
    ['an unterminated string hides the rest', "SELECT 'abc, secret", 'SELECT ?'],
    ['an unterminated dollar quote hides the rest', 'SELECT $q$ secret', 'SELECT ?'],
    ['keywords and NULL/TRUE stay', 'SELECT NULL, TRUE, false FROM t', 'SELECT NULL, TRUE, false FROM t'],
    ['a lone $ is not a quote', 'SELECT a $ b', 'SELECT a $ b'],
    ['non-ASCII identifiers', "SELECT größe FROM maße WHERE x = 'ü'", 'SELECT größe FROM maße WHERE x = ?'],
  ];
  for (const [what, sql, expected] of cases) {
    it(what, () => assert.equal(sanitizeSql(sql), expected));
  }

  it('cuts the output to the limit without ever exposing a literal', () => {
    const sql = "SELECT 'aaaaaaaaaaaaaaaaaaaa' AS x, 'secret' AS y FROM t";
    for (let limit = 0; limit <= 60; limit++) {
      const out = sanitizeSql(sql, limit);
      assert.ok(out.length <= limit, `limit ${limit}: ${out}`);
      assert.ok(!/aaa|secret|sec|ret/.test(out), `limit ${limit}: ${out}`);
      assert.ok('SELECT ? AS x, ? AS y FROM t'.startsWith(out), `limit ${limit}: ${out}`);
    }
  });

  it('stops scanning a huge statement once the limit and the table are reached', () => {
    const sql = `INSERT INTO big (a) VALUES ${Array.from({ length: 200000 }, (_, i) => `(${i}, 'v${i}')`).join(', ')}`;
    // How far the scan reads, not how long it takes (a time bound fails on a busy machine): a
    // String object that notes the furthest index its readers are asked for.
    let furthest = 0;
    class Probe extends String {
      charCodeAt(i) {
        furthest = Math.max(furthest, i);
        return super.charCodeAt(i);
      }
      indexOf(search, from = 0) {
        furthest = Math.max(furthest, from);
        const at = super.indexOf(search, from);
        furthest = Math.max(furthest, at === -1 ? this.length : at);
        return at;
      }
    }
    const r = scanSql(new Probe(sql), true, 100);
    assert.ok(r.text.length <= 100 && r.text.length >= 95, r.text);
    assert.ok(sanitizeSql(sql.slice(0, 400)).startsWith(r.text), r.text);
    assert.equal(r.table, 'big');
    assert.ok(furthest > 100 && furthest < 400, `read up to ${furthest} of ${sql.length}`);
    assert.deepEqual(scanSql(sql, true, 100), r, 'a string primitive scans the same');
  });
});

describe('db-spans: operation and table', () => {
  const cases = [
    ['SELECT * FROM users WHERE id = 1', 'SELECT', 'users'],
    ['select a from public.users u join orders o on o.u = u.id', 'SELECT', 'public.users'],
    ['SELECT * FROM "Users"', 'SELECT', '"Users"'],
    ['SELECT 1', 'SELECT', undefined],
    ['SELECT extract(year FROM d) FROM cal', 'SELECT', 'cal'],
    ['SELECT (SELECT max(x) FROM inner_t) FROM outer_t', 'SELECT', 'outer_t'],
    ['SELECT * FROM generate_series(1, 3)', 'SELECT', undefined],
    ['SELECT * FROM (SELECT 1) AS s', 'SELECT', undefined],
    ['SELECT * FROM ONLY parent', 'SELECT', 'parent'],
    ['  (SELECT a FROM b) UNION (SELECT a FROM c)', 'SELECT', 'b'],
    ['/* c */ -- x\n SELECT a FROM b', 'SELECT', 'b'],
    ['INSERT INTO users (a, b) VALUES (1, 2)', 'INSERT', 'users'],
    ['INSERT INTO s.t(a) VALUES ($1)', 'INSERT', 's.t'],
    ['UPDATE ONLY accounts SET x = 1', 'UPDATE', 'accounts'],
    ['DELETE FROM sessions WHERE expired', 'DELETE', 'sessions'],
    ['TRUNCATE TABLE logs', 'TRUNCATE', 'logs'],
    ['COPY items (a) FROM STDIN', 'COPY', 'items'],
    ['COPY (SELECT 1) TO STDOUT', 'COPY', undefined],
    ['CREATE TABLE IF NOT EXISTS things (id int)', 'CREATE', 'things'],
    ['CREATE TEMP TABLE tmp (id int)', 'CREATE', 'tmp'],
    ['CREATE INDEX i ON t (a)', 'CREATE', undefined],
    ['DROP TABLE IF EXISTS things', 'DROP', 'things'],
    ['ALTER TABLE things ADD COLUMN b int', 'ALTER', 'things'],
    ['WITH x AS (SELECT 1 FROM foo) SELECT * FROM x', 'SELECT', undefined],
    ['WITH RECURSIVE r(n) AS (SELECT 1) DELETE FROM t USING r', 'DELETE', undefined],
    ['BEGIN', 'BEGIN', undefined],
    ['begin; insert into t values (1)', 'BEGIN', undefined],
    ['SELECT FROM WHERE', 'SELECT', undefined],
    ['SELECT 1; SELECT a FROM t', 'SELECT', undefined],
    ['', undefined, undefined],
    ["'x'", undefined, undefined],
  ];
  for (const [sql, operation, table] of cases) {
    it(JSON.stringify(sql), () => {
      const r = scanSql(sql, false, Infinity);
      assert.equal(r.operation, operation);
      assert.equal(r.table, table);
      assert.equal(r.text, undefined, 'no statement is built when not sanitizing');
    });
  }
});

describe('db-spans: DbSpanRules', () => {
  const conn = { database: 'shop', user: 'app', host: 'db.internal', port: 5432 };

  it('old names by default: what Coroot reads', () => {
    const rules = new DbSpanRules('postgresql', OLD, 'sanitized', Infinity);
    assert.deepEqual(rules.connectionAttributes(conn), {
      [semconv.SEMATTRS_DB_SYSTEM]: 'postgresql',
      [semconv.SEMATTRS_DB_NAME]: 'shop',
      [semconv.SEMATTRS_DB_USER]: 'app',
      [semconv.SEMATTRS_NET_PEER_NAME]: 'db.internal',
      [semconv.SEMATTRS_NET_PEER_PORT]: 5432,
    });
    assert.deepEqual(rules.statement("SELECT * FROM users WHERE a = 'x'").attributes, {
      [semconv.SEMATTRS_DB_STATEMENT]: 'SELECT * FROM users WHERE a = ?',
      [semconv.SEMATTRS_DB_OPERATION]: 'SELECT',
      [semconv.SEMATTRS_DB_SQL_TABLE]: 'users',
    });
  });

  it('stable names only with database', () => {
    const rules = new DbSpanRules('postgresql', STABLE, 'sanitized', Infinity);
    assert.deepEqual(rules.connectionAttributes(conn), {
      [semconv.ATTR_DB_SYSTEM_NAME]: semconv.DB_SYSTEM_NAME_VALUE_POSTGRESQL,
      [semconv.ATTR_DB_NAMESPACE]: 'shop',
      [semconv.ATTR_SERVER_ADDRESS]: 'db.internal',
      [semconv.ATTR_SERVER_PORT]: 5432,
    });
    assert.deepEqual(rules.statement('DELETE FROM s WHERE id = $1').attributes, {
      [semconv.ATTR_DB_QUERY_TEXT]: 'DELETE FROM s WHERE id = $1',
      [semconv.ATTR_DB_OPERATION_NAME]: 'DELETE',
      [semconv.ATTR_DB_COLLECTION_NAME]: 's',
    });
  });

  it('both with database/dup', () => {
    const rules = new DbSpanRules('postgresql', DUP, 'sanitized', Infinity);
    assert.deepEqual(Object.keys(rules.connectionAttributes(conn)).sort(), [
      'db.name', 'db.namespace', 'db.system', 'db.system.name', 'db.user', 'net.peer.name', 'net.peer.port', 'server.address', 'server.port',
    ]);
    assert.deepEqual(Object.keys(rules.statement('SELECT a FROM b').attributes).sort(), [
      'db.collection.name', 'db.operation', 'db.operation.name', 'db.query.text', 'db.sql.table', 'db.statement',
    ]);
  });

  it('a Unix socket: its path, the socket family, no port', () => {
    const unix = { database: 'shop', host: '/run/pg/.s.PGSQL.5432', unixSocket: true };
    assert.deepEqual(new DbSpanRules('postgresql', OLD, 'sanitized', Infinity).connectionAttributes(unix), {
      'db.system': 'postgresql',
      'db.name': 'shop',
      'net.peer.name': '/run/pg/.s.PGSQL.5432',
      'net.sock.family': 'unix',
      'net.sock.peer.addr': '/run/pg/.s.PGSQL.5432',
    });
    assert.deepEqual(new DbSpanRules('postgresql', STABLE, 'sanitized', Infinity).connectionAttributes(unix), {
      'db.system.name': 'postgresql',
      'db.namespace': 'shop',
      'server.address': '/run/pg/.s.PGSQL.5432',
    });
  });

  it('statement modes: raw keeps literals, off records none; both cut to the limit', () => {
    const sql = "SELECT * FROM users WHERE name = 'alice'";
    assert.equal(new DbSpanRules('postgresql', OLD, 'raw', Infinity).statement(sql).statement, sql);
    assert.equal(new DbSpanRules('postgresql', OLD, 'raw', 20).statement(sql).statement, sql.slice(0, 20));
    assert.equal(new DbSpanRules('postgresql', OLD, 'sanitized', 20).statement(sql).statement, 'SELECT * FROM users ');
    const off = new DbSpanRules('postgresql', OLD, 'off', Infinity).statement(sql);
    assert.equal(off.statement, undefined);
    assert.deepEqual(off.attributes, { 'db.operation': 'SELECT', 'db.sql.table': 'users' });
    assert.equal(off.name, 'SELECT users');
  });

  it('span names: operation and table, else operation and database, else the system', () => {
    const rules = new DbSpanRules('postgresql', OLD, 'sanitized', Infinity);
    assert.equal(rules.spanName(rules.statement('SELECT * FROM users'), 'shop'), 'SELECT users');
    assert.equal(rules.spanName(rules.statement('SELECT 1'), 'shop'), 'SELECT shop');
    assert.equal(rules.spanName(rules.statement('SELECT 1'), undefined), 'postgresql');
    assert.equal(rules.spanName(rules.statement(''), 'shop'), 'postgresql');
    assert.equal(rules.spanName(undefined, 'shop'), 'postgresql');
    assert.equal(rules.spanName(rules.statement("SELECT 'very long literal' FROM t"), 'shop').includes('literal'), false);
  });

  it('scans a text once, keeps at most 128 statements and keeps the ones in use', () => {
    const rules = new DbSpanRules('postgresql', OLD, 'sanitized', Infinity);
    const hot = rules.statement('SELECT * FROM hot WHERE id = $1');
    for (let i = 0; i < 1000; i++) {
      rules.statement(`SELECT ${i} FROM cold`);
      assert.equal(rules.statement('SELECT * FROM hot WHERE id = $1'), hot);
    }
    assert.ok(rules.cache.size <= 128, `cache size ${rules.cache.size}`);
    const huge = `SELECT '${'x'.repeat(10000)}'`;
    rules.statement(huge);
    assert.equal(rules.cache.has(huge), false, 'very long texts are not cached');
  });

  it('errors: exception event, ERROR status with the message, SQLSTATE; error.type in stable mode', () => {
    const spanLike = () => {
      const s = { attributes: {}, events: [], status: undefined };
      s.setAttribute = (k, v) => ((s.attributes[k] = v), s);
      s.addEvent = (name, attributes) => (s.events.push({ name, attributes }), s);
      s.setStatus = (st) => ((s.status = st), s);
      return s;
    };
    const dbErr = Object.assign(new Error('duplicate key value'), { code: '23505' });
    const old = spanLike();
    new DbSpanRules('postgresql', OLD, 'sanitized', Infinity).recordError(old, dbErr);
    assert.deepEqual(old.status, { code: 2, message: 'duplicate key value' });
    assert.deepEqual(old.attributes, { 'db.response.status_code': '23505' });
    assert.equal(old.events[0].name, 'exception');
    assert.equal(old.events[0].attributes['exception.message'], 'duplicate key value');
    const stable = spanLike();
    new DbSpanRules('postgresql', STABLE, 'sanitized', Infinity).recordError(stable, dbErr);
    assert.deepEqual(stable.attributes, { 'db.response.status_code': '23505', 'error.type': '23505' });
    const refused = spanLike();
    new DbSpanRules('postgresql', STABLE, 'sanitized', Infinity).recordError(refused, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    assert.deepEqual(refused.attributes, { 'error.type': 'ECONNREFUSED' });
    const plainErr = spanLike();
    new DbSpanRules('postgresql', STABLE, 'sanitized', Infinity).recordError(plainErr, new TypeError('bad'));
    assert.deepEqual(plainErr.attributes, { 'error.type': 'TypeError' });
  });
});
