'use strict';

const assert = require('node:assert/strict');
const { context, trace, SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { startCollector } = require('./collector');
const { request } = require('./run');

const toNanos = ([seconds, nanos]) => BigInt(seconds) * 1000000000n + BigInt(nanos);

/** Sends a parent SERVER span and a child CLIENT span through the upstream OTLP/proto exporter. */
async function sendWithUpstreamExporter(collector, compression) {
  const exporter = new OTLPTraceExporter({ url: collector.tracesUrl, compression });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'collector-test' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('collector-test-scope', '1.2.3');

  const parent = tracer.startSpan('GET /hello/:name', {
    kind: SpanKind.SERVER,
    attributes: { 'http.method': 'GET', 'http.status_code': 500, ratio: 0.5, ok: true, tags: ['a', 'b'], counts: [1, 2] },
  });
  const child = tracer.startSpan(
    'SELECT users',
    {
      kind: SpanKind.CLIENT,
      attributes: { 'db.system': 'postgresql' },
      links: [{ context: parent.spanContext(), attributes: { why: 'test' } }],
    },
    trace.setSpan(context.active(), parent),
  );
  child.addEvent('exception', { 'exception.type': 'Error', 'exception.message': 'boom' });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  child.end();
  parent.end();
  await provider.forceFlush();
  await provider.shutdown();
  return { parent, child };
}

describe('test collector', () => {
  let collector;

  afterEach(async () => {
    if (collector) await collector.close();
    collector = undefined;
  });

  for (const compression of ['none', 'gzip']) {
    it(`decodes spans from the upstream protobuf exporter (compression: ${compression})`, async () => {
      collector = await startCollector();
      const sent = await sendWithUpstreamExporter(collector, compression);
      await collector.waitForSpans(2);

      assert.ok(collector.requests.length >= 1);
      for (const req of collector.requests) {
        assert.equal(req.method, 'POST');
        assert.equal(req.path, '/v1/traces');
        assert.equal(req.contentType, 'application/x-protobuf');
        assert.equal(req.headers['content-encoding'], compression === 'gzip' ? 'gzip' : undefined);
        assert.ok(Buffer.isBuffer(req.bytes) && req.bytes.length > 0);
      }

      const parent = collector.spans().find((s) => s.name === 'GET /hello/:name');
      const child = collector.spans().find((s) => s.name === 'SELECT users');
      const parentCtx = sent.parent.spanContext();
      const childCtx = sent.child.spanContext();

      assert.match(parent.traceId, /^[0-9a-f]{32}$/);
      assert.equal(parent.traceId, parentCtx.traceId);
      assert.equal(child.traceId, parentCtx.traceId);
      assert.equal(parent.spanId, parentCtx.spanId);
      assert.equal(child.spanId, childCtx.spanId);
      assert.equal(parent.parentSpanId, '');
      assert.equal(parent.parentSpanIdBytes, 0);
      assert.equal(child.parentSpanId, parentCtx.spanId);
      assert.equal(child.parentSpanIdBytes, 8);

      assert.equal(parent.kind, 'SERVER');
      assert.equal(child.kind, 'CLIENT');
      assert.equal(parent.startTimeUnixNano, toNanos(sent.parent.startTime));
      assert.equal(parent.endTimeUnixNano, toNanos(sent.parent.endTime));
      assert.equal(typeof child.startTimeUnixNano, 'bigint');
      assert.ok(child.endTimeUnixNano >= child.startTimeUnixNano);

      assert.deepEqual(parent.attributes, {
        'http.method': 'GET',
        'http.status_code': 500,
        ratio: 0.5,
        ok: true,
        tags: ['a', 'b'],
        counts: [1, 2],
      });
      assert.deepEqual(child.attributes, { 'db.system': 'postgresql' });
      assert.deepEqual(parent.events, []);
      assert.deepEqual(child.events, [
        {
          name: 'exception',
          timeUnixNano: toNanos(sent.child.events[0].time),
          attributes: { 'exception.type': 'Error', 'exception.message': 'boom' },
        },
      ]);
      assert.deepEqual(child.links, [
        { traceId: parentCtx.traceId, spanId: parentCtx.spanId, traceState: '', attributes: { why: 'test' } },
      ]);

      assert.deepEqual(parent.status, { code: 'UNSET', message: '' });
      assert.deepEqual(child.status, { code: 'ERROR', message: 'boom' });
      assert.equal(parent.resource['service.name'], 'collector-test');
      assert.deepEqual(parent.scope, { name: 'collector-test-scope', version: '1.2.3' });
      assert.equal(parent.traceState, '');
      assert.equal(parent.flags & 0xff, 1); // the W3C sampled bit
    });
  }

  it('decodes an OTLP/JSON request the same way', async () => {
    collector = await startCollector();
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'json-svc' } }] },
          scopeSpans: [
            {
              scope: { name: 'json-scope', version: '0.1.0' },
              spans: [
                {
                  traceId: '5B8EFFF798038103D269B633813FC60C',
                  spanId: 'EEE19B7EC3C1B174',
                  parentSpanId: '',
                  name: 'GET',
                  kind: 2,
                  startTimeUnixNano: '1544712660000000000',
                  endTimeUnixNano: 1544712661000000000,
                  attributes: [
                    { key: 'http.status_code', value: { intValue: '503' } },
                    { key: 'ratio', value: { doubleValue: 0.25 } },
                    { key: 'ok', value: { boolValue: false } },
                    { key: 'list', value: { arrayValue: { values: [{ stringValue: 'x' }, { intValue: 7 }] } } },
                    { key: 'map', value: { kvlistValue: { values: [{ key: 'k', value: { stringValue: 'v' } }] } } },
                    { key: 'raw', value: { bytesValue: Buffer.from('hi').toString('base64') } },
                  ],
                  events: [{ timeUnixNano: '1544712660500000000', name: 'note', attributes: [] }],
                  status: { code: 2, message: 'unavailable' },
                  flags: 257,
                },
                {
                  traceId: '5b8efff798038103d269b633813fc60c',
                  spanId: '1111111111111111',
                  parentSpanId: 'eee19b7ec3c1b174',
                  name: 'child',
                  kind: 'SPAN_KIND_INTERNAL',
                  startTimeUnixNano: '1544712660100000000',
                  endTimeUnixNano: '1544712660200000000',
                  status: {},
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await request(collector.tracesUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(res.body), {});

    const [root, child] = await collector.waitForSpans(2);
    assert.deepEqual(root, {
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      parentSpanId: '',
      parentSpanIdBytes: 0,
      name: 'GET',
      kind: 'SERVER',
      startTimeUnixNano: 1544712660000000000n,
      endTimeUnixNano: 1544712661000000000n,
      attributes: {
        'http.status_code': 503,
        ratio: 0.25,
        ok: false,
        list: ['x', 7],
        map: { k: 'v' },
        raw: Buffer.from('hi'),
      },
      droppedAttributesCount: 0,
      events: [{ name: 'note', timeUnixNano: 1544712660500000000n, attributes: {} }],
      links: [],
      status: { code: 'ERROR', message: 'unavailable' },
      resource: { 'service.name': 'json-svc' },
      scope: { name: 'json-scope', version: '0.1.0' },
      traceState: '',
      flags: 257,
    });
    assert.equal(child.parentSpanId, 'eee19b7ec3c1b174');
    assert.equal(child.parentSpanIdBytes, 8);
    assert.equal(child.kind, 'INTERNAL');
    assert.deepEqual(child.status, { code: 'UNSET', message: '' });
  });

  const jsonBody = (name) =>
    JSON.stringify({
      resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), name }] }] }],
    });
  const postJson = (name) =>
    request(collector.tracesUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: jsonBody(name) });

  it('answers the configured error status, records the request and keeps no spans', async () => {
    collector = await startCollector({ status: 503 });
    const res = await postJson('dropped');
    assert.equal(res.status, 503);
    assert.equal(collector.requests.length, 1);
    assert.equal(collector.requests[0].contentType, 'application/json');
    assert.deepEqual(collector.spans(), []);
  });

  it('takes the status from a function, per request', async () => {
    collector = await startCollector({ status: () => (collector.requests.length === 1 ? 503 : 200) });
    assert.equal((await postJson('first')).status, 503);
    assert.equal((await postJson('second')).status, 200);
    assert.deepEqual(
      collector.spans().map((s) => s.name),
      ['second'],
    );
  });

  it('answers after delayMs', async () => {
    collector = await startCollector({ delayMs: 200 });
    const start = Date.now();
    assert.equal((await postJson('slow')).status, 200);
    assert.ok(Date.now() - start >= 190);
  });

  it('rejects waitForSpans on timeout, naming the spans received', async () => {
    collector = await startCollector();
    await postJson('only-one');
    await assert.rejects(collector.waitForSpans(2, 100), /only-one \(UNSPECIFIED\)/);
    collector.reset();
    assert.deepEqual(collector.requests, []);
    assert.deepEqual(collector.spans(), []);
  });
});
