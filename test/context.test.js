'use strict';
// contextWithSpan (src/context.ts): the context a span runs in is a lighter object than the
// API's, and must answer every Context call as trace.setSpan's context does.
const assert = require('node:assert/strict');
const api = require('@opentelemetry/api');
const { contextWithSpan } = require('../dist/context');

const span = (name) => api.trace.wrapSpanContext({ traceId: name.padEnd(32, '1'), spanId: name.padEnd(16, '2'), traceFlags: 1 });
const OTHER = api.createContextKey('other');

/** What a context holds, read through the API. */
function read(ctx) {
  return {
    span: api.trace.getSpan(ctx),
    other: ctx.getValue(OTHER),
    baggage: api.propagation.getBaggage(ctx)?.getEntry('k')?.value,
  };
}

describe('contextWithSpan', () => {
  const a = span('a');
  const b = span('b');
  // Each step applied to the API's context and to ours must read the same.
  const steps = {
    'as made': (c) => c,
    'another value set': (c) => c.setValue(OTHER, 42),
    'the span replaced': (c) => api.trace.setSpan(c, b),
    'the span replaced, then a value set': (c) => api.trace.setSpan(c, b).setValue(OTHER, 'x'),
    'the span deleted': (c) => api.trace.deleteSpan(c),
    'an absent key deleted': (c) => c.deleteValue(OTHER),
    'baggage set': (c) => api.propagation.setBaggage(c, api.propagation.createBaggage({ k: { value: 'v' } })),
    'tracing suppressed, then the span read': (c) => c.setValue(Symbol.for('OpenTelemetry SDK Context Key SUPPRESS_TRACING'), true),
  };
  const parents = {
    'the root context': api.ROOT_CONTEXT,
    'a context holding a value and a remote span': api.trace.setSpan(api.ROOT_CONTEXT.setValue(OTHER, 'kept'), span('r')),
    'one of ours': contextWithSpan(api.ROOT_CONTEXT.setValue(OTHER, 'under'), span('p')),
  };
  for (const [over, parent] of Object.entries(parents)) {
    for (const [title, step] of Object.entries(steps)) {
      it(`over ${over}, ${title}: reads as trace.setSpan's context`, () => {
        const ours = step(contextWithSpan(parent, a));
        const theirs = step(api.trace.setSpan(parent, a));
        assert.deepEqual(read(ours), read(theirs));
      });
    }
  }

  it('leaves the context it came from unchanged, and is the root context again once its span is deleted', () => {
    const ctx = contextWithSpan(api.ROOT_CONTEXT, a);
    api.trace.setSpan(ctx, b);
    ctx.setValue(OTHER, 1);
    assert.equal(api.trace.getSpan(ctx), a);
    assert.equal(ctx.getValue(OTHER), undefined);
    assert.equal(api.trace.deleteSpan(ctx), api.ROOT_CONTEXT);
  });

  it('over a context holding other values, keeps them (as trace.setSpan)', () => {
    const parent = api.ROOT_CONTEXT.setValue(OTHER, 'kept');
    const ctx = contextWithSpan(parent, a);
    assert.deepEqual(read(ctx), { span: a, other: 'kept', baggage: undefined });
    assert.equal(parent.getValue(api.createContextKey('OpenTelemetry Context Key SPAN')), undefined);
  });
});

// The storage's async hook on Node 20 and 22 (src/context.ts, splitPropagation): its own copy of
// Node's `_propagate`, one access site per frequent kind of resource. Propagation must stay what
// Node's method gives, for every kind and next to the app's own storage.
describe('context across async resources, under the agent', () => {
  const path = require('node:path');
  const { runFixture, AGENT } = require('./helpers/run');
  const FIXTURE = path.join(__dirname, 'fixtures', 'core', 'context-kinds.js');

  async function run(options) {
    const r = await runFixture({ ...options, script: FIXTURE, env: { OTEL_TRACES_EXPORTER: 'none', ...options.env } }).exited;
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    for (const [kind, turns] of Object.entries(out.seen)) {
      assert.deepEqual(turns, [[true, true], [true, true]], `${kind}: [the span active, the app's store] per turn`);
    }
    assert.equal(Object.keys(out.seen).length, 11);
    return out;
  }

  it("every kind of callback runs in the span it was scheduled in, and the app's storage keeps its store", async () => {
    const out = await run({ mode: 'require' });
    // Node 24 keeps context without an async hook: there is no method to replace.
    assert.equal(out.own, out.hook, 'the storage has a _propagate of its own where Node has the method');
  });

  it('leaves a _propagate it does not know as it is, and context still flows', async () => {
    const out = await run({ mode: 'none', env: { PATCH_PROPAGATE: '1', AGENT } });
    assert.equal(out.own, false);
  });
});
