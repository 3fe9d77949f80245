'use strict';
// Property-based test of the propagators the agent configures
// (createPropagator(['tracecontext', 'baggage', 'b3'])): thousands of random and
// adversarial header values, plain-object carriers as Node's `req.headers` holds
// them. Properties: extraction never throws and stays fast (no regex blow-up on
// huge values); invalid context is ignored per the W3C / B3 rules (checked
// against an independent oracle below, written from the specs, not from our
// code); valid context is continued; what we inject again is always valid.
//
// Reproduce a failure with FUZZ_SEED=<seed printed in the failure>.
const assert = require('node:assert/strict');
const api = require('@opentelemetry/api');
const { createPropagator } = require('../dist/sdk');

const SEED = Number(process.env.FUZZ_SEED || Date.now() % 2 ** 31);
const RUNS = Number(process.env.FUZZ_RUNS || 4000);
/** Longest a single extraction may take, whatever the input (16 KB is Node's default header limit; we go beyond). */
const MAX_EXTRACT_MS = 25;

/** mulberry32: small, seeded, good enough to explore inputs reproducibly. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (list) => list[int(list.length)];
  const hex = (n) => Array.from({ length: n }, () => '0123456789abcdef'[int(16)]).join('');
  const str = (n, alphabet) => Array.from({ length: n }, () => alphabet[int(alphabet.length)]).join('');
  return { next, int, pick, hex, str, chance: (p) => next() < p };
}

const HEX = '0123456789abcdef';
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
const NASTY = ['\u0000', '\t', '\n', '\r', '\u00a0', '\u2028', '\ufeff', 'é', 'ß', '日本', '\ud83d\ude00', '\ud800', '\u00ff', '%', '%zz', '%E0%A4%A', ',', ';', '=', '-', ' '];

// ---------------------------------------------------------------------------------------------
// Oracles, from the specs.
// W3C Trace Context Level 2: https://www.w3.org/TR/trace-context-2/
// ---------------------------------------------------------------------------------------------

const isLowerHex = (s) => s.length > 0 && [...s].every((c) => HEX.includes(c));
const isZeros = (s) => /^0+$/.test(s);
/** Removes optional white space (RFC 9110: SP and HTAB only) around a value. */
function ows(s) {
  let a = 0;
  let b = s.length;
  while (a < b && (s[a] === ' ' || s[a] === '\t')) a++;
  while (b > a && (s[b - 1] === ' ' || s[b - 1] === '\t')) b--;
  return s.slice(a, b);
}

/** The span context a `traceparent` value carries, or null when it must be ignored (restart the trace). */
function oracleTraceparent(value) {
  if (Array.isArray(value)) {
    // More than one traceparent field: the vendor cannot know which one is right.
    if (value.length !== 1) return null;
    value = value[0];
  }
  if (typeof value !== 'string') return null;
  const s = ows(value);
  if (s.length < 55) return null;
  const version = s.slice(0, 2);
  if (!isLowerHex(version) || version === 'ff') return null;
  if (s[2] !== '-' || s[35] !== '-' || s[52] !== '-') return null;
  const traceId = s.slice(3, 35);
  const spanId = s.slice(36, 52);
  const flags = s.slice(53, 55);
  if (!isLowerHex(traceId) || !isLowerHex(spanId) || !isLowerHex(flags)) return null;
  if (isZeros(traceId) || isZeros(spanId)) return null;
  // Version 00 has exactly four fields; a later version may add fields, each after a dash.
  if (version === '00' && s.length !== 55) return null;
  if (s.length > 55 && s[55] !== '-') return null;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

const KEY_FIRST = 'abcdefghijklmnopqrstuvwxyz0123456789';
const KEY_CHARS = KEY_FIRST + '_-*/@';
/** The `tracestate` members kept (as serialized), or undefined when the header is discarded (all or nothing). */
function oracleTracestate(value) {
  if (value === undefined) return undefined;
  const combined = Array.isArray(value) ? value.join(',') : value;
  if (typeof combined !== 'string') return undefined;
  const out = [];
  const keys = new Set();
  for (const raw of combined.split(',')) {
    const member = ows(raw);
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    const val = member.slice(eq + 1);
    if (key.length > 256 || !KEY_FIRST.includes(key[0]) || ![...key].every((c) => KEY_CHARS.includes(c))) return undefined;
    if (val.length < 1 || val.length > 256) return undefined;
    for (const c of val) {
      const code = c.charCodeAt(0);
      if (c.length !== 1 || code < 0x20 || code > 0x7e || c === ',' || c === '=') return undefined;
    }
    if (val.endsWith(' ')) return undefined;
    if (keys.has(key)) return undefined;
    keys.add(key);
    out.push(`${key}=${val}`);
  }
  if (out.length === 0 || out.length > 32) return undefined;
  return out.join(',');
}

/**
 * B3 single header (https://github.com/openzipkin/b3-propagation): `{TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`,
 * trace id 16 or 32 hex, span id 16 hex, neither all zeros. Returns the context, or null.
 * Lenient where the agent is (documented in src/b3.ts): case-insensitive hex, trimmed value.
 */
function oracleB3Single(value) {
  if (Array.isArray(value)) value = value[0];
  if (typeof value !== 'string') return null;
  const parts = value.trim().toLowerCase().split('-');
  const [traceId, spanId, sampled] = parts;
  if (traceId === undefined || spanId === undefined) return null;
  if (!(traceId.length === 16 || traceId.length === 32) || !isLowerHex(traceId) || isZeros(traceId)) return null;
  if (spanId.length !== 16 || !isLowerHex(spanId) || isZeros(spanId)) return null;
  return { traceId: traceId.padStart(32, '0'), spanId, sampled: sampled === '1' || sampled === 'd' };
}

/** B3 multiple headers: each id is a whole header value. */
function oracleB3Multi(carrier) {
  const one = (v) => (Array.isArray(v) ? v[0] : v);
  const traceId = one(carrier['x-b3-traceid']);
  const spanId = one(carrier['x-b3-spanid']);
  if (typeof traceId !== 'string' || typeof spanId !== 'string' || /[-\s]/.test(traceId.trim() + spanId.trim())) return null;
  return oracleB3Single(`${traceId.trim()}-${spanId.trim()}`);
}

// ---------------------------------------------------------------------------------------------
// Generators: valid values, then mutations and plain garbage.
// ---------------------------------------------------------------------------------------------

function nonZeroHex(r, n) {
  let h;
  do h = r.hex(n);
  while (isZeros(h));
  return h;
}

function validTraceparent(r) {
  const version = r.chance(0.8) ? '00' : r.pick(['01', '0f', 'cc', 'fe', r.hex(2)].filter((v) => v !== 'ff' && v !== '00'));
  let tp = `${version}-${nonZeroHex(r, 32)}-${nonZeroHex(r, 16)}-${r.hex(2)}`;
  if (version !== '00' && r.chance(0.5)) {
    tp += '-' + r.str(r.int(40), PRINTABLE);
  }
  return tp;
}

/** One random change that may or may not keep the value valid; the oracle decides. */
function mutate(r, s) {
  switch (r.int(16)) {
    case 0: { // upper-case hex
      const i = r.int(s.length);
      return s.slice(0, i) + s[i].toUpperCase() + s.slice(i + 1);
    }
    case 1: // drop a character (wrong length)
      return ((i) => s.slice(0, i) + s.slice(i + 1))(r.int(s.length));
    case 2: // add a character
      return ((i) => s.slice(0, i) + r.pick(HEX + '-x ') + s.slice(i))(r.int(s.length + 1));
    case 3: // all-zero trace id
      return s.slice(0, 3) + '0'.repeat(32) + s.slice(35);
    case 4: // all-zero span id
      return s.slice(0, 36) + '0'.repeat(16) + s.slice(52);
    case 5: // version ff
      return 'ff' + s.slice(2);
    case 6: // a future version with extra fields (valid), or version 00 with them (invalid)
      return r.pick(['00', '01', 'a7', 'fe']) + s.slice(2, 55) + r.pick(['-', '-extra', '-x-y-z', 'x', '.', '-' + r.str(r.int(100), PRINTABLE)]);
    case 7: // optional white space (valid) or other white space (invalid)
      return r.pick([' ', '\t', ' \t ', '\n', '\r\n', '\u00a0', '\v']) + s + r.pick(['', ' ', '\t', '\n', '\u3000']);
    case 8: // non-ASCII somewhere
      return ((i) => s.slice(0, i) + r.pick(NASTY) + s.slice(i + 1))(r.int(s.length));
    case 9: // separators swapped
      return s.replace(/-/g, r.pick(['_', ' ', '', '--', '.']));
    case 10: // repeated header (Node's joined form, or an array)
      return r.chance(0.5) ? `${s}, ${validTraceparent(r)}` : [s, validTraceparent(r)];
    case 11: // a single-element array is just the value
      return [s];
    case 12: // truncated
      return s.slice(0, r.int(s.length));
    case 13: // a future version with huge extra fields
      return '42' + s.slice(2, 55) + '-' + 'x'.repeat(1000 + r.int(20000));
    case 14: // flags with unknown bits set
      return s.slice(0, 53) + r.pick(['ff', '02', '03', 'fe', '80', '09']) + s.slice(55);
    default:
      return s;
  }
}

/** A character-level change to a hex id: case, length, a non-hex character, zeros. */
function mutateId(r, id) {
  const i = r.int(id.length);
  switch (r.int(5)) {
    case 0:
      return id.toUpperCase();
    case 1:
      return id.slice(1);
    case 2:
      return id + r.pick(['0', 'a', '-']);
    case 3:
      return id.slice(0, i) + r.pick(['g', 'x', ' ', 'é', '\u0000']) + id.slice(i + 1);
    default:
      return '0'.repeat(id.length);
  }
}

function garbage(r) {
  switch (r.int(6)) {
    case 0:
      return '';
    case 1:
      return r.str(r.int(80), PRINTABLE);
    case 2:
      return r.str(r.int(80), HEX + '-');
    case 3:
      return Array.from({ length: r.int(30) }, () => r.pick(NASTY)).join('');
    case 4:
      return Buffer.from(Array.from({ length: r.int(100) }, () => r.int(256))).toString('latin1');
    default:
      return r.pick([' ', '\t ', '-', '0', 'a=', ',', ', ', ';', '%']).repeat(r.int(20000)) + r.str(r.int(3), PRINTABLE);
  }
}

/**
 * A value as Node hands it over in `req.headers`: the bytes on the wire read as latin1,
 * so UTF-8 arrives as mojibake and no string holds a lone surrogate.
 */
function asHeader(v) {
  return Array.isArray(v) ? v.map(asHeader) : Buffer.from(v, 'utf8').toString('latin1');
}

/** Bombs aimed at backtracking regexes: long runs of what a pattern repeats, ending in what breaks the match. */
function bombs() {
  const out = [];
  for (const n of [1000, 16000, 64000]) {
    for (const run of [' ', '\t', ' \t', '-', '0', 'a', ',', ' ,', '=', 'a=b,', '@', '*']) {
      const body = run.repeat(Math.ceil(n / run.length));
      out.push(`a${body}x`, `${body}\u0000`, `00-${body}`, `${body}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

const getter = api.defaultTextMapGetter;
const setter = api.defaultTextMapSetter;

/**
 * Extracts, timing it. A slow call is timed again (best of three, so that a GC pause is not
 * mistaken for a slow parser) and fails the test at once when it stays slow.
 */
function timedExtract(propagator, carrier) {
  for (const k of Object.keys(carrier)) carrier[k] = asHeader(carrier[k]);
  const time = () => {
    const t0 = process.hrtime.bigint();
    const ctx = propagator.extract(api.ROOT_CONTEXT, carrier, getter);
    return [ctx, Number(process.hrtime.bigint() - t0) / 1e6];
  };
  const [ctx, ms] = time();
  if (ms > MAX_EXTRACT_MS) {
    const best = Math.min(ms, time()[1], time()[1]);
    assert.ok(best <= MAX_EXTRACT_MS, `extraction took ${best.toFixed(1)} ms (limit ${MAX_EXTRACT_MS}): ${describeCarrier(carrier)}`);
  }
  return ctx;
}

function describeCarrier(carrier) {
  const short = (v) => (typeof v === 'string' && v.length > 120 ? `${JSON.stringify(v.slice(0, 60))}... (${v.length} chars)` : JSON.stringify(v));
  return Object.entries(carrier).map(([k, v]) => `${k}: ${short(v)}`).join('; ');
}

const TRACEPARENT_OUT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[0-3]$/;

describe(`propagation fuzz (seed ${SEED}, ${RUNS} runs per header; FUZZ_SEED=${SEED} reproduces)`, function () {
  this.timeout(60000);
  const propagator = createPropagator(['tracecontext', 'baggage', 'b3']);
  const w3c = createPropagator(['tracecontext']);

  it('traceparent + tracestate: valid context continued, invalid ignored, never a throw', () => {
    const r = rng(SEED);
    let valid = 0;
    for (let i = 0; i < RUNS; i++) {
      const traceparent = r.chance(0.15) ? garbage(r) : r.chance(0.3) ? validTraceparent(r) : mutate(r, validTraceparent(r));
      const carrier = { traceparent };
      if (r.chance(0.6)) carrier.tracestate = r.chance(0.5) ? validTracestate(r) : mutateTracestate(r, validTracestate(r));
      const where = `case ${i}: ${describeCarrier(carrier)}`;
      let ctx;
      assert.doesNotThrow(() => (ctx = timedExtract(w3c, carrier)), where);
      const sc = api.trace.getSpanContext(ctx);
      const want = oracleTraceparent(carrier.traceparent);
      if (want === null) {
        assert.equal(sc, undefined, `invalid traceparent must be ignored: ${where}`);
        continue;
      }
      valid++;
      assert.ok(sc, `valid traceparent must be continued: ${where}`);
      assert.equal(sc.traceId, want.traceId, where);
      assert.equal(sc.spanId, want.spanId, where);
      assert.equal(sc.isRemote, true, where);
      assert.equal((sc.traceFlags & 1) === 1, want.sampled, `sampled flag: ${where}`);
      assert.equal(sc.traceState?.serialize() || undefined, oracleTracestate(carrier.tracestate), `tracestate: ${where}`);

      // What goes out to the next service is always a well-formed version-00 header for the same trace.
      const out = {};
      propagator.inject(ctx, out, setter);
      const m = TRACEPARENT_OUT.exec(out.traceparent);
      assert.ok(m, `injected traceparent ${JSON.stringify(out.traceparent)}: ${where}`);
      assert.equal(m[1], want.traceId);
      assert.equal(m[2], want.spanId);
      if (out.tracestate !== undefined) assert.equal(oracleTracestate(out.tracestate), out.tracestate, 'injected tracestate is valid');
      assert.match(out.b3, /^[0-9a-f]{32}-[0-9a-f]{16}-[01]$/);
    }
    assert.ok(valid > RUNS / 5, `enough valid cases explored (${valid})`);
  });

  it('baggage: bounded, decoded, never a throw; a valid list is read exactly', () => {
    const r = rng(SEED + 1);
    for (let i = 0; i < RUNS; i++) {
      const entries = Array.from({ length: r.int(8) }, (_, j) => [`k${j}${r.str(r.int(6), 'abcxyz_-.')}`, r.str(1 + r.int(20), 'abcXYZ019 é/?=;,%日')]);
      let header = entries.map(([k, v]) => `${k}=${encodeURIComponent(v)}${r.chance(0.2) ? ';meta=1' : ''}`).join(r.pick([',', ', ', ' , ']));
      const clean = !r.chance(0.5);
      if (!clean) {
        header = r.pick([
          () => header + ',' + garbage(r),
          () => garbage(r),
          () => header + ',bad%E0%A4%A=1,=nokey,novalue=,%zz=1',
          () => Array.from({ length: 400 }, (_, j) => `k${j}=${'v'.repeat(r.int(60))}`).join(','),
          () => [header, garbage(r)],
          () => `k=${'x'.repeat(5000)}`,
        ])();
      }
      const carrier = { baggage: header };
      const where = `case ${i}: ${describeCarrier(carrier)}`;
      let ctx;
      assert.doesNotThrow(() => (ctx = timedExtract(propagator, carrier)), where);
      const bag = api.propagation.getBaggage(ctx);
      const got = bag ? bag.getAllEntries() : [];
      assert.ok(got.length <= 180, `at most 180 entries: ${where}`);
      const size = got.reduce((n, [k, e]) => n + k.length + e.value.length + 2, 0);
      assert.ok(size <= 8192 + 180 * 2, `baggage kept stays bounded (${size}): ${where}`);
      for (const [k, e] of got) {
        assert.equal(typeof k, 'string');
        assert.equal(typeof e.value, 'string');
      }
      if (clean) {
        const want = new Map(entries);
        assert.deepEqual(new Map(got.map(([k, e]) => [k, e.value])), want, where);
      }
      // Injected again, it stays within the W3C limit.
      const out = {};
      propagator.inject(ctx, out, setter);
      if (out.baggage !== undefined) assert.ok(out.baggage.length <= 8192, `injected baggage is ${out.baggage.length} bytes`);
    }
  });

  it('b3 (single and multi headers): valid continued, invalid ignored, never a throw', () => {
    const r = rng(SEED + 2);
    const b3 = createPropagator(['b3']);
    let valid = 0;
    for (let i = 0; i < RUNS; i++) {
      const traceId = r.chance(0.3) ? nonZeroHex(r, 16) : nonZeroHex(r, 32);
      const spanId = nonZeroHex(r, 16);
      const multi = r.chance(0.3);
      let carrier;
      if (multi) {
        carrier = { 'x-b3-traceid': traceId, 'x-b3-spanid': spanId, 'x-b3-sampled': r.pick(['1', '0', 'true', 'false', 'x', '']) };
        if (r.chance(0.2)) carrier['x-b3-flags'] = '1';
        if (r.chance(0.5)) {
          const k = r.pick(['x-b3-traceid', 'x-b3-spanid']);
          carrier[k] = r.chance(0.3) ? garbage(r) : mutateId(r, carrier[k]);
        }
      } else {
        let v = `${traceId}-${spanId}`;
        if (r.chance(0.7)) v += '-' + r.pick(['1', '0', 'd', 'x', '']);
        if (r.chance(0.3)) v += '-' + nonZeroHex(r, 16);
        if (r.chance(0.5)) v = r.chance(0.3) ? garbage(r) : mutate(r, v);
        if (r.chance(0.05)) v = r.pick(['0', '1', 'd']);
        carrier = { b3: v };
      }
      const where = `case ${i}: ${describeCarrier(carrier)}`;
      let ctx;
      assert.doesNotThrow(() => (ctx = timedExtract(b3, carrier)), where);
      const sc = api.trace.getSpanContext(ctx);
      const want = multi ? oracleB3Multi(carrier) : oracleB3Single(carrier.b3);
      if (want === null) {
        assert.equal(sc, undefined, `invalid b3 must be ignored: ${where}`);
        continue;
      }
      valid++;
      assert.ok(sc, `valid b3 must be continued: ${where}`);
      assert.equal(sc.traceId, want.traceId, where);
      assert.equal(sc.spanId, want.spanId, where);
      if (!multi) assert.equal((sc.traceFlags & 1) === 1, want.sampled, `sampled: ${where}`);
      const out = {};
      propagator.inject(ctx, out, setter);
      assert.match(out.traceparent, TRACEPARENT_OUT, where);
    }
    assert.ok(valid > RUNS / 5, `enough valid cases explored (${valid})`);
  });

  it('all headers at once, random and repeated: never a throw, whatever is extracted is a valid context', () => {
    const r = rng(SEED + 3);
    const names = ['traceparent', 'tracestate', 'baggage', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled', 'x-b3-flags'];
    for (let i = 0; i < RUNS; i++) {
      const carrier = {};
      for (const name of names) {
        if (!r.chance(0.6)) continue;
        const one = () => (r.chance(0.5) ? garbage(r) : name === 'traceparent' ? mutate(r, validTraceparent(r)) : name === 'tracestate' ? validTracestate(r) : r.str(r.int(70), HEX + '-'));
        carrier[name] = r.chance(0.15) ? [one(), one(), one()] : one();
      }
      const where = `case ${i}: ${describeCarrier(carrier)}`;
      let ctx;
      assert.doesNotThrow(() => (ctx = timedExtract(propagator, carrier)), where);
      const sc = api.trace.getSpanContext(ctx);
      if (sc !== undefined) assert.ok(api.isSpanContextValid(sc), where);
      const out = {};
      assert.doesNotThrow(() => propagator.inject(ctx, out, setter), where);
    }
  });

  it('inject: a span context made by the app is sent only when valid; our own spans always are', () => {
    const { AgentTracerProvider } = require('../dist/tracer');
    const ok = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
    const bad = [
      { ...ok, traceId: '0'.repeat(32) },
      { ...ok, spanId: '0'.repeat(16) },
      { ...ok, traceId: 'x'.repeat(32) },
      { ...ok, spanId: 'b7ad6b716920333' },
      { ...ok, traceId: `${ok.traceId}00` },
      { ...ok, traceId: 42 },
    ];
    for (const sc of bad) {
      const out = {};
      propagator.inject(api.trace.setSpan(api.ROOT_CONTEXT, api.trace.wrapSpanContext(sc)), out, setter);
      assert.equal(out.traceparent, undefined, JSON.stringify(sc));
    }
    const out = {};
    propagator.inject(api.trace.setSpan(api.ROOT_CONTEXT, api.trace.wrapSpanContext(ok)), out, setter);
    assert.equal(out.traceparent.slice(0, 52), `00-${ok.traceId}-${ok.spanId}`);
    // Our spans: roots, and children of a remote parent, carry their own ids.
    const { ParentBasedSampler, AlwaysOnSampler } = require('@opentelemetry/sdk-trace-base');
    const { resourceFromAttributes } = require('@opentelemetry/resources');
    const choice = { sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }), parentBasedAlwaysOn: true };
    const limits = { attributeCountLimit: 128, attributeValueLengthLimit: Infinity, eventCountLimit: 128, linkCountLimit: 128, attributePerEventCountLimit: 128, attributePerLinkCountLimit: 128 };
    const tracer = new AgentTracerProvider(resourceFromAttributes({}), choice, limits, []).getTracer('t');
    for (const parent of [api.ROOT_CONTEXT, api.trace.setSpanContext(api.ROOT_CONTEXT, { ...ok, isRemote: true })]) {
      const span = tracer.startSpan('s', {}, parent);
      const o = {};
      propagator.inject(api.trace.setSpan(api.ROOT_CONTEXT, span), o, setter);
      assert.equal(o.traceparent.slice(0, 52), `00-${span.spanContext().traceId}-${span.spanContext().spanId}`);
      span.end();
    }
  });

  it('huge and backtracking-bait values in every header stay fast', () => {
    const names = ['traceparent', 'tracestate', 'baggage', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled'];
    const valid = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
    for (const bomb of bombs()) {
      for (const name of names) {
        const carrier = name === 'tracestate' ? { traceparent: valid, tracestate: bomb } : { [name]: bomb };
        assert.doesNotThrow(() => timedExtract(propagator, carrier), describeCarrier(carrier));
      }
      // The same bombs as white space around a valid value, and as a tracestate member.
      timedExtract(propagator, { traceparent: `${bomb.replace(/[^ \t]/g, ' ')}${valid}` });
      timedExtract(propagator, { traceparent: valid, tracestate: `a=1,${bomb.replace(/[^ \t]/g, ' ')}b=2` });
    }
  });

  it('the oracle itself agrees with the W3C examples', () => {
    assert.ok(oracleTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'));
    assert.equal(oracleTraceparent('00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01'), null);
    assert.equal(oracleTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), null);
    assert.equal(oracleTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01'), null);
    assert.equal(oracleTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'), null);
    assert.equal(oracleTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x'), null);
    assert.ok(oracleTraceparent('cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like'));
    assert.equal(oracleTraceparent('cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.x'), null);
    assert.equal(oracleTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'), 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    assert.equal(oracleTracestate('rojo=1,rojo=2'), undefined);
    assert.equal(oracleTracestate('a=1,,  ,b=2'), 'a=1,b=2');
    assert.equal(oracleTracestate('Upper=1'), undefined);
    assert.equal(oracleTracestate(Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')), undefined);
  });
});

function validTracestate(r) {
  const n = 1 + r.int(6);
  const keys = new Set();
  while (keys.size < n) {
    const k = r.pick(['a', 'b', 'z', '0', '9']) + r.str(r.int(10), 'abc019_-*/') + (r.chance(0.2) ? '@' + r.pick(['vendor', 'x1']) : '');
    keys.add(k);
  }
  return [...keys].map((k) => `${k}=${r.str(1 + r.int(20), PRINTABLE.replace(/[ ,=]/g, ''))}`).join(r.pick([',', ', ', ' , ', ',\t']));
}

function mutateTracestate(r, s) {
  switch (r.int(8)) {
    case 0:
      return s + ',' + s.split(',')[0].trim(); // duplicate key
    case 1:
      return Array.from({ length: 33 + r.int(5) }, (_, i) => `k${i}=v`).join(','); // too many members
    case 2:
      return s + ',Upper=1'; // upper-case key
    case 3:
      return s + ',k=' + 'v'.repeat(257); // value too long
    case 4:
      return [s, 'x=1']; // repeated header
    case 5:
      return s + ',k=a b '; // value ending in a space
    case 6:
      return s + ',' + r.pick(NASTY) + '=1';
    default:
      return garbage(r);
  }
}
