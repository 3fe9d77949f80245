'use strict';
// Our tracer (src/tracer.ts, src/context.ts) must behave as the SDK's did: end
// to end, an app's own @opentelemetry/api under `node --require` exporting to
// the test collector; in process, the same calls on sdk-trace-base's provider
// and upstream's OTLP serializer reading our spans.
const assert = require('node:assert/strict');
const path = require('node:path');
const protobuf = require('protobufjs');
const api = require('@opentelemetry/api');
const { startCollector } = require('./helpers/collector');
const { runFixture } = require('./helpers/run');

const APP = path.join(__dirname, 'fixtures', 'tracer', 'app.js');
/** The fixture's explicit times start here (epoch ms); in nanoseconds below. */
const T0 = 1700000000000;
const ns = (ms) => BigInt(T0) * 1000000n + BigInt(Math.round(ms * 1e6));
const REMOTE_SAMPLED = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' };
const REMOTE_UNSAMPLED = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };
/** The fixture's link targets: ids are the digit repeated. */
const target = (n) => ({ traceId: String(n).repeat(32), spanId: String(n).repeat(16) });

/** ExportTraceServiceRequest from the proto files the test collector decodes with. */
const Request = (() => {
  const root = new protobuf.Root();
  root.resolvePath = (origin, file) => (path.isAbsolute(file) ? file : path.join(__dirname, 'helpers', 'proto', file));
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  return root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
})();
const decode = (bytes) => Request.toObject(Request.decode(bytes), { longs: String, bytes: String, defaults: true });

// One fixture process per environment, all at once; each names its spans' service.
const LIMITS = { OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '2', OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '4', OTEL_SPAN_EVENT_COUNT_LIMIT: '2', OTEL_SPAN_LINK_COUNT_LIMIT: '2' };
const PER_ITEM = { OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT: '2', OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT: '1', OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '0' };
const RUNS = {
  api: { scenarios: ['api', 'sampling'], env: {} },
  limits: { scenarios: ['limits'], env: LIMITS },
  'per-item': { scenarios: ['perItem'], env: PER_ITEM },
  'traceidratio-1': { scenarios: ['sampling'], env: { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1' } },
  'traceidratio-0': { scenarios: ['sampling'], env: { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' } },
  always_off: { scenarios: ['sampling'], env: { OTEL_TRACES_SAMPLER: 'always_off' } },
  parentbased_always_off: { scenarios: ['sampling'], env: { OTEL_TRACES_SAMPLER: 'parentbased_always_off' } },
};

describe("tracer (end to end, the app's own @opentelemetry/api)", () => {
  let collector;
  /** Per run: what the fixture printed. */
  const printed = {};
  /** Raw OTLP spans by span id: the collector's normalized spans carry no dropped counts. */
  const raw = new Map();
  before(async () => {
    collector = await startCollector();
    await Promise.all(
      Object.entries(RUNS).map(async ([name, { scenarios, env }]) => {
        const r = await runFixture({
          script: APP,
          mode: 'require',
          args: scenarios,
          env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl, OTEL_SERVICE_NAME: name, ...env },
        }).exited;
        assert.equal(r.code, 0, `${name}: ${r.stderr}`);
        printed[name] = JSON.parse(r.stdout);
      }),
    );
    for (const { bytes } of collector.requests) {
      for (const rs of decode(bytes).resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) raw.set(Buffer.from(s.spanId, 'base64').toString('hex'), s);
    }
  });
  after(() => collector.close());

  const spansOf = (run) => collector.spans().filter((s) => s.resource['service.name'] === run);
  const namesOf = (run) => spansOf(run).map((s) => s.name);
  /** The one span of `run` named `name`. */
  const span = (run, name) => {
    const found = spansOf(run).filter((s) => s.name === name);
    assert.equal(found.length, 1, `${run}: ${found.length} span(s) named ${JSON.stringify(name)}`);
    return found[0];
  };
  /** A span's dropped counts: its own, and those of each event and link. */
  const dropped = (s) => {
    const r = raw.get(s.spanId);
    return {
      attributes: r.droppedAttributesCount,
      events: r.droppedEventsCount,
      links: r.droppedLinksCount,
      perEvent: r.events.map((e) => e.droppedAttributesCount),
      perLink: r.links.map((l) => l.droppedAttributesCount),
    };
  };
  const noneDropped = (events, links) => ({ attributes: 0, events: 0, links: 0, perEvent: Array(events).fill(0), perLink: Array(links).fill(0) });

  describe('span limits from the environment', () => {
    it('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: new keys past it are dropped and counted; overwriting a kept key works at the limit; invalid values are not counted', () => {
      const set = span('limits', 'attr-count');
      assert.deepEqual(set.attributes, { a: 'new', b: 2 });
      assert.equal(dropped(set).attributes, 3);
      const options = span('limits', 'attr-count-options');
      assert.deepEqual(options.attributes, { a: 1, b: 2 });
      assert.equal(dropped(options).attributes, 2);
    });

    it('OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: strings and string arrays are cut, numbers and booleans untouched', () => {
      assert.deepEqual(span('limits', 'length-strings').attributes, { s: 'abcd', list: ['abcd', 'xy'] });
      assert.deepEqual(span('limits', 'length-others').attributes, { n: 123456789, nums: [123456, 7] });
      assert.deepEqual(span('limits', 'length-exact').attributes, { exact: 'abcd', b: true });
    });

    it('OTEL_SPAN_EVENT_COUNT_LIMIT: the oldest events give way, droppedEventsCount says how many', () => {
      const s = span('limits', 'event-count');
      assert.deepEqual(s.events.map((e) => e.name), ['e3', 'e4']);
      assert.equal(dropped(s).events, 2);
    });

    it('OTEL_SPAN_LINK_COUNT_LIMIT: the oldest links give way (options, then addLink), droppedLinksCount says how many', () => {
      const s = span('limits', 'link-count');
      assert.deepEqual(s.links.map((l) => l.spanId), [target(3).spanId, target(4).spanId]);
      assert.equal(dropped(s).links, 2);
    });

    it("an event's attributes are bound by the per-event limit (128 by default), not OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: recordException keeps its stack trace", () => {
      const s = span('limits', 'event-attributes');
      assert.deepEqual(s.events[0].attributes, { k1: 'abcd', k2: 2, k3: 3, k4: 4, k5: 5 }, 'values cut to the length limit, none dropped');
      assert.deepEqual(s.events[1].attributes, { 'exception.type': 'Erro', 'exception.message': 'boom', 'exception.stacktrace': 'Erro' });
      assert.deepEqual(dropped(s).perEvent, [0, 0]);
    });

    it("a link's attributes are bound by the per-link limit (128 by default), not OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", () => {
      const s = span('limits', 'link-attributes');
      assert.deepEqual(s.links[0].attributes, { k1: 'abcd', k2: 2, k3: 3 });
      assert.deepEqual(dropped(s).perLink, [0]);
    });

    it('OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT and OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT keep the first attributes and count the rest', () => {
      const s = span('per-item', 'per-item');
      assert.deepEqual(s.events[0].attributes, { k1: 1, k2: 2 });
      assert.deepEqual(s.links[0].attributes, { x: 1 });
      assert.deepEqual(dropped(s), { attributes: 0, events: 0, links: 0, perEvent: [3], perLink: [2] });
    });

    it('OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT=0 cuts nothing (the SDK treats a limit of 0 or less as none)', () => {
      assert.deepEqual(span('per-item', 'length-zero').attributes, { s: 'abcdefgh', list: ['abcdefg'] });
    });

    it('invalid values (objects, mixed or nested arrays), null, undefined and empty keys are skipped; arrays are copied', () => {
      const s = span('api', 'attributes');
      assert.deepEqual(s.attributes, {
        fromOptions: 'o',
        optionList: ['o1'],
        list: ['a', 'b'],
        str: 's',
        int: 7,
        dbl: 1.5,
        bool: false,
        nums: [1, 2],
        bools: [true, false],
        again: 'y',
      });
      assert.deepEqual(s.events[0].attributes, { list: ['a', 'b'] });
      assert.deepEqual(s.links[0].attributes, { list: ['a', 'b'] });
      assert.deepEqual(dropped(s), noneDropped(1, 1));
    });
  });

  describe('API semantics', () => {
    it("startActiveSpan(name, fn): returns fn's value, the span is active inside, children parent to it", () => {
      const out = printed.api.api;
      assert.equal(out.ret2, 'two');
      assert.equal(out.active2, true);
      const top = span('api', 'active-2');
      const nested = span('api', 'active-2-nested');
      assert.equal(top.parentSpanId, '');
      assert.equal(span('api', 'active-2-child').parentSpanId, top.spanId);
      assert.equal(nested.parentSpanId, top.spanId);
      assert.equal(span('api', 'active-2-nested-child').parentSpanId, nested.spanId);
      for (const name of ['active-2-child', 'active-2-nested', 'active-2-nested-child']) assert.equal(span('api', name).traceId, top.traceId);
      assert.equal(out.noneActiveAfter, true, 'no span is active once it returned');
    });

    it('startActiveSpan(name, options, fn) applies the options', () => {
      assert.equal(printed.api.api.ret3, 3);
      assert.equal(printed.api.api.active3, true);
      const s = span('api', 'active-3');
      assert.equal(s.kind, 'SERVER');
      assert.deepEqual(s.attributes, { form: 3 });
    });

    it('startActiveSpan(name, options, context, fn) parents to the given context', () => {
      assert.deepEqual(printed.api.api.ret4, { four: 4 });
      assert.equal(printed.api.api.active4, true);
      const s = span('api', 'active-4');
      assert.equal(s.kind, 'CONSUMER');
      assert.equal(s.traceId, REMOTE_SAMPLED.traceId);
      assert.equal(s.parentSpanId, REMOTE_SAMPLED.spanId);
      assert.equal(span('api', 'active-4-child').parentSpanId, s.spanId);
    });

    it('startActiveSpan(name) alone makes no span and returns undefined', () => {
      assert.equal(printed.api.api.ret1, 'undefined');
      assert.ok(!namesOf('api').includes('active-1'));
    });

    it("an async fn: its promise is returned and the span stays active across await; a throwing fn's error passes through", () => {
      const out = printed.api.api;
      assert.equal(out.retAsync, 'later');
      assert.equal(out.activeAfterAwait, true);
      assert.equal(span('api', 'active-async-child').parentSpanId, span('api', 'active-async').spanId);
      assert.equal(out.thrown, 'from fn');
      assert.equal(out.noneActiveAfterThrow, true);
      span('api', 'active-throws');
    });

    it('root: true starts a new trace inside an active span; so does an explicit root context', () => {
      const outer = span('api', 'root-outer');
      for (const name of ['root-true', 'root-explicit-context']) {
        const s = span('api', name);
        assert.equal(s.parentSpanId, '', name);
        assert.notEqual(s.traceId, outer.traceId, name);
      }
    });

    it('context.bind and context.with(ctx, fn, thisArg, ...args) run in the context', () => {
      assert.equal(printed.api.api.bind, true);
      assert.equal(printed.api.api.withArgs, 3);
    });

    it('suppressed tracing: a non-recording span with an invalid context, nothing exported', () => {
      assert.deepEqual(printed.api.api.suppressed, { recording: false, valid: false });
      assert.ok(!namesOf('api').includes('suppressed'));
    });

    it('explicit start, end and event times as Date and epoch ms; an end before the start becomes the start', () => {
      const dated = span('api', 'time-date');
      assert.equal(dated.startTimeUnixNano, ns(123));
      assert.equal(dated.endTimeUnixNano, ns(456));
      assert.deepEqual(dated.events.map((e) => [e.name, e.timeUnixNano]), [['at-date', ns(200)], ['at-ms', ns(300.5)]]);
      const ms = span('api', 'time-ms');
      assert.equal(ms.startTimeUnixNano, ns(1123.5));
      assert.equal(ms.endTimeUnixNano, ns(1789.25));
      const backwards = span('api', 'time-backwards');
      assert.equal(backwards.startTimeUnixNano, ns(5000));
      assert.equal(backwards.endTimeUnixNano, ns(5000));
    });

    it('explicit start, end and event times as HrTime are exported to the nanosecond', () => {
      const s = span('api', 'time-hrtime');
      assert.equal(s.startTimeUnixNano, 1700000002123456789n);
      assert.equal(s.endTimeUnixNano, 1700000003987654321n);
      assert.equal(s.events[0].timeUnixNano, 1700000002500000001n);
    });

    it('end() twice keeps the first end and exports the span once', () => {
      assert.equal(span('api', 'end-twice').endTimeUnixNano, ns(10));
    });

    it('after end() the span is not recording and every operation is ignored', () => {
      assert.equal(printed.api.api.recordingBeforeEnd, true);
      assert.equal(printed.api.api.recordingAfterEnd, false);
      const s = span('api', 'after-end');
      assert.deepEqual(s.attributes, { before: 1 });
      assert.deepEqual(s.events, []);
      assert.deepEqual(s.links, []);
      assert.deepEqual(s.status, { code: 'UNSET', message: '' });
      assert.deepEqual(dropped(s), noneDropped(0, 0));
      assert.ok(!namesOf('api').includes('after-end-renamed'));
    });

    it('setStatus: OK is final, a message only goes with ERROR (and only a string), UNSET is ignored', () => {
      const statuses = Object.fromEntries(spansOf('api').filter((s) => s.name.startsWith('status-')).map((s) => [s.name, s.status]));
      assert.deepEqual(statuses, {
        'status-ok-is-final': { code: 'OK', message: '' },
        'status-ok-drops-message': { code: 'OK', message: '' },
        'status-error-message': { code: 'ERROR', message: 'bad' },
        'status-unset-ignored': { code: 'ERROR', message: 'kept' },
        'status-error-then-ok': { code: 'OK', message: '' },
        'status-error-not-string': { code: 'ERROR', message: '' },
        'status-error-twice': { code: 'ERROR', message: '' },
      });
    });

    it('updateName renames the exported span', () => {
      span('api', 'renamed');
      assert.ok(!namesOf('api').includes('before-rename'));
    });

    it('recordException: an Error, a string, an object with a code (string or number); nothing for an empty object; an explicit time', () => {
      const s = span('api', 'exceptions');
      assert.deepEqual(s.events.map((e) => e.name), Array(6).fill('exception'));
      const [error, string, code, numeric, onlyName, timed] = s.events.map((e) => e.attributes);
      assert.match(error['exception.stacktrace'], /^TypeError: bad input\n\s+at .*app\.js/);
      assert.deepEqual({ ...error, 'exception.stacktrace': '' }, { 'exception.type': 'TypeError', 'exception.message': 'bad input', 'exception.stacktrace': '' });
      assert.deepEqual(string, { 'exception.message': 'plain failure' });
      assert.deepEqual(code, { 'exception.type': 'ECONNRESET', 'exception.message': 'socket hang up' });
      assert.deepEqual(numeric, { 'exception.type': '42', 'exception.message': 'numeric code' });
      assert.deepEqual(onlyName, { 'exception.type': 'OnlyName' });
      assert.equal(timed['exception.message'], 'timed');
      assert.equal(s.events[5].timeUnixNano, ns(7));
      assert.deepEqual(s.status, { code: 'UNSET', message: '' }, 'recording an exception does not set the status');
    });

    it('links from options, addLink and addLinks keep their order, attributes and trace state', () => {
      const s = span('api', 'links');
      assert.deepEqual(s.links, [
        { ...target(1), traceState: '', attributes: { a: 1 } },
        { ...target(2), traceState: 'vendor=x', attributes: {} },
        { ...target(3), traceState: '', attributes: { c: 'x', list: ['p'] } },
        { ...target(4), traceState: '', attributes: {} },
      ]);
      assert.deepEqual(dropped(s), noneDropped(0, 4));
    });

    it('span kinds (INTERNAL by default)', () => {
      assert.equal(span('api', 'kind-default').kind, 'INTERNAL');
      for (const kind of ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER']) assert.equal(span('api', `kind-${kind}`).kind, kind);
    });

    it("getTracer's name and version are the instrumentation scope", () => {
      assert.deepEqual(span('api', 'kind-default').scope, { name: 'tracer-fixture', version: '4.5.6' });
      assert.deepEqual(span('api', 'scope-no-version').scope, { name: 'second-scope', version: '' });
    });
  });

  describe('samplers', () => {
    const ROOT = ['sampled-root', 'sampled-child'];
    const SAMPLED = ['remote-sampled', 'remote-sampled-child'];
    const UNSAMPLED = ['remote-unsampled', 'remote-unsampled-child'];
    const PARENT = { 'sampled-child': 'sampled-root', 'remote-sampled-child': 'remote-sampled', 'remote-unsampled-child': 'remote-unsampled' };
    const CASES = [
      ['api', 'parentbased_always_on (the default)', [...ROOT, ...SAMPLED]],
      ['traceidratio-1', 'traceidratio with arg 1: everything, whatever the parent says', [...ROOT, ...SAMPLED, ...UNSAMPLED]],
      ['traceidratio-0', 'traceidratio with arg 0: nothing', []],
      ['always_off', 'always_off: nothing', []],
      ['parentbased_always_off', 'parentbased_always_off: only children of a sampled remote parent', SAMPLED],
    ];
    /** A traceparent header's parts. */
    const parse = (header) => {
      const [, traceId, spanId, flags] = header.split('-');
      return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
    };

    for (const [run, title, sampled] of CASES) {
      it(`${title}: what is recorded, exported and propagated`, () => {
        const out = printed[run].sampling;
        const all = [...ROOT, ...SAMPLED, ...UNSAMPLED];
        assert.deepEqual(namesOf(run).filter((n) => all.includes(n)).sort(), [...sampled].sort());
        for (const name of all) {
          const header = parse(out[name].traceparent);
          assert.equal(out[name].recording, sampled.includes(name), `${name} recording`);
          assert.equal(header.sampled, sampled.includes(name), `${name} sampled flag`);
          if (PARENT[name]) assert.equal(header.traceId, parse(out[PARENT[name]].traceparent).traceId, `${name} keeps its parent's trace`);
        }
        assert.equal(parse(out['remote-sampled'].traceparent).traceId, REMOTE_SAMPLED.traceId);
        assert.equal(parse(out['remote-unsampled'].traceparent).traceId, REMOTE_UNSAMPLED.traceId);
        for (const name of sampled) {
          const s = span(run, name);
          assert.equal(s.traceId, parse(out[name].traceparent).traceId);
          assert.equal(s.spanId, parse(out[name].traceparent).spanId);
          const parentId = PARENT[name] ? parse(out[PARENT[name]].traceparent).spanId : { 'remote-sampled': REMOTE_SAMPLED.spanId, 'remote-unsampled': REMOTE_UNSAMPLED.spanId }[name] || '';
          assert.equal(s.parentSpanId, parentId, `${name} parent`);
        }
      });
    }

    it("the default sampler honours an unsampled remote parent: no span, but the parent's trace propagates with flag 00", () => {
      const out = printed.api.sampling;
      for (const name of UNSAMPLED) {
        assert.match(out[name].traceparent, new RegExp(`^00-${REMOTE_UNSAMPLED.traceId}-[0-9a-f]{16}-00$`), name);
        assert.notEqual(parse(out[name].traceparent).spanId, REMOTE_UNSAMPLED.spanId, `${name} has a span id of its own`);
        assert.notEqual(parse(out[name].traceparent).spanId, '0000000000000000');
      }
      assert.ok(!namesOf('api').some((n) => UNSAMPLED.includes(n)));
    });
  });
});

describe('tracer (in process, against sdk-trace-base and the upstream serializer)', () => {
  const { AgentTracerProvider } = require('../dist/tracer');
  const { encodeProtobuf } = require('../dist/otlp-encode');
  const { BasicTracerProvider, AlwaysOnSampler, ParentBasedSampler } = require('@opentelemetry/sdk-trace-base');
  const { resourceFromAttributes } = require('@opentelemetry/resources');
  const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');

  const resource = resourceFromAttributes({ 'service.name': 'tracer-unit', n: 1, list: ['a', 'b'] });
  const DEFAULTS = { attributeValueLengthLimit: Infinity, attributeCountLimit: 128, eventCountLimit: 128, linkCountLimit: 128 };
  // Under LIMITED every event and link keeps all its attributes; under TIGHT they would not if the span's count limit applied to them.
  const LIMITED = { attributeValueLengthLimit: 5, attributeCountLimit: 5, eventCountLimit: 2, linkCountLimit: 2 };
  const TIGHT = { ...LIMITED, attributeCountLimit: 2 };
  /** A sampler that drops spans named `drop` and adds an attribute and a trace state to the rest. */
  const tagging = {
    shouldSample: (ctx, traceId, name) =>
      name === 'drop' ? { decision: 0 } : { decision: 2, attributes: { sampler: 'yes', str: 'from sampler' }, traceState: api.createTraceState('s=1') },
    toString: () => 'tagging',
  };
  const EXCEPTION = new TypeError('bad'); // one stack for both providers
  const collecting = (ended) => ({ onStart() {}, onEnd: (s) => ended.push(s), forceFlush: async () => {}, shutdown: async () => {} });

  /** Our provider, as src/sdk.ts builds it; `ended` collects its spans. */
  function ours(limits, sampler) {
    const ended = [];
    const choice = sampler ? { sampler, parentBasedAlwaysOn: false } : { sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }), parentBasedAlwaysOn: true };
    return { provider: new AgentTracerProvider(resource, choice, limits, [collecting(ended)]), ended };
  }

  /** sdk-trace-base's provider, as src/sdk.ts built it before (per-event and per-link limits at their defaults). */
  function sdks(limits, sampler) {
    const ended = [];
    const spanLimits = { ...limits, attributePerEventCountLimit: 128, attributePerLinkCountLimit: 128 };
    const provider = new BasicTracerProvider({ resource, sampler, spanLimits, generalLimits: limits, spanProcessors: [collecting(ended)] });
    return { provider, ended };
  }

  /** Many features, all times explicit, contexts passed in (no context manager here); returns a span left open. */
  function exercise(provider) {
    const t = provider.getTracer('scope-a', '1.0.0', { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' });
    const remote = api.trace.setSpanContext(api.ROOT_CONTEXT, { ...REMOTE_SAMPLED, traceFlags: 1, isRemote: true, traceState: api.createTraceState('vendor=x') });
    const link = (n, attributes) => ({ context: { ...target(n), traceFlags: 1 }, attributes });
    const p = t.startSpan(
      'parent',
      {
        kind: api.SpanKind.SERVER,
        startTime: new Date(T0),
        attributes: { str: 'a long string', int: 42, dbl: 1.5, bool: true, list: ['abcdefgh', 'b'], nums: [1, 2], obj: {}, nul: null },
        links: [link(1, { l: 1, m: 'mmmmmmmm', n: 3 }), link(2)],
      },
      remote,
    );
    p.setAttribute('extra', 'x').setAttribute('str', 'overwritten value');
    p.addEvent('e1', { a: 1, b: 'bbbbbbbb', c: [1], d: 4 }, new Date(T0 + 1));
    p.addEvent('e2', T0 + 2);
    p.addEvent('e3', { z: 1 }, T0 + 3.5);
    p.recordException(EXCEPTION, new Date(T0 + 4));
    p.addLink(link(3));
    p.setStatus({ code: api.SpanStatusCode.ERROR, message: 'failed' });
    const c = t.startSpan('child', { kind: api.SpanKind.CLIENT, startTime: T0 + 5 }, api.trace.setSpan(api.ROOT_CONTEXT, p));
    c.setStatus({ code: api.SpanStatusCode.OK });
    c.updateName('child renamed');
    c.end(T0 + 6.25);
    c.end(T0 + 7);
    p.end(new Date(T0 + 10));
    t.startSpan('drop', { startTime: T0 }, remote).end(T0 + 1);
    provider.getTracer('scope-b').startSpan('other scope', { kind: api.SpanKind.PRODUCER, startTime: T0, root: true }, remote).end(T0 + 1);
    return t.startSpan('open', { startTime: T0 }, api.ROOT_CONTEXT);
  }

  /** A decoded request with ids replaced by their order of appearance: two providers' random ids differ. */
  function withoutIds(message) {
    const seen = new Map();
    const id = (v) => (seen.has(v) ? seen.get(v) : seen.set(v, `id${seen.size}`).get(v));
    return JSON.parse(JSON.stringify(message, (k, v) => (v && ['traceId', 'spanId', 'parentSpanId'].includes(k) ? id(v) : v)));
  }

  it('encodeProtobuf(our spans) decodes to the same message as upstream ProtobufTraceSerializer (dropped counts, scopes, links, events)', () => {
    const { provider, ended } = ours(LIMITED);
    exercise(provider);
    assert.equal(ended.length, 4);
    const message = decode(ProtobufTraceSerializer.serializeRequest(ended));
    assert.ok(message.resourceSpans[0].scopeSpans[0].spans[1].droppedAttributesCount > 0, 'the limits applied');
    assert.deepEqual(decode(encodeProtobuf(ended)), message);
  });

  it('ids: the encoder writes the same trace, span and parent ids as the hex strings, for local roots, local and remote parents', () => {
    // Our spans carry their ids as 32-bit words, which the encoder writes instead of decoding the hex.
    const { provider, ended } = ours(DEFAULTS);
    const t = provider.getTracer('ids');
    const under = (span) => api.trace.setSpan(api.ROOT_CONTEXT, span);
    for (let i = 0; i < 50; i++) {
      const root = t.startSpan(`root ${i}`, { startTime: T0 }, api.ROOT_CONTEXT);
      const child = t.startSpan('child', { startTime: T0 }, under(root));
      t.startSpan('grandchild', { startTime: T0 }, under(child)).end(T0 + 1);
      child.end(T0 + 2);
      root.end(T0 + 3);
    }
    const remote = api.trace.setSpanContext(api.ROOT_CONTEXT, { ...REMOTE_SAMPLED, traceFlags: 1, isRemote: true });
    const fromRemote = t.startSpan('from remote', { startTime: T0 }, remote);
    t.startSpan('under remote child', { startTime: T0 }, under(fromRemote)).end(T0 + 1);
    fromRemote.end(T0 + 2);
    const message = decode(encodeProtobuf(ended));
    assert.deepEqual(message, decode(ProtobufTraceSerializer.serializeRequest(ended)));
    const hex = (b64) => Buffer.from(b64, 'base64').toString('hex');
    const spans = message.resourceSpans[0].scopeSpans[0].spans;
    assert.equal(spans.length, ended.length);
    spans.forEach((s, i) => {
      const ctx = ended[i].spanContext();
      assert.deepEqual([hex(s.traceId), hex(s.spanId), hex(s.parentSpanId)], [ctx.traceId, ctx.spanId, ended[i].parentSpanContext?.spanId ?? ''], s.name);
    });
  });

  it('times: the encoder writes epoch-ms times as startTime/endTime read (fractions, rounding to the next second, the clock, HrTimes)', () => {
    // The encoder writes our spans' epoch milliseconds itself instead of reading startTime's array.
    const { provider, ended } = ours(DEFAULTS);
    const t = provider.getTracer('times');
    for (const [start, end] of [
      [T0 + 0.123456789, T0 + 1.987654321],
      [T0 + 999.9999996, T0 + 1999.9999999],
      [T0 + 0.0000004, T0 + 0.5],
      [[1700000000, 999999999], T0 + 5],
      [T0, [1700000001, 1]],
    ]) {
      t.startSpan('timed', { startTime: start }, api.ROOT_CONTEXT).end(end);
    }
    t.startSpan('clock', {}, api.ROOT_CONTEXT).end();
    const nanos = (s) => [BigInt(s.startTimeUnixNano), BigInt(s.endTimeUnixNano)];
    const mine = decode(encodeProtobuf(ended)).resourceSpans[0].scopeSpans[0].spans;
    const theirs = decode(ProtobufTraceSerializer.serializeRequest(ended)).resourceSpans[0].scopeSpans[0].spans;
    assert.deepEqual(mine.map(nanos), theirs.map(nanos));
    const hr = (h) => BigInt(h[0]) * 1_000_000_000n + BigInt(h[1]);
    assert.deepEqual(mine.map(nanos), ended.map((s) => [hr(s.startTime), hr(s.endTime)]));
  });

  it('span contexts are made when first asked for: encoded before that, ids, trace state and flags are the same', () => {
    // The tracer keeps a span's ids as words and makes the hex context only on spanContext().
    const sampler = { shouldSample: (ctx, traceId) => ({ decision: 2, traceState: api.createTraceState(`t=${traceId.slice(0, 8)}`) }), toString: () => 's' };
    const { provider, ended } = ours(DEFAULTS, sampler);
    const t = provider.getTracer('lazy');
    const remote = api.trace.setSpanContext(api.ROOT_CONTEXT, { ...REMOTE_SAMPLED, traceFlags: 1, isRemote: true });
    for (const parent of [api.ROOT_CONTEXT, remote]) t.startSpan('never asked', { startTime: T0 }, parent).end(T0 + 1);
    const message = decode(encodeProtobuf(ended));
    const hex = (b64) => Buffer.from(b64, 'base64').toString('hex');
    message.resourceSpans[0].scopeSpans[0].spans.forEach((s, i) => {
      const ctx = ended[i].spanContext();
      assert.equal(ended[i].spanContext(), ctx, 'one context object per span');
      assert.deepEqual([hex(s.traceId), hex(s.spanId), s.traceState, s.flags & 0xff], [ctx.traceId, ctx.spanId, ctx.traceState.serialize(), ctx.traceFlags]);
      assert.equal(ctx.traceState.serialize(), `t=${ctx.traceId.slice(0, 8)}`, 'the sampler saw the trace id the span has');
    });
    assert.equal(ended[1].spanContext().traceId, REMOTE_SAMPLED.traceId);
  });

  for (const [title, limits, sampler] of [
    ['default limits and sampler', DEFAULTS, undefined],
    ['tight limits', TIGHT, undefined],
    ['a sampler that adds attributes and trace state, and drops a span', DEFAULTS, tagging],
  ]) {
    it(`the same calls on sdk-trace-base's provider export the same content: ${title}`, () => {
      const a = ours(limits, sampler);
      const b = sdks(limits, sampler ?? new ParentBasedSampler({ root: new AlwaysOnSampler() }));
      exercise(a.provider);
      exercise(b.provider);
      assert.deepEqual(a.ended.map((s) => s.name), b.ended.map((s) => s.name));
      assert.deepEqual(withoutIds(decode(ProtobufTraceSerializer.serializeRequest(a.ended))), withoutIds(decode(ProtobufTraceSerializer.serializeRequest(b.ended))));
    });
  }

  it("ReadableSpan: HrTime startTime, endTime and duration, ended, dropped counts, parent, resource and scope read as the SDK's", () => {
    const a = ours(LIMITED);
    const b = sdks(LIMITED, new ParentBasedSampler({ root: new AlwaysOnSampler() }));
    const open = [exercise(a.provider), exercise(b.provider)];
    const fields = (s) => ({
      name: s.name,
      kind: s.kind,
      startTime: s.startTime,
      endTime: s.endTime,
      duration: s.duration,
      ended: s.ended,
      recording: s.isRecording(),
      status: s.status,
      droppedAttributesCount: s.droppedAttributesCount,
      droppedEventsCount: s.droppedEventsCount,
      droppedLinksCount: s.droppedLinksCount,
      events: s.events,
      // A local parent's span id is random.
      parent: s.parentSpanContext && { ...s.parentSpanContext, spanId: s.parentSpanContext.isRemote ? s.parentSpanContext.spanId : 'local', traceState: s.parentSpanContext.traceState?.serialize() },
      resource: s.resource.attributes,
      scope: s.instrumentationScope,
    });
    for (let i = 0; i < b.ended.length; i++) assert.deepEqual(fields(a.ended[i]), fields(b.ended[i]), b.ended[i].name);
    assert.deepEqual(fields(open[0]), fields(open[1]), 'a span not yet ended');
    assert.deepEqual(a.ended[0].duration, [0, 1250000]);
  });

  it('ids: 32 and 16 lowercase hex digits, never all zeros, all distinct', () => {
    const { provider } = ours(DEFAULTS);
    const t = provider.getTracer('ids');
    const traces = new Set();
    const spans = new Set();
    for (let i = 0; i < 2000; i++) {
      const { traceId, spanId } = t.startSpan('s', {}, api.ROOT_CONTEXT).spanContext();
      assert.match(traceId, /^[0-9a-f]{32}$/);
      assert.match(spanId, /^[0-9a-f]{16}$/);
      assert.ok(api.trace.isSpanContextValid({ traceId, spanId, traceFlags: 1 }));
      traces.add(traceId);
      spans.add(spanId);
    }
    assert.equal(traces.size, 2000);
    assert.equal(spans.size, 2000);
  });
});
