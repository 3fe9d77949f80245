'use strict';
/**
 * Checks the benchmark's own parts, no timing involved: the sink's wire-format span counter
 * against requests encoded by protobufjs (a dev dependency) from the OTLP .proto files, and the
 * wrk report parser, and the open-loop generator against a local server. Run: `node bench/selftest.js` (exit code 0 when every check passes).
 */
const assert = require('node:assert/strict');
const path = require('node:path');
const protobuf = require('protobufjs');
const { countProtobuf, counts } = require('./sink');
const { parseWrk } = require('./lib/wrk');
const { summarize, notes, targetsTable } = require('./lib/report');

const PROTO_DIR = path.join(__dirname, '..', 'test', 'helpers', 'proto');
const root = new protobuf.Root();
root.resolvePath = (origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target));
root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
const Request = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

const id = (n, len) => Buffer.alloc(len, n);
const span = (name, parent) => ({
  traceId: id(1, 16),
  spanId: id(2, 8),
  parentSpanId: parent ? id(3, 8) : undefined,
  name,
  kind: 2,
  startTimeUnixNano: 1_700_000_000_000_000_000n.toString(),
  endTimeUnixNano: 1_700_000_000_100_000_000n.toString(),
  attributes: [{ key: 'http.method', value: { stringValue: 'GET' } }, { key: 'n', value: { intValue: 300 } }],
  events: [{ name: 'exception', timeUnixNano: '1', attributes: [{ key: 'k', value: { doubleValue: 1.5 } }] }],
  status: { code: 2, message: 'boom' },
});

let passed = 0;
function check(name, fn) {
  fn();
  passed++;
  console.log(`ok - ${name}`);
}

check('sink counts spans and roots across resources and scopes', () => {
  const body = Request.encode(
    Request.create({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'a' } }] },
          scopeSpans: [
            { scope: { name: 's1', version: '1' }, spans: [span('GET /a'), span('SELECT t', true)] },
            { scope: { name: 's2' }, spans: [span('GET /a')] },
          ],
          schemaUrl: 'https://x',
        },
        { scopeSpans: [{ spans: [span('fetch', true), span('fetch', true)] }] },
      ],
    }),
  ).finish();
  Object.assign(counts, { spans: 0, roots: 0, names: Object.create(null) });
  countProtobuf(Buffer.from(body));
  assert.equal(counts.spans, 5);
  assert.equal(counts.roots, 2);
  assert.deepEqual({ ...counts.names }, { 'GET /a': 2, 'SELECT t': 1, fetch: 2 });
});

check('sink counts an empty request as no spans and rejects a truncated one', () => {
  Object.assign(counts, { spans: 0, roots: 0, names: Object.create(null) });
  countProtobuf(Buffer.alloc(0));
  assert.equal(counts.spans, 0);
  const body = Buffer.from(Request.encode(Request.create({ resourceSpans: [{ scopeSpans: [{ spans: [span('x')] }] }] })).finish());
  assert.throws(() => countProtobuf(body.subarray(0, body.length - 3)));
});

check('wrk report parser', () => {
  const r = parseWrk(`Running 3s test @ http://127.0.0.1:1/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms  500.00us  20.00ms   90.00%
  Latency Distribution
     50%  850.00us
     75%    3.00ms
     90%    4.00ms
     99%    1.20s
  45678 requests in 3.00s, 5.00MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 7
Requests/sec:  15226.00
Transfer/sec:      1.67MB
`);
  assert.deepEqual(r, { requests: 45678, seconds: 3, rps: 15226, p50: 0.85, p90: 4, p99: 1200, non2xx: 7, socketErrors: 3 });
});

check('report: a variant that receives no span counts no loss, and says so; ours with no span misses the target', () => {
  const rec = (variant, served, spans, roots, lost) => ({ app: 'http', variant, round: 1, method: 'sequential', rps: 1000, cpuUsPerReq: 10, served, spans, roots, lost, agentDrops: 0, errors: 0, sinkErrors: 0, names: {}, exit: 0 });
  const records = [rec('none', 100, 0, 0, 0), rec('als', 100, 0, 0, 100), rec('ours', 100, 0, 0, 100), rec('good', 100, 100, 100, 0)];
  const summary = summarize(records, ['http'], ['none', 'als', 'ours', 'good']);
  const by = Object.fromEntries(summary.map((x) => [x.variant, x]));
  assert.ok(Number.isNaN(by.als.lost));
  assert.equal(by.good.lost, 0);
  assert.equal(by.none.lost, 0);
  const said = notes(summary);
  assert.match(said, /http \/ als: no span received/);
  assert.doesNotMatch(said, /http \/ (none|good): no span received/);
  const target = targetsTable(summary).split('\n').find((l) => l.startsWith('| http: no span dropped'));
  assert.match(target, /\*\*not met\*\*/);
});

/** The open-loop generator against a local server: response framing, and paired turns. */
async function openLoopChecks() {
  const http = require('node:http');
  const { Generator, runPaired } = require('./open-loop');
  const slowArrivals = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/chunked') {
      res.write('ab');
      res.end('cd');
    } else if (req.url === '/slow') {
      slowArrivals.push(performance.now());
      setTimeout(() => res.end('late'), 20);
    } else if (req.url === '/lower') {
      // fastify writes its header names in lower case; a 404 must count as non-2xx.
      res.writeHead(404, { 'content-length': '2' });
      res.end('no');
    } else {
      res.end('hello');
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    for (const [p, non2xx] of [['/plain', 0], ['/chunked', 0], ['/lower', 200]]) {
      const r = await new Generator({ url: new URL(base + p), rate: 1000, duration: 0.2, connections: 4 }).run();
      assert.equal(r.completed, 200, p);
      assert.equal(r.non2xx, non2xx, p);
    }
    // Two targets, turns of 0.1 s, 0.3 s each: three turns of 100 requests each, in their own order.
    const t0 = performance.now();
    const r = await runPaired({ urls: [new URL(`${base}/a`), new URL(`${base}/b`)], rate: 1000, duration: 0.3, connections: 4, sliceMs: 100 });
    assert.ok(performance.now() - t0 >= 500, 'the turns follow each other');
    for (const t of r.targets) {
      assert.equal(t.completed, 300);
      assert.deepEqual(t.turns.map((x) => x.n), [100, 100, 100]);
    }
    // An app that cannot keep up (2 connections, 20 ms each: 100 requests/s of 1000) gets no load outside its turns.
    const s0 = performance.now();
    const o = await runPaired({ urls: [new URL(`${base}/slow`), new URL(`${base}/b`)], rate: 1000, duration: 0.2, connections: 2, sliceMs: 100 });
    // Its turns are [0, 100) and [200, 300) ms; a request sent just before a turn's end may arrive a little after.
    const outside = slowArrivals.filter((t) => {
      const at = (t - s0) % 200;
      return at > 110 && at < 195;
    });
    assert.deepEqual(outside, [], 'no request of the slow app arrives in the other app\'s turn');
    assert.ok(o.targets[0].missed > 100, `missed ${o.targets[0].missed}`);
    assert.equal(o.targets[0].completed, 200);
    // The other one keeps up (a request or two may wait at a turn's end when the timers run late).
    assert.ok(o.targets[1].missed < 20, `missed ${o.targets[1].missed}`);
    passed++;
    console.log('ok - open-loop generator: framing (length, chunked, lower-case names), status, paired turns, no load outside a turn');
  } finally {
    server.close();
    server.closeAllConnections();
  }
}

openLoopChecks().then(
  () => console.log(`${passed} passed, 0 failed`),
  (err) => {
    console.error('not ok - open-loop generator:', err);
    process.exitCode = 1;
  },
);
