'use strict';
// W3C Trace Context Level 2 through a real server: the harness sends headers to
// a service under the agent, which calls back to the harness with http.request;
// the headers of that callback are what the agent propagated. Cases follow the
// W3C test suite (w3c/trace-context test/test.py, Level 2 key grammar).
const assert = require('node:assert/strict');
const { startCollector } = require('./helpers/collector');
const { sendJson, startApp, startHarness } = require('./fixtures/http/harness');

const TRACE = '12345678901234567890123456789012';
const PARENT = '1234567890123456';
const VALID = `00-${TRACE}-${PARENT}-01`;

describe('propagation (W3C Trace Context Level 2, baggage, b3)', function () {
  let collector;
  let harness;
  let app;
  let b3app;
  let offApp;

  before(async () => {
    collector = await startCollector();
    harness = await startHarness();
    [app, b3app, offApp] = await Promise.all([
      startApp(collector),
      startApp(collector, { OTEL_PROPAGATORS: 'b3,tracecontext,baggage' }),
      startApp(collector, { OTEL_TRACES_SAMPLER: 'always_off', OTEL_SERVICE_NAME: 'always-off' }),
    ]);
  });
  after(async () => {
    await Promise.all([app?.handle.kill(), b3app?.handle.kill(), offApp?.handle.kill()]);
    await harness?.close();
    await collector?.close();
  });

  /** Sends `headers` (flat list) to the service; resolves with the headers of its outgoing call. */
  async function outgoing(headers, target = app) {
    const before = harness.seen.length;
    const r = await sendJson(target.port, `/call?to=${encodeURIComponent(`${harness.url}/p`)}&via=request`, { headers });
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(harness.seen.length, before + 1);
    return harness.last().headers;
  }

  function traceparent(headers) {
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(headers.traceparent);
    assert.ok(m, `outgoing traceparent ${headers.traceparent}`);
    return { traceId: m[1], parentId: m[2], flags: m[3] };
  }

  async function continued(headers) {
    const tp = traceparent(await outgoing(headers));
    assert.equal(tp.traceId, TRACE, `${JSON.stringify(headers)} should continue the trace`);
    assert.notEqual(tp.parentId, PARENT);
    return tp;
  }

  async function restarted(headers) {
    const tp = traceparent(await outgoing(headers));
    assert.notEqual(tp.traceId, TRACE, `${JSON.stringify(headers)} should restart the trace`);
    assert.notEqual(tp.traceId, '0'.repeat(32));
    return tp;
  }

  async function tracestate(value, list = [value]) {
    const headers = ['traceparent', `00-${TRACE}-${PARENT}-00`];
    for (const v of list) headers.push('tracestate', v);
    const out = await outgoing(headers);
    assert.equal(traceparent(out).traceId, TRACE, 'a bad tracestate never affects traceparent');
    return out.tracestate;
  }

  describe('traceparent', () => {
    it('absent: a new trace with the sampled and random-trace-id flags, and a root server span', async () => {
      const tp = traceparent(await outgoing([]));
      assert.equal(tp.flags, '03');
      const spans = await collector.waitForSpans((s) => s.some((x) => x.kind === 'CLIENT' && x.traceId === tp.traceId));
      const server = spans.find((s) => s.kind === 'SERVER' && s.traceId === tp.traceId);
      assert.equal(server.parentSpanId, '');
      assert.equal(server.parentSpanIdBytes, 0, 'no parent span id at all, not zeros');
    });

    it('valid: same trace id, a new parent id (the client span), each call its own parent id', async () => {
      const tp = await continued(['traceparent', VALID]);
      const spans = await collector.waitForSpans((s) => s.some((x) => x.spanId === tp.parentId));
      const client = spans.find((s) => s.spanId === tp.parentId);
      assert.equal(client.kind, 'CLIENT');
      const server = spans.find((s) => s.spanId === client.parentSpanId);
      assert.equal(server.kind, 'SERVER');
      assert.equal(server.parentSpanId, PARENT);
      const again = await continued(['traceparent', VALID]);
      assert.notEqual(again.parentId, tp.parentId);
    });

    it('header name in any case', async () => {
      await continued(['TraceParent', VALID]);
      await continued(['TRACEPARENT', VALID]);
    });

    it('optional white space around the value', async () => {
      await continued(['traceparent', ` ${VALID}`]);
      await continued(['traceparent', `${VALID}\t`]);
      await continued(['traceparent', `\t ${VALID} \t`]);
    });

    it('random-trace-id flag: sent again as received with the same trace id; unknown flags zeroed', async () => {
      assert.equal((await continued(['traceparent', `00-${TRACE}-${PARENT}-03`])).flags, '03');
      assert.equal((await continued(['traceparent', `00-${TRACE}-${PARENT}-01`])).flags, '01');
      assert.equal((await continued(['traceparent', `00-${TRACE}-${PARENT}-09`])).flags, '01');
      assert.equal((await continued(['traceparent', `00-${TRACE}-${PARENT}-ff`])).flags, '03');
    });

    it('not sampled upstream: no span here, the context passes through unchanged (with its tracestate)', async () => {
      for (const flags of ['00', '02']) {
        const out = await outgoing(['traceparent', `00-${TRACE}-${PARENT}-${flags}`, 'tracestate', 'congo=t61rcWkgMzE']);
        assert.equal(out.traceparent, `00-${TRACE}-${PARENT}-${flags}`);
        assert.equal(out.tracestate, 'congo=t61rcWkgMzE');
      }
      // A higher version is sent back as version 00.
      assert.equal((await outgoing(['traceparent', `cc-${TRACE}-${PARENT}-00-x`])).traceparent, `00-${TRACE}-${PARENT}-00`);
    });

    it('higher versions: parsed by their first four fields, sent back as version 00', async () => {
      await continued(['traceparent', `cc-${TRACE}-${PARENT}-01`]);
      await continued(['traceparent', `cc-${TRACE}-${PARENT}-01-what-the-future-will-be-like`]);
      await restarted(['traceparent', `cc-${TRACE}-${PARENT}-01.what-the-future-will-be-like`]);
    });

    it('invalid values restart the trace', async () => {
      const bad = [
        `00-${TRACE}-${PARENT}-01.`,
        `00-${TRACE}-${PARENT}-01-what-the-future-will-be-like`,
        `ff-${TRACE}-${PARENT}-01`,
        `.0-${TRACE}-${PARENT}-01`,
        `0.-${TRACE}-${PARENT}-01`,
        `000-${TRACE}-${PARENT}-01`,
        `0-${TRACE}-${PARENT}-01`,
        `00-${'0'.repeat(32)}-${PARENT}-01`,
        `00-.${TRACE.slice(1)}-${PARENT}-01`,
        `00-${TRACE}3-${PARENT}-01`,
        `00-${TRACE.slice(1)}-${PARENT}-01`,
        `00-${TRACE}-${'0'.repeat(16)}-01`,
        `00-${TRACE}-.${PARENT.slice(1)}-01`,
        `00-${TRACE}-${PARENT}7-01`,
        `00-${TRACE}-${PARENT.slice(1)}-01`,
        `00-${TRACE}-${PARENT}-.0`,
        `00-${TRACE}-${PARENT}-001`,
        `00-${TRACE}-${PARENT}-1`,
        `00-${TRACE.toUpperCase().replace(/1/g, 'A')}-${PARENT}-01`,
      ];
      for (const value of bad) await restarted(['traceparent', value]);
    });

    it('wrong header names and repeated traceparent headers restart the trace', async () => {
      await restarted(['trace-parent', VALID]);
      await restarted(['trace.parent', VALID]);
      await restarted(['traceparent', `00-${TRACE.slice(0, -1)}1-${PARENT}-01`, 'traceparent', VALID]);
    });
  });

  describe('tracestate', () => {
    it('carried with a valid traceparent, and dropped without one', async () => {
      assert.equal(await tracestate('foo=1,bar=2'), 'foo=1,bar=2');
      const alone = await outgoing(['tracestate', 'foo=1,bar=2']);
      assert.equal(alone.tracestate, undefined);
      const bad = await outgoing(['traceparent', `ff-${TRACE}-${PARENT}-01`, 'tracestate', 'foo=1']);
      assert.equal(bad.tracestate, undefined, 'not parsed when traceparent is invalid');
    });

    it('header name in any case; wrong names ignored', async () => {
      assert.equal(await outgoing(['traceparent', VALID, 'TrAcEsTaTe', 'foo=1']).then((h) => h.tracestate), 'foo=1');
      assert.equal(await outgoing(['traceparent', VALID, 'trace-state', 'foo=1']).then((h) => h.tracestate), undefined);
    });

    it('empty headers and members are accepted, an empty tracestate is not sent', async () => {
      assert.equal(await tracestate(''), undefined);
      assert.equal(await tracestate(null, ['foo=1', '']), 'foo=1');
      assert.equal(await tracestate(null, ['', 'foo=1']), 'foo=1');
      assert.equal(await tracestate('foo=1,, ,bar=2'), 'foo=1,bar=2');
    });

    it('several headers are combined in order', async () => {
      assert.equal(await tracestate(null, ['foo=1,bar=2', 'rojo=1,congo=2', 'baz=3']), 'foo=1,bar=2,rojo=1,congo=2,baz=3');
    });

    it('optional white space around members is dropped, leading spaces of values kept', async () => {
      assert.equal(await tracestate('foo=1 \t , \t bar=2, \t baz=3'), 'foo=1,bar=2,baz=3');
      assert.equal(await tracestate('\t foo=1 \t'), 'foo=1');
      assert.equal(await tracestate('foo= 1'), 'foo= 1');
    });

    it('duplicated keys discard the whole header', async () => {
      assert.equal(await tracestate('foo=1,foo=1'), undefined);
      assert.equal(await tracestate('foo=1,foo=2'), undefined);
      assert.equal(await tracestate(null, ['foo=1', 'foo=2']), undefined);
    });

    it('up to 32 members; 33 discard the whole header', async () => {
      const members = Array.from({ length: 33 }, (_, i) => `bar${String(i + 1).padStart(2, '0')}=${i + 1}`);
      assert.equal(await tracestate(members.slice(0, 32).join(',')), members.slice(0, 32).join(','));
      assert.equal(await tracestate(members.join(',')), undefined);
    });

    it('keys: Level 2 grammar (digits first, "@" anywhere after the first character, 256 characters)', async () => {
      for (const ok of ['foo@=1', 'foo@@bar=1', 'foo@bar@baz=1', '1abc=1', `${'t'.repeat(242)}@v=1`, `t@${'v'.repeat(15)}=1`, 'z'.repeat(256) + '=1']) {
        assert.equal(await tracestate(`${ok},bar=2`), `${ok},bar=2`);
      }
      for (const bad of ['@foo=1', 'foo =1', 'FOO=1', 'foo.bar=1', 'z'.repeat(257) + '=1']) {
        assert.equal(await tracestate(`${bad},bar=2`), undefined, bad);
      }
    });

    it('values: printable ASCII without "," and "=", not ending in a space, up to 256 characters', async () => {
      const key = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
      const chars = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => String.fromCharCode(a + i)).join('');
      const value = chars(0x20, 0x2b) + chars(0x2d, 0x3c) + chars(0x3e, 0x7e);
      assert.equal(await tracestate(`${key}=${value}`), `${key}=${value}`);
      assert.equal(await tracestate(`${key}@a-z0-9_-*/=${value}`), `${key}@a-z0-9_-*/=${value}`);
      assert.equal(await tracestate(`foo=${'v'.repeat(256)}`), `foo=${'v'.repeat(256)}`);
      assert.equal(await tracestate(`foo=${'v'.repeat(257)}`), undefined);
      assert.equal(await tracestate('foo=bar=baz'), undefined);
      assert.equal(await tracestate('foo=,bar=3'), undefined);
    });
  });

  describe('baggage and b3', () => {
    it('baggage is carried downstream', async () => {
      const out = await outgoing(['traceparent', VALID, 'baggage', 'userId=alice,tier=gold;p=1']);
      assert.equal(out.baggage, 'userId=alice,tier=gold;p=1');
    });

    it('baggage without a traceparent is carried downstream too (the server still extracts it)', async () => {
      const out = await outgoing(['baggage', 'only=baggage']);
      assert.equal(out.baggage, 'only=baggage');
    });

    it('with OTEL_PROPAGATORS=b3,...: b3 continues the trace, is sent on, and traceparent says the id was not ours', async () => {
      const out = await outgoing(['b3', `${TRACE}-${PARENT}-1`], b3app);
      const m = /^([0-9a-f]{32})-([0-9a-f]{16})-1$/.exec(out.b3);
      assert.ok(m, out.b3);
      assert.equal(m[1], TRACE);
      const tp = traceparent(out);
      assert.equal(tp.traceId, TRACE);
      assert.equal(tp.flags, '01', 'a b3 trace id carries no random-trace-id promise');
      assert.equal(traceparent(await outgoing(['traceparent', `00-${TRACE}-${PARENT}-03`], b3app)).flags, '03');
      assert.equal(traceparent(await outgoing([], b3app)).flags, '03');
    });
  });

  describe('sampling', () => {
    it('always_off: no spans and nothing invented; what was received passes through unchanged', async () => {
      const none = await outgoing([], offApp);
      assert.equal(none.traceparent, undefined);
      const out = await outgoing(['traceparent', VALID, 'tracestate', 'foo=1', 'baggage', 'k=v'], offApp);
      assert.equal(out.traceparent, VALID);
      assert.equal(out.tracestate, 'foo=1');
      assert.equal(out.baggage, 'k=v');
      await outgoing([], app);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(collector.spans().filter((s) => s.resource['service.name'] === 'always-off'), []);
    });
  });
});
