'use strict';
// Our OTLP encoder must produce what the official proto definitions decode to
// the same message as upstream's serializer does, for every field we emit.
const assert = require('node:assert/strict');
const path = require('node:path');
const protobuf = require('protobufjs');
const api = require('@opentelemetry/api');
const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { ProtobufTraceSerializer, JsonTraceSerializer } = require('@opentelemetry/otlp-transformer');
const { encodeProtobuf, encodeJson } = require('../dist/otlp-encode');

function spans() {
  const ended = [];
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'enc', n: 1, list: ['a', 'b'] }),
    spanProcessors: [{ onStart() {}, onEnd: (s) => ended.push(s), forceFlush: async () => {}, shutdown: async () => {} }],
  });
  const t = provider.getTracer('scope-a', '1.0.0');
  const t2 = provider.getTracer('scope-b');
  const remote = api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true,
    traceState: require('@opentelemetry/core').TraceState ? new (require('@opentelemetry/core').TraceState)('vendor=x,other=y') : undefined,
  });
  const p = t.startSpan(`parent ${'é'.repeat(60)} ${'€'.repeat(50)}`, {
    kind: api.SpanKind.SERVER,
    attributes: {
      short: 'x', long: 'y'.repeat(300), mid: 'ü'.repeat(50), ascii50: 'a'.repeat(50), int: 42, neg: -5, big: 2 ** 40, dbl: 1.5,
      t: true, f: false, arr: ['a', 'bb'], nums: [1, 2.5], bools: [true], 'k€y': 'v',
    },
  }, remote);
  p.addEvent('exception', { 'exception.type': 'Error', 'exception.message': 'boom' });
  p.addLink({ context: { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 0, isRemote: false }, attributes: { l: 1 } });
  p.setStatus({ code: api.SpanStatusCode.ERROR, message: 'bad thing' });
  const c = t.startSpan('child', { kind: api.SpanKind.CLIENT }, api.trace.setSpan(api.ROOT_CONTEXT, p));
  c.setStatus({ code: api.SpanStatusCode.OK });
  c.end();
  p.end();
  for (let i = 0; i < 200; i++) t2.startSpan(`s${i}`, { attributes: { i, s: `value ${i}`.repeat(i % 7) } }).end();
  return ended;
}

describe('OTLP encoder', () => {
  let Request;
  before(() => {
    const root = new protobuf.Root();
    root.resolvePath = (o, t) => (path.isAbsolute(t) ? t : path.join(__dirname, 'helpers', 'proto', t));
    root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
    Request = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  });
  const decode = (bytes) => Request.toObject(Request.decode(bytes), { longs: String, bytes: String, defaults: true });

  it('protobuf: decodes to the same request as upstream serializer output', () => {
    const s = spans();
    assert.deepEqual(decode(encodeProtobuf(s)), decode(ProtobufTraceSerializer.serializeRequest(s)));
  });

  it('protobuf: a batch after a huge one is still right (buffer reuse and growth)', () => {
    const s = spans();
    const big = Array.from({ length: 20 }, () => s).flat();
    assert.equal(decode(encodeProtobuf(big)).resourceSpans[0].scopeSpans[1].spans.length, 4000);
    assert.deepEqual(decode(encodeProtobuf(s.slice(0, 3))), decode(ProtobufTraceSerializer.serializeRequest(s.slice(0, 3))));
  });

  it('JSON: the same content as upstream OTLP/JSON', () => {
    const s = spans();
    const norm = (buf) => JSON.parse(Buffer.from(buf).toString('utf8'), (k, v) => (v === undefined || (k === 'droppedAttributesCount' && v === 0) || (k.startsWith('dropped') && v === 0) ? undefined : v));
    const ours = norm(encodeJson(s));
    const theirs = norm(JsonTraceSerializer.serializeRequest(s));
    const strip = (o) => JSON.parse(JSON.stringify(o, (k, v) => (k === 'flags' || (k === 'code' && v === 0) ? undefined : k === 'intValue' ? String(v) : v)));
    assert.deepEqual(strip(ours), strip(theirs));
    assert.equal(ours.resourceSpans[0].scopeSpans[0].spans[1].flags, 0x301, 'sampled, parent remote');
  });
});
