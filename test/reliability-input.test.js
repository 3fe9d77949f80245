'use strict';
// Issue 9, bad input end to end: every supported environment variable set to
// garbage, empty, negative, huge and wrongly-typed values (the app starts and
// serves, a warning names each bad variable); hostile requests (odd methods,
// enormous URLs and headers, invalid UTF-8, adversarial trace headers) get the
// same answers as without the agent and attributes within the length limit;
// otel-instrument with a NODE_OPTIONS that already preloads something.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { startCollector } = require('./helpers/collector');
const { runFixture, request, REPO } = require('./helpers/run');
const { OPTIONS } = require('../dist/options');
const { readConfig } = require('../dist/config');

const FIX = path.join(__dirname, 'fixtures', 'reliability');
const SERVER_APP = path.join(FIX, 'server-app.js');
const HTTP_ON = fs.existsSync(path.join(REPO, 'dist', 'instrumentations', 'http.js'));

/** Sends raw bytes, resolves with the status code of the answer ('closed' when the server hung up without one). */
function raw(port, bytes) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(5000, () => socket.destroy());
    socket.on('data', (c) => {
      data += c.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m && /\r\n\r\n/.test(data)) {
        socket.destroy();
        resolve(Number(m[1]));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve('closed'));
    socket.end(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1'));
  });
}

const TID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SID = '00f067aa0ba902b7';
const big = (n, c = 'a') => c.repeat(n);
/** Requests no sane client sends; each is [name, bytes, expected parent span id ('' = a new trace) or undefined]. */
const HOSTILE = [
  ['PROPFIND method', 'PROPFIND /dav HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['PURGE method', 'PURGE /cache HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['M-SEARCH method', 'M-SEARCH * HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['lower-case method (Node rejects it)', 'get / HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['unknown method (Node rejects it)', 'FOOBAR / HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['enormous URL', `GET /${big(15000)}?q=${big(500, 'b')} HTTP/1.1\r\nHost: x\r\n\r\n`],
  ['enormous header values', `GET /h HTTP/1.1\r\nHost: x\r\nUser-Agent: ${big(8000, 'u')}\r\nX-Big: ${big(6000, 'x')}\r\n\r\n`],
  ['header beyond Node\'s limit (Node answers 431)', `GET /h HTTP/1.1\r\nHost: x\r\nX-Big: ${big(20000)}\r\n\r\n`],
  ['invalid UTF-8, percent-encoded in the path and raw in a header', Buffer.concat([Buffer.from('GET /%ff%fe/%c3%28/%ed%a0%80?q=%80 HTTP/1.1\r\nHost: x\r\nUser-Agent: '), Buffer.from([0xff, 0xc0, 0x80, 0xed, 0xa0, 0x80]), Buffer.from('\r\nX-Name: \xe9t\xe9\r\n\r\n', 'latin1')])],
  ['raw invalid UTF-8 in the request line (Node rejects it)', Buffer.concat([Buffer.from('GET /\xff\xfe/%ff%c3%28/'), Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), Buffer.from(' HTTP/1.1\r\nHost: x\r\nUser-Agent: '), Buffer.from([0xff, 0xc0, 0x80, 0xed, 0xa0, 0x80]), Buffer.from('\r\n\r\n')])],
  ['host header garbage', `GET /x HTTP/1.1\r\nHost: ${big(3000, '\xe9')}:99999999\r\n\r\n`],
  ['upper-case traceparent: new trace', `GET /t HTTP/1.1\r\nHost: x\r\ntraceparent: 00-${TID.toUpperCase()}-${SID}-01\r\n\r\n`, ''],
  ['all-zero trace id: new trace', `GET /t HTTP/1.1\r\nHost: x\r\ntraceparent: 00-${'0'.repeat(32)}-${SID}-01\r\n\r\n`, ''],
  ['version ff: new trace', `GET /t HTTP/1.1\r\nHost: x\r\ntraceparent: ff-${TID}-${SID}-01\r\n\r\n`, ''],
  ['future version with extra fields: continued', `GET /t HTTP/1.1\r\nHost: x\r\ntraceparent: cc-${TID}-${SID}-01-future-stuff\r\n\r\n`, SID],
  ['50 repeated traceparent headers: new trace', `GET /t HTTP/1.1\r\nHost: x\r\n${`traceparent: 00-${TID}-${SID}-01\r\n`.repeat(50)}\r\n`, ''],
  ['huge tracestate and baggage: trace continued, state dropped', `GET /t HTTP/1.1\r\nHost: x\r\ntraceparent: 00-${TID}-${SID}-01\r\ntracestate: ${'k=v,'.repeat(2000)}\r\nbaggage: ${'k=v,'.repeat(1500)}\r\n\r\n`, SID],
  ['non-ASCII b3: new trace', `GET /t HTTP/1.1\r\nHost: x\r\nb3: ${TID}-\xe9\xe9-1\r\n\r\n`, ''],
];

describe('reliability: bad input end to end', function () {
  this.timeout(60000);
  let collector;
  before(async () => {
    collector = await startCollector();
  });
  after(() => collector.close());
  beforeEach(() => collector.reset());

  const KINDS = {
    garbage: '%%~garbage,=;~%%',
    empty: '',
    blank: '   ',
    negative: '-1',
    huge: '9'.repeat(20000),
    'out of range': '1e400',
    'wrong type (bool)': 'true',
    'wrong type (json)': '{"a":[1,2]}',
    'non-ASCII': 'ünïcödé😀',
  };

  it(`every supported variable at once, for each kind of bad value (${Object.keys(KINDS).join(', ')}): the app starts and serves, each bad variable is named`, async () => {
    const run = async ([kind, value]) => {
      const env = Object.fromEntries(OPTIONS.map((o) => [o.env, value]));
      // With OTEL_SDK_DISABLED=true (the 'true' kind) the entry stops before reading anything else: no warnings.
      const expected = readConfig(env).config.disabled ? [] : readConfig(env).warnings;
      const h = runFixture({ script: SERVER_APP, mode: 'require', env });
      const port = await h.waitForPort();
      for (let i = 0; i < 5; i++) assert.equal((await request(`http://127.0.0.1:${port}/x`)).status, 200, kind);
      // Warnings are printed at start-up, before `listening`. (Exit under a bad endpoint is tested elsewhere;
      // here it would only wait for the shutdown deadline.)
      const r = await h.kill('SIGKILL');
      for (const w of expected) assert.ok(r.stderr.includes(w), `${kind}: missing warning ${w}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /failed to start|TypeError|RangeError/, kind);
      return [kind, OPTIONS.filter((o) => expected.some((w) => w.includes(o.env))).length];
    };
    const named = [];
    const entries = Object.entries(KINDS);
    // Three at a time: each run is a separate app process.
    for (let i = 0; i < entries.length; i += 3) named.push(...(await Promise.all(entries.slice(i, i + 3).map(run))));
    const byKind = Object.fromEntries(named);
    // Numbers, booleans, enums and lists all refuse garbage: most variables are named.
    assert.ok(byKind.garbage >= 25, `variables named for garbage: ${byKind.garbage}`);
    assert.ok(byKind.negative >= 20, `variables named for -1: ${byKind.negative}`);
    assert.equal(byKind.empty, 0, 'an empty variable is unset: no warning');
  });

  it('hostile requests: the same answers as without the agent; attributes within OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT; trace headers per W3C', async () => {
    const statuses = {};
    for (const mode of ['none', 'require']) {
      const h = runFixture({ script: SERVER_APP, mode, env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '64', OTEL_PROPAGATORS: 'tracecontext,baggage,b3' } });
      const port = await h.waitForPort();
      statuses[mode] = [];
      for (const [name, bytes] of HOSTILE) {
        collector.reset();
        statuses[mode].push(await raw(port, bytes));
        if (mode === 'require' && HTTP_ON && statuses[mode].at(-1) === 200) {
          const [server] = await collector.waitForSpans((s) => s.some((x) => x.kind === 'SERVER'), 5000);
          const want = HOSTILE.find(([n]) => n === name)[2];
          const span = collector.spans().find((x) => x.kind === 'SERVER') || server;
          if (want !== undefined) {
            assert.equal(span.parentSpanId, want, `${name}: parent`);
            if (want !== '') assert.equal(span.traceId, TID, name);
            if (want !== '') assert.equal(span.traceState.length <= 512, true, `${name}: tracestate bounded`);
          }
          for (const s of collector.spans()) {
            assert.ok(s.name.length <= 64 && !s.name.includes('aaaaaaaa'), `${name}: span name ${JSON.stringify(s.name.slice(0, 80))}`);
            for (const [k, v] of Object.entries(s.attributes)) {
              const values = Array.isArray(v) ? v : [v];
              for (const x of values) if (typeof x === 'string') assert.ok(x.length <= 64, `${name}: ${k} has ${x.length} chars`);
            }
          }
        }
      }
      // The app still serves normally after all that.
      assert.equal((await request(`http://127.0.0.1:${port}/after`)).status, 200);
      const r = await h.kill('SIGTERM');
      assert.equal(r.signal, 'SIGTERM', r.stderr);
      if (mode === 'require') assert.doesNotMatch(r.stderr, /internal error/, r.stderr);
    }
    assert.deepEqual(statuses.require, statuses.none, `answers with the agent vs without, in order: ${HOSTILE.map(([n]) => n).join('; ')}`);
    assert.ok(statuses.none.filter((s) => s === 200).length >= 13, String(statuses.none));
  });

  it('otel-instrument with a NODE_OPTIONS that already preloads something, and a -- separator: both preloads run once, spans arrive', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otel rel '));
    const other = path.join(dir, 'other preload.js');
    fs.writeFileSync(other, "console.log(`other preload in ${require('path').basename(process.argv[1] || '')}`)");
    try {
      const r = await runFixture({
        script: path.join(FIX, 'exit-app.js'),
        mode: 'cli',
        cliFlags: ['--service_name', 'with "quotes" and spaces', '--exporter_otlp_traces_endpoint', collector.tracesUrl, '--'],
        env: { NODE_OPTIONS: `--require "${other}" --max-old-space-size=200` },
      }).exited;
      assert.equal(r.code, 0, r.stderr);
      // NODE_OPTIONS reaches the launcher (a Node script) too; in the app, the other preload runs once, then the app.
      assert.match(r.stdout, /^(other preload in otel-instrument\n)?other preload in exit-app\.js\nspans made\n$/);
      const spans = await collector.waitForSpans(10);
      assert.equal(spans[0].resource['service.name'], 'with "quotes" and spans'.replace('spans', 'spaces'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
