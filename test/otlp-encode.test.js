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
const { ChunkEncoder, encodeProtobuf, encodeJson } = require('../dist/otlp-encode');

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

let templateSpan;
/** One finished span to derive others from with {@link fake}. */
function template() {
  templateSpan ??= spans()[1];
  return templateSpan;
}

/** A span like `span` with some fields replaced (own properties over the real span). */
function fake(span, fields) {
  return Object.assign(Object.create(span), { events: [], links: [] }, fields);
}

/** A deterministic generator of integers in [0, n). */
function lcg(seed) {
  let x = seed;
  return (n) => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % n;
  };
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

  it('protobuf: runs of attributes like the previous span\'s (copied bytes), with values, keys, order and types changing', () => {
    // Each span's attributes are the previous span's with a few changes, so that the encoder
    // copies runs of them from the previous span's bytes and re-encodes the rest. Tiny spans and
    // spans with short events move bytes when their length is written (offsets must go stale).
    const rand = lcg(7);
    const shared = ['x', 'y'];
    const values = ['GET', 'POST', 'http', '127.0.0.1', '', 'é', '€uro', 'ü'.repeat(40), 'z'.repeat(200), 8080, 200, 0, -1, 2 ** 40, 1.5, true, false, shared, ['a', 1], new Uint8Array([1, 2])];
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    const s = [];
    let attrs = { k0: 'GET', k1: 'http', k2: 8080, k3: '127.0.0.1' };
    for (let n = 0; n < 400; n++) {
      const next = { ...attrs };
      const op = rand(8);
      const key = keys[rand(keys.length)];
      if (op < 4) next[key] = values[rand(values.length)];
      else if (op === 4) delete next[key];
      else if (op === 5) {
        // same keys, another order
        const entries = Object.entries(next);
        attrs = {};
        for (const [k, v] of entries.reverse()) attrs[k] = v;
        s.push(fake(template(), { attributes: attrs }));
        continue;
      }
      // op 6, 7: the same attributes again
      attrs = next;
      const extra = {};
      if (n % 37 === 0) extra.attributes = {};
      if (n % 11 === 0) extra.events = [{ name: 'e', time: [1, 2], attributes: { k0: 'GET' }, droppedAttributesCount: 0 }];
      if (n % 13 === 0) Object.assign(extra, { name: 'x', attributes: {} }); // under 128 bytes
      s.push(fake(template(), { attributes: attrs, ...extra }));
    }
    // More attributes than the encoder tracks by position, twice in a row.
    const many = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`m${i}`, i % 3 ? `v${i}` : i]));
    s.push(fake(template(), { attributes: many }), fake(template(), { attributes: { ...many, m70: 'changed' } }));
    assert.deepEqual(decode(encodeProtobuf(s)), decode(ProtobufTraceSerializer.serializeRequest(s)));
    // Twice: the second call starts from the caches the first one filled.
    assert.deepEqual(decode(encodeProtobuf(s)), decode(ProtobufTraceSerializer.serializeRequest(s)));
    // Two resources, one scope, interleaved: two ResourceSpans.
    const r1 = resourceFromAttributes({ r: 1 });
    const r2 = resourceFromAttributes({ r: 2 });
    const two = [r1, r2, r1, r2].map((resource) => fake(template(), { resource, attributes: attrs }));
    assert.deepEqual(decode(encodeProtobuf(two)), decode(ProtobufTraceSerializer.serializeRequest(two)));
    // From several scopes, interleaved.
    const mixed = spans().concat(s);
    for (let i = mixed.length - 1; i > 0; i--) {
      const j = rand(i + 1);
      [mixed[i], mixed[j]] = [mixed[j], mixed[i]];
    }
    assert.deepEqual(decode(encodeProtobuf(mixed)), decode(ProtobufTraceSerializer.serializeRequest(mixed)));
  });

  it('protobuf: spans of different kinds interleaved, each like the previous span of its kind', () => {
    // Server spans and the client and database spans of their requests alternate in a batch:
    // the encoder copies runs of attributes from the previous span of the same kind, which
    // is not the span just before. Each kind's attributes change a little from span to span.
    const rand = lcg(11);
    const values = ['GET', 'POST', 'http', '127.0.0.1', '', 'é', 'z'.repeat(200), 8080, 200, 0, -1, 1.5, true, ['a', 1]];
    const kinds = [api.SpanKind.SERVER, api.SpanKind.CLIENT, api.SpanKind.INTERNAL, api.SpanKind.PRODUCER, api.SpanKind.CONSUMER];
    const byKind = kinds.map((k) => Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`k${k}-${i}`, values[(i + k) % values.length]])));
    const s = [];
    for (let n = 0; n < 600; n++) {
      // Mostly server and client in turn, sometimes another kind, sometimes a kind twice.
      const kind = n % 9 === 0 ? kinds[rand(kinds.length)] : n % 2 === 0 ? api.SpanKind.CLIENT : api.SpanKind.SERVER;
      const attrs = { ...byKind[kind] };
      const op = rand(6);
      const key = `k${kind}-${rand(8)}`;
      if (op < 2) attrs[key] = values[rand(values.length)];
      else if (op === 2) delete attrs[key];
      // A span of one kind with another kind's keys now and then.
      const attributes = n % 17 === 0 ? byKind[(kind + 1) % kinds.length] : attrs;
      if (n % 17 !== 0) byKind[kind] = attrs;
      const extra = n % 13 === 0 ? { name: 'x' } : n % 29 === 0 ? { events: [{ name: 'e', time: [1, 2], attributes: { a: 'b'.repeat(n) }, droppedAttributesCount: 0 }] } : {};
      s.push(fake(template(), { kind, attributes, ...extra }));
    }
    assert.deepEqual(decode(encodeProtobuf(s)), decode(ProtobufTraceSerializer.serializeRequest(s)));
    assert.deepEqual(decode(encodeProtobuf(s)), decode(ProtobufTraceSerializer.serializeRequest(s)));
    // In small batches, which reuse the encoder's buffer from its start.
    for (let i = 0; i < s.length; i += 7) {
      const part = s.slice(i, i + 7);
      assert.deepEqual(decode(encodeProtobuf(part)), decode(ProtobufTraceSerializer.serializeRequest(part)));
    }
  });

  it('protobuf: nothing is copied from the previous batch\'s bytes', () => {
    // A batch of over 16 kB (its lengths fill the space kept for them: no bytes move), then one
    // whose first span has the same attributes as the last span before, at offsets this batch's
    // big resource has written over by then.
    const attributes = { a: 'same', b: 1, pad: 'p'.repeat(300) };
    const resource = resourceFromAttributes({ r: 1 });
    const first = Array.from({ length: 60 }, () => fake(template(), { attributes, resource }));
    const next = [fake(template(), { attributes, resource: resourceFromAttributes({ r: 'r'.repeat(100000) }) })];
    assert.deepEqual(decode(encodeProtobuf(first)), decode(ProtobufTraceSerializer.serializeRequest(first)));
    assert.deepEqual(decode(encodeProtobuf(next)), decode(ProtobufTraceSerializer.serializeRequest(next)));
  });

  it('protobuf: attributes past the caches\' bounds (one key with many values, full caches, long and non-ASCII values)', () => {
    const s = [];
    // One key with far more values than it may cache, each seen twice.
    for (let i = 0; i < 600; i++) s.push(fake(template(), { attributes: { 'url.path': `/p/${i % 300}`, port: 40000 + (i % 300) } }));
    // Keys with a new value every time, for long enough that the encoder stops caching them.
    for (let i = 0; i < 1500; i++) s.push(fake(template(), { attributes: { 'url.full': `/f/${i}`, 'peer.port': i, 'url.path': '/p/1' } }));
    // Enough keys and values to fill the whole cache, then new ones past it.
    for (let i = 0; i < 4500; i++) s.push(fake(template(), { attributes: { [`key${i % 40}`]: `value ${i}`, [`n${i % 40}`]: i } }));
    // More keys than the key cache holds (the later ones are encoded anew each time), each span twice.
    for (let i = 0; i < 2100; i++) {
      const attributes = { [`dyn.${i}`]: 'v', x: i % 2 === 0 };
      s.push(fake(template(), { attributes }), fake(template(), { attributes }));
    }
    // Non-ASCII (2-, 3- and 4-byte UTF-8) of every length around the encoder's thresholds, and long values.
    for (let n = 0; n < 140; n++) {
      s.push(fake(template(), { attributes: { a: 'é'.repeat(n), b: `${'a'.repeat(n)}€`, c: '😀'.repeat(n >> 1), d: 'q'.repeat(n), e: 'y'.repeat(n * 10) } }));
    }
    assert.deepEqual(decode(encodeProtobuf(s)), decode(ProtobufTraceSerializer.serializeRequest(s)));
    assert.deepEqual(decode(encodeProtobuf(s)), decode(ProtobufTraceSerializer.serializeRequest(s)));
  });

  it('protobuf: span names past the name cache\'s bound (repeats, a name per span, long, non-ASCII and lone surrogates)', () => {
    const s = [];
    const names = ['GET', 'GET /hello/:name', 'POST /hello/:name', 'SELECT test', 'é'.repeat(40), `x${'€'.repeat(127)}`, 'n'.repeat(129), 'a\ud800b', '\udc00', ''];
    // Small batches, each written over the one before in the encoder's buffer: a cached name must not be a view of it.
    const small = names.map((name) => fake(template(), { name }));
    const other = names.map((name) => fake(template(), { name: `other ${name}`, attributes: { pad: 'p'.repeat(name.length) } }));
    for (const batch of [small, other, small]) assert.deepEqual(decode(encodeProtobuf(batch)), decode(ProtobufTraceSerializer.serializeRequest(batch)));
    // Repeated names, interleaved.
    for (let i = 0; i < 300; i++) s.push(fake(template(), { name: names[i % names.length] }));
    // A new name per span, past the bound, with the repeated ones among them.
    for (let i = 0; i < 2600; i++) s.push(fake(template(), { name: i % 5 === 0 ? names[i % names.length] : `GET /users/${i}` }));
    // The repeated names again, after the cache was emptied and refilled.
    for (let i = 0; i < 300; i++) s.push(fake(template(), { name: names[(i * 7) % names.length] }));
    assert.deepEqual(decode(encodeProtobuf(s)), decode(ProtobufTraceSerializer.serializeRequest(s)));
    // Twice: the second call starts from the cache the first one filled.
    assert.deepEqual(decode(encodeProtobuf(s)), decode(ProtobufTraceSerializer.serializeRequest(s)));
  });

  it('protobuf: timestamps at the edges (nanos 999999999, seconds near 2^32, getters, unnormalized HrTime)', () => {
    const times = [
      [0, 0], [0, 999999999], [1, 0], [1700000000, 123456789], [2 ** 31, 500000000], [2 ** 31 - 1, 999999999],
      [2 ** 32 - 1, 0], [2 ** 32 - 1, 999999999], [4294967294, 1], [123, 456],
      // The low 32 bits overflow into the high ones (the encoder carries by hand).
      [1700000003, 999999999], [1700000003, 500000000], [4294967291, 999999999],
      // Not normalized: upstream truncates each part and adds them up; so must we.
      [1.7, 2.9], [2 ** 32, 5], [10 ** 10, 999999999], [5, 2e9],
    ];
    const s = [];
    for (const t of times) {
      s.push(fake(template(), { startTime: t, endTime: t, events: [{ name: 'e', time: t, attributes: {}, droppedAttributesCount: 0 }] }));
    }
    // The tracer rewrite's spans may expose startTime/endTime as getters.
    const g = fake(template(), {});
    Object.defineProperty(g, 'startTime', { get: () => [2 ** 32 - 1, 999999999] });
    Object.defineProperty(g, 'endTime', { get: () => [2 ** 32 - 1, 999999999] });
    s.push(g);
    const ours = decode(encodeProtobuf(s));
    assert.deepEqual(ours, decode(ProtobufTraceSerializer.serializeRequest(s)));
    assert.equal(ours.resourceSpans[0].scopeSpans[0].spans[7].startTimeUnixNano, '4294967295999999999');
  });

  it('protobuf: upper-case hex ids decode as upstream decodes them', () => {
    const ctx = { traceId: '0AF7651916CD43DD8448EB211C80319C', spanId: 'B7AD6B7169203331', traceFlags: 1, isRemote: false };
    const s = [fake(template(), { links: [{ context: ctx, attributes: {} }], spanContext: () => ctx })];
    assert.deepEqual(decode(encodeProtobuf(s)), decode(ProtobufTraceSerializer.serializeRequest(s)));
  });

  it('protobuf, a span at a time (ChunkEncoder): each body taken decodes as upstream\'s serialization of its spans; tracers that come and go', () => {
    // The processor adds spans as they end and takes a body every 128 spans or at an export:
    // bodies of any size, from scopes and resources that appear, vanish for a body and return.
    const rand = lcg(5);
    const r1 = resourceFromAttributes({ r: 1 });
    const r2 = resourceFromAttributes({ r: 2 });
    const all = spans();
    const t = template();
    // One object per scope, as a tracer shares its own (upstream groups by the object, we by name, version and schema URL).
    const scopes = Array.from({ length: 12 }, (_, i) => ({ name: `scope-${i % 4}`, version: i % 8 < 4 ? '1' : undefined, schemaUrl: i < 8 ? undefined : 'https://s' }));
    for (let i = 0; i < 300; i++) {
      all.push(fake(t, { instrumentationScope: scopes[(i * 7) % 12], resource: i % 5 ? r1 : r2, attributes: { i: i % 3, s: 'same' } }));
    }
    const e = new ChunkEncoder();
    assert.equal(e.take(), undefined, 'an empty body is no body');
    let at = 0;
    let bodies = 0;
    while (at < all.length) {
      // 1 to 60 spans a body, from one scope only now and then.
      const n = rand(5) === 0 ? 1 + rand(3) : 1 + rand(60);
      const part = all.slice(at, at + n);
      for (const s of part) e.add(s);
      assert.equal(e.count, part.length);
      const body = e.take();
      assert.equal(e.count, 0);
      assert.deepEqual(decode(body), decode(ProtobufTraceSerializer.serializeRequest(part)), `body ${bodies} (spans ${at}..${at + n})`);
      at += n;
      bodies++;
    }
    // A writer (and its buffer) is kept only for the scopes of the last body.
    e.add(all[all.length - 1]);
    e.take();
    e.add(all[all.length - 1]);
    e.take();
    assert.equal([...e.writers.values()].reduce((n, m) => n + m.size, 0), 1, 'writers of scopes gone since');
    assert.equal(e.byScope.size, 1);
    // clear() drops the open body's spans, and the next body does not copy from their bytes.
    for (const s of all.slice(0, 10)) e.add(s);
    e.clear();
    assert.equal(e.count, 0);
    assert.equal(e.take(), undefined);
    e.add(all[5]);
    assert.deepEqual(decode(e.take()), decode(ProtobufTraceSerializer.serializeRequest([all[5]])));
  });

  it('protobuf, a span at a time: after a body over 4 MB the writer takes a small buffer again, and ids and times land in it', () => {
    // The writer gives up an oversized buffer once the body is taken; the next span's ids, times
    // and flags (written a word at a time) must go to the new buffer, not the one given up.
    const huge = fake(template(), { attributes: { big: 'x'.repeat(5 * 1024 * 1024) } });
    const next = spans().slice(0, 3);
    const e = new ChunkEncoder();
    e.add(huge);
    assert.ok(e.take().length > 5 * 1024 * 1024);
    for (const s of next) e.add(s);
    assert.deepEqual(decode(e.take()), decode(ProtobufTraceSerializer.serializeRequest(next)));
  });

  it('protobuf, a span at a time: a span that throws while it is encoded leaves nothing behind', () => {
    const attributes = { a: 'same', b: 1, c: 'also the same' };
    const bad = fake(template(), {
      attributes: {
        a: 'same',
        b: 1,
        get c() {
          throw new Error('a getter that throws');
        },
      },
    });
    const good = [fake(template(), { attributes }), fake(template(), { attributes }), fake(template(), { attributes: { ...attributes, d: 2 } })];
    const e = new ChunkEncoder();
    e.add(good[0]);
    assert.throws(() => e.add(bad), /a getter that throws/);
    assert.equal(e.count, 1);
    // The next spans have the attributes the failed one began to write: nothing may be copied from its bytes.
    e.add(good[1]);
    e.add(good[2]);
    assert.deepEqual(decode(e.take()), decode(ProtobufTraceSerializer.serializeRequest(good)));
    assert.throws(() => encodeProtobuf([good[0], bad]), /a getter that throws/);
    assert.deepEqual(decode(encodeProtobuf(good)), decode(ProtobufTraceSerializer.serializeRequest(good)), 'encodeProtobuf after a failed call');
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
