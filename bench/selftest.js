'use strict';
/**
 * Checks the benchmark's own parts, no timing involved: the sink's wire-format span counter
 * against requests encoded by protobufjs (a dev dependency) from the OTLP .proto files, and the
 * wrk report parser. Run: `node bench/selftest.js` (exit code 0 when every check passes).
 */
const assert = require('node:assert/strict');
const path = require('node:path');
const protobuf = require('protobufjs');
const { countProtobuf, counts } = require('./sink');
const { parseWrk } = require('./lib/wrk');

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

console.log(`${passed} passed, 0 failed`);
