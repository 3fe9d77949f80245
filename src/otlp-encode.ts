/**
 * Encodes finished spans as an OTLP ExportTraceServiceRequest, in protobuf
 * (one pass, a span at a time as spans end: {@link ChunkEncoder}) or in OTLP/JSON.
 *
 * Why our own: the export encoder runs for every span, on the app's own core,
 * and upstream's sizes every message in a second pass and allocates per field.
 * Here each resource and each attribute key is encoded once; a KeyValue whose
 * value repeats (`GET`, `127.0.0.1`, `200`) is copied whole from a bounded
 * cache, and a run of attributes equal to the previous span's of the same scope
 * and kind is copied from that span's bytes; lengths are written up front where they are known, else
 * after the fact into a prefix sized for the usual case (the bytes move only
 * when it was not); ids, timestamps and short ASCII strings are written in JS,
 * as a call into C++ costs more than they do (bench/encode.js measures it).
 * It also spares the install the upstream transformer's metrics and logs SDKs.
 */
import type { AttributeValue, Attributes, HrTime, Link, SpanContext, TraceState } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

type Resource = ReadableSpan['resource'];
type Scope = ReadableSpan['instrumentationScope'];

const LEN = 2;
const VARINT = 0;
const I64 = 1;
const I32 = 5;

/** How many bytes the varint of `v` (an integer, 0 ≤ v < 2^53) takes. */
function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 5;
  for (v = Math.floor(v / 0x800000000); v > 0; v = Math.floor(v / 128)) n++;
  return n;
}

/** The UTF-8 length of `s`. Short strings are nearly all ASCII, and scanning them here beats a call into C++. */
function utf8Length(s: string): number {
  const len = s.length;
  if (len < 24) {
    let i = 0;
    while (i < len && s.charCodeAt(i) < 0x80) i++;
    if (i === len) return len;
  }
  return Buffer.byteLength(s, 'utf8');
}

// Hex digit values by char code, for ids (anything else reads as 0: the SDK's and our propagators' ids are valid hex).
const HEX = new Uint8Array(128);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[65 + i] = HEX[97 + i] = 10 + i;

/**
 * What our tracer's spans (`AgentSpan`) carry besides the API: the ids as 32-bit words, so that
 * they are written without decoding hex. `idWords` says which are known: 1 trace, 2 span, 4 parent
 * (0: not our span). With the span's words known, so are the other fields here.
 */
interface IdWords {
  idWords?: number;
  /** The trace id in hex, when its words are not known. */
  traceIdHex: string | undefined;
  traceFlags: number;
  traceState: TraceState | undefined;
  startMs: number;
  endMs: number;
  startHr: HrTime | undefined;
  endHr: HrTime | undefined;
  t0: number;
  t1: number;
  t2: number;
  t3: number;
  s0: number;
  s1: number;
  p0: number;
  p1: number;
}

/** A growable byte buffer with protobuf primitives. */
class Writer {
  buf: Buffer;
  /**
   * `buf` for 32-bit stores: ids, times and flags are written a word at a time, not a byte at a
   * time (counted on fastify: `words` and `fixed64Ms` ~75 instructions fewer a span each). Kept
   * in step with `buf` by {@link reset}.
   */
  view: DataView;
  pos = 0;
  /** Changes whenever written bytes move or are dropped, so that offsets into `buf` taken before go stale. */
  epoch = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /** Replaces the buffer (its bytes are not copied). */
  reset(buf: Buffer): void {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.reset(next);
  }

  byte(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  varint(v: number): void {
    this.ensure(10);
    if (v < 0) {
      // int64 two's complement: always 10 bytes.
      this.bigVarint(BigInt.asUintN(64, BigInt(v)));
      return;
    }
    const b = this.buf;
    let p = this.pos;
    // `& 127` is exact above 2^31 too (ToInt32 keeps the low bits); the shift is not.
    while (v > 0x7fffffff) {
      b[p++] = (v & 127) | 128;
      v = Math.floor(v / 128);
    }
    while (v > 127) {
      b[p++] = (v & 127) | 128;
      v >>>= 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  private bigVarint(v: bigint): void {
    const b = this.buf;
    while (v > 127n) {
      b[this.pos++] = Number(v & 127n) | 128;
      v >>= 7n;
    }
    b[this.pos++] = Number(v);
  }

  tag(field: number, wire: number): void {
    const t = (field << 3) | wire;
    if (t < 128) this.byte(t);
    else this.varint(t);
  }

  /**
   * Starts a length-delimited field, keeping `reserve` bytes for its length: the size that
   * length usually needs, so that {@link end} rarely has to move the body. Returns the body's start.
   */
  begin(field: number, reserve: number): number {
    this.tag(field, LEN);
    this.ensure(reserve);
    return (this.pos += reserve);
  }

  /** Writes the length of the body started at `start`, moving the body when the length needs other than `reserve` bytes. */
  end(start: number, reserve: number): void {
    let len = this.pos - start;
    const size = varintSize(len);
    if (size !== reserve) {
      this.ensure(size - reserve);
      this.buf.copyWithin(start - reserve + size, start, this.pos);
      this.pos += size - reserve;
      this.epoch++;
    }
    const b = this.buf;
    let p = start - reserve;
    while (len > 127) {
      b[p++] = (len & 127) | 128;
      len >>>= 7;
    }
    b[p] = len;
  }

  string(field: number, s: string): void {
    this.tag(field, LEN);
    this.utf8(s, utf8Length(s));
  }

  /** The length `n` (from {@link utf8Length}), then `s` in UTF-8. */
  utf8(s: string, n: number): void {
    this.varint(n);
    this.ensure(n);
    if (n === s.length && n < 24) {
      // ASCII (UTF-8 is as long as UTF-16 only then), short: a JS copy beats a call into C++.
      const b = this.buf;
      const p = this.pos;
      for (let i = 0; i < n; i++) b[p + i] = s.charCodeAt(i);
      this.pos = p + n;
    } else {
      this.pos += this.buf.write(s, this.pos, n, 'utf8');
    }
  }

  /** A hex id as bytes (`trace_id`, `span_id`), decoded here: `buf.write(hex, 'hex')` is a call into C++ per id. */
  id(field: number, hex: string): void {
    const n = hex.length >> 1;
    this.tag(field, LEN);
    this.varint(n);
    this.ensure(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < 2 * n; i += 2) {
      b[p++] = (HEX[hex.charCodeAt(i) & 127]! << 4) | HEX[hex.charCodeAt(i + 1) & 127]!;
    }
    this.pos = p;
  }

  /** An id from 32-bit words, big-endian (the order of its hex digits): 8 bytes from two, 16 from four. */
  words(field: number, a: number, b: number, c?: number, d?: number): void {
    const n = c === undefined ? 8 : 16;
    this.tag(field, LEN);
    this.ensure(n + 1);
    const view = this.view;
    const p = this.pos;
    this.buf[p] = n;
    view.setUint32(p + 1, a);
    view.setUint32(p + 5, b);
    if (c !== undefined) {
      view.setUint32(p + 9, c);
      view.setUint32(p + 13, d!);
    }
    this.pos = p + 1 + n;
  }

  /** Appends a copy of the bytes at [from, to) of this buffer. */
  copy(from: number, to: number): void {
    this.ensure(to - from);
    this.buf.copyWithin(this.pos, from, to);
    this.pos += to - from;
  }

  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    const b = this.buf;
    const p = this.pos;
    // A JS loop costs some 2.5 ns a byte, TypedArray#set about 20 ns whatever the size.
    if (n <= 8) for (let i = 0; i < n; i++) b[p + i] = bytes[i]!;
    else b.set(bytes, p);
    this.pos = p + n;
  }

  /**
   * The HrTime as fixed64 nanoseconds, without BigInt (an allocation and slow arithmetic per
   * timestamp). With s < 2^32 and ns < 1e9, all exact in doubles: m = s × 1953125 < 2^53
   * (1e9 = 1953125 × 2^9); s × 1e9 = m × 2^9 = mHi × 2^32 + mLo × 2^9 with mLo the low 23
   * bits of m; and d = mLo × 2^9 + ns < 2^33 carries at most 1 into the high half.
   */
  fixed64Time(field: number, t: HrTime): void {
    this.fixed64Parts(field, t[0], t[1]);
  }

  /**
   * An epoch-milliseconds time (our spans' `startMs`, `endMs`) as nanoseconds, rounded as
   * `msToHrTime` in tracer.ts rounds it for `startTime`: the same bytes without making the array.
   */
  fixed64Ms(field: number, ms: number): void {
    let s = Math.floor(ms / 1000);
    let ns = Math.round((ms - s * 1000) * 1e6);
    if (ns >= 1e9) {
      s += 1;
      ns -= 1e9;
    }
    this.fixed64Parts(field, s, ns);
  }

  /** A time of `s` seconds and `ns` nanoseconds (see {@link fixed64Time}). */
  fixed64Parts(field: number, s: number, ns: number): void {
    this.tag(field, I64);
    this.ensure(8);
    if (s >>> 0 !== s || ns >>> 0 !== ns || ns >= 1e9) {
      // Not a normalized HrTime of unsigned integers: as upstream does (truncated), the slow way.
      this.buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(Math.trunc(s)) * 1_000_000_000n + BigInt(Math.trunc(ns))), this.pos);
      this.pos += 8;
      return;
    }
    const m = s * 1953125;
    const mHi = Math.floor(m / 0x800000);
    const d = (m - mHi * 0x800000) * 512 + ns;
    const p = this.pos;
    this.view.setUint32(p, d >>> 0, true);
    this.view.setUint32(p + 4, mHi + (d > 0xffffffff ? 1 : 0), true);
    this.pos = p + 8;
  }

  fixed32(field: number, v: number): void {
    this.tag(field, I32);
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
  }

  double(field: number, v: number): void {
    this.tag(field, I64);
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
}

/**
 * An attribute key as encoded once: its `key` field (tag, length, UTF-8), and the whole
 * encoded KeyValue field of the primitive values seen with it (string values up to
 * KV_VALUE_MAX long). Values such as `GET`, `http`, `127.0.0.1`, `1.1`, `200`, routes and user
 * agents repeat from span to span, and a hit is one copy instead of some ten small writes.
 * The tag of a cached KeyValue is written over on each use: the enclosing field varies (it is
 * one byte for all of them, fields 1 to 9).
 */
interface KeyEntry {
  key: Uint8Array;
  /** Undefined for a key past the key cache's bound, or whose values do not repeat. */
  values: Map<string | number | boolean, Uint8Array> | undefined;
  /** Misses in a row since `values` filled up. */
  misses: number;
}

const keyCache = new Map<string, KeyEntry>();
const KEY_CACHE_MAX = 2048;
// Bounds for the KeyValue cache: 64 values per key, so that a key with a new value on every
// span (url.path, client ports) fills only its share, and after 1024 misses in a row is no
// longer looked up and gives that room back; and 4096 in all: some 250 B each for typical
// values, about 1 MB when full (3.5 MB at worst, with 128 non-ASCII characters each). Runs of
// values equal to the previous span's are copied without it (spanAttributes).
const KV_VALUE_MAX = 128;
const KV_CACHE_MAX = 4096;
const KV_PER_KEY_MAX = 64;
const KV_MISSES_MAX = 1024;
let kvCacheSize = 0;

function keyEntry(key: string): KeyEntry {
  let e = keyCache.get(key);
  if (e === undefined) {
    const w = new Writer(16 + key.length * 3);
    w.string(1, key);
    const cached = keyCache.size < KEY_CACHE_MAX;
    e = { key: w.buf.subarray(0, w.pos), values: cached ? new Map() : undefined, misses: 0 };
    if (cached) keyCache.set(key, e);
  }
  return e;
}

/** `field` = KeyValue(`k`, `v`) for a string, number or boolean `v`. */
function primitiveKeyValue(w: Writer, field: number, k: KeyEntry, v: string | number | boolean): void {
  const values = k.values;
  const cacheable = values !== undefined && (typeof v !== 'string' || v.length <= KV_VALUE_MAX);
  if (cacheable) {
    const hit = values.get(v);
    if (hit !== undefined) {
      const p = w.pos;
      w.raw(hit);
      w.buf[p] = (field << 3) | LEN;
      k.misses = 0;
      return;
    }
    if (values.size >= KV_PER_KEY_MAX && ++k.misses > KV_MISSES_MAX) {
      // A key with a new value each time (a path, a port): stop looking, give the room back.
      kvCacheSize -= values.size;
      k.values = undefined;
    }
  }
  const start = w.pos;
  // Every length is known up front: no back-patching.
  w.tag(field, LEN);
  const key = k.key;
  if (typeof v === 'string') {
    const n = utf8Length(v);
    const anyLen = 1 + varintSize(n) + n;
    w.varint(key.length + 1 + varintSize(anyLen) + anyLen);
    w.raw(key);
    w.byte((2 << 3) | LEN);
    w.varint(anyLen);
    w.byte((1 << 3) | LEN);
    w.utf8(v, n);
  } else if (typeof v === 'boolean') {
    w.varint(key.length + 4);
    w.raw(key);
    w.byte((2 << 3) | LEN);
    w.byte(2);
    w.byte((2 << 3) | VARINT);
    w.byte(v ? 1 : 0);
  } else if (v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)) {
    const anyLen = 1 + varintSize(v);
    w.varint(key.length + 2 + anyLen);
    w.raw(key);
    w.byte((2 << 3) | LEN);
    w.byte(anyLen);
    w.byte((3 << 3) | VARINT);
    w.varint(v);
  } else {
    // Negative integers (10-byte varints) and doubles: rare enough for the general path.
    w.pos = start;
    const m = w.begin(field, 1);
    w.raw(key);
    anyValue(w, 2, v);
    w.end(m, 1);
  }
  if (cacheable && kvCacheSize < KV_CACHE_MAX && values.size < KV_PER_KEY_MAX) {
    values.set(v, Uint8Array.prototype.slice.call(w.buf, start, w.pos));
    kvCacheSize++;
  }
}

function anyValue(w: Writer, field: number, v: unknown): void {
  const m = w.begin(field, 1);
  switch (typeof v) {
    case 'string':
      w.string(1, v);
      break;
    case 'boolean':
      w.tag(2, VARINT);
      w.varint(v ? 1 : 0);
      break;
    case 'number':
      if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) {
        w.tag(3, VARINT);
        w.varint(v);
      } else {
        w.double(4, v);
      }
      break;
    default:
      if (Array.isArray(v)) {
        const a = w.begin(5, 1);
        for (const item of v) anyValue(w, 1, item);
        w.end(a, 1);
      } else if (v instanceof Uint8Array) {
        w.tag(7, LEN);
        w.varint(v.length);
        w.raw(v);
      }
  }
  w.end(m, 1);
}

function attributes(w: Writer, field: number, attrs: Attributes | undefined): void {
  if (attrs === undefined) return;
  for (const key in attrs) {
    const v = attrs[key];
    if (v !== undefined && v !== null) keyValue(w, field, keyEntry(key), v);
  }
}

function keyValue(w: Writer, field: number, k: KeyEntry, v: AttributeValue): void {
  const type = typeof v;
  if (type === 'string' || type === 'number' || type === 'boolean') {
    primitiveKeyValue(w, field, k, v as string | number | boolean);
  } else {
    const m = w.begin(field, 1);
    w.raw(k.key);
    anyValue(w, 2, v);
    w.end(m, 1);
  }
}

/**
 * The previous span's attributes (one such record per span kind), by position, and where their
 * bytes are in the writer.
 * Spans from one instrumentation set the same keys in the same order, many of them to the
 * same values: a run of attributes equal to the previous span's becomes one copy of its bytes
 * (copyWithin) instead of a lookup and a copy each.
 */
class PrevAttributes {
  keys: string[] = [];
  entries: KeyEntry[] = [];
  values: unknown[] = [];
  /** Offsets of each KeyValue field (tag included) in the writer's buffer. */
  starts: number[] = [];
  ends: number[] = [];
  count = 0;
  /** The writer's epoch when the offsets were taken: they hold while it is unchanged. */
  epoch = -1;
}
const PREV_MAX = 64;

/**
 * One record per span kind: an app's spans of different kinds interleave (each request's client
 * or database span ends just before its server span) and have different keys, so the previous
 * span of the same kind is the one that matches.
 */
function prevRecords(): PrevAttributes[] {
  return [new PrevAttributes(), new PrevAttributes(), new PrevAttributes(), new PrevAttributes(), new PrevAttributes()];
}

/** The span's `attributes` (field 9), reusing where equal the bytes of the previous span `p` wrote into `w`. */
function spanAttributes(w: Writer, attrs: Attributes, p: PrevAttributes): void {
  const valid = p.epoch === w.epoch ? p.count : 0;
  // A pending copy of the previous span's bytes [from, to), to land at w.pos.
  let from = 0;
  let to = 0;
  let i = 0;
  for (const key in attrs) {
    const v = attrs[key];
    if (v === undefined || v === null) continue;
    if (i === PREV_MAX) {
      // Past what is tracked by position: plain encoding (after the pending copy).
      if (to !== from) w.copy(from, to);
      from = to;
      keyValue(w, 9, keyEntry(key), v);
      continue;
    }
    if (p.keys[i] === key) {
      if (i < valid && p.values[i] === v) {
        // Equal primitives (or the same array, unchanged within this call) encode the same, and
        // the previous span's bytes are intact: nothing moved since (epoch), and we write after
        // them. Join the pending copy if they follow on from it.
        const start = p.starts[i]!;
        const end = p.ends[i]!;
        if (start !== to) {
          if (to !== from) w.copy(from, to);
          from = start;
          to = start;
        }
        p.starts[i] = w.pos + to - from;
        to = end;
        p.ends[i] = w.pos + to - from;
        i++;
        continue;
      }
    } else {
      p.keys[i] = key;
      p.entries[i] = keyEntry(key);
    }
    if (to !== from) {
      w.copy(from, to);
      from = to;
    }
    p.values[i] = v;
    p.starts[i] = w.pos;
    keyValue(w, 9, p.entries[i]!, v);
    p.ends[i] = w.pos;
    i++;
  }
  if (to !== from) w.copy(from, to);
  p.count = Math.min(i, PREV_MAX);
  p.epoch = w.epoch;
}

// Span names repeat (one per route and method, per statement shape): each one's field is
// encoded once and copied after. Written afresh, a name cost ~25 instructions a character (its
// UTF-8 length, then its bytes, read with charCodeAt); a hit is a lookup and a copy. Bounded as
// the KeyValue cache: 1024 names of up to 128 characters (~0.4 MB at worst), emptied after 1024
// misses in a row once full, so that an app with a name per span (ids in names) lets a working
// set in again and otherwise pays one lookup a span.
const nameCache = new Map<string, Uint8Array>();
const NAME_CACHE_MAX = 1024;
const NAME_MAX = 128;
let nameMisses = 0;

/** The span's `name` (field 5). */
function spanName(w: Writer, name: string): void {
  const hit = nameCache.get(name);
  if (hit !== undefined) {
    w.raw(hit);
    nameMisses = 0;
    return;
  }
  const start = w.pos;
  w.string(5, name);
  if (name.length > NAME_MAX) return;
  if (nameCache.size >= NAME_CACHE_MAX) {
    if (++nameMisses <= NAME_CACHE_MAX) return;
    nameCache.clear();
    nameMisses = 0;
  }
  nameCache.set(name, Uint8Array.prototype.slice.call(w.buf, start, w.pos));
}

// Resources rarely change: encode each once, its ResourceSpans' `resource` field and its `schema_url` field.
const resourceCache = new WeakMap<object, { head: Uint8Array; tail: Uint8Array }>();
function resourceBytes(r: Resource): { head: Uint8Array; tail: Uint8Array } {
  let b = resourceCache.get(r);
  if (b === undefined) {
    const rw = new Writer(1024);
    const m = rw.begin(1, 2);
    attributes(rw, 1, r.attributes);
    rw.end(m, 2);
    const at = rw.pos;
    if (r.schemaUrl) rw.string(3, r.schemaUrl);
    b = { head: rw.buf.subarray(0, at), tail: rw.buf.subarray(at, rw.pos) };
    resourceCache.set(r, b);
  }
  return b;
}

function event(w: Writer, e: TimedEvent): void {
  // 2 bytes for the length: an exception event with its stack trace is longer than 127 bytes.
  const m = w.begin(11, 2);
  w.fixed64Time(1, e.time);
  w.string(2, e.name);
  attributes(w, 3, e.attributes);
  if (e.droppedAttributesCount) {
    w.tag(4, VARINT);
    w.varint(e.droppedAttributesCount);
  }
  w.end(m, 2);
}

function link(w: Writer, l: Link): void {
  const m = w.begin(13, 1);
  w.id(1, l.context.traceId);
  w.id(2, l.context.spanId);
  const ts = l.context.traceState?.serialize();
  if (ts) w.string(3, ts);
  attributes(w, 4, l.attributes);
  if (l.droppedAttributesCount) {
    w.tag(5, VARINT);
    w.varint(l.droppedAttributesCount);
  }
  w.fixed32(6, flags(l.context, l.context.traceFlags));
  w.end(m, 1);
}

/** Span flags: W3C trace flags plus "is-remote is known" and the parent's is-remote bit. */
function flags(ctx: SpanContext | undefined, base = 0): number {
  return (base & 0xff) | 0x100 | (ctx?.isRemote ? 0x200 : 0);
}

/** One `Span` (field 2 of ScopeSpans); `prev` holds the previous span of each kind written into `w`. */
function span(w: Writer, s: ReadableSpan, prev: PrevAttributes[]): void {
  // 2 bytes for the length: spans are nearly always 128 B to 16 kB long.
  const m = w.begin(2, 2);
  const ids = s as unknown as IdWords;
  const known = ids.idWords ?? 0;
  // Our spans (the span's words are always known) make their context, with the ids in hex, only
  // when asked for it: read their words and fields instead.
  const ctx = known & 2 ? undefined : s.spanContext();
  if (known & 1) w.words(1, ids.t0, ids.t1, ids.t2, ids.t3);
  else w.id(1, ctx === undefined ? ids.traceIdHex! : ctx.traceId);
  if (known & 2) w.words(2, ids.s0, ids.s1);
  else w.id(2, ctx!.spanId);
  const ts = (ctx === undefined ? ids.traceState : ctx.traceState)?.serialize();
  if (ts) w.string(3, ts);
  const parent = s.parentSpanContext;
  if (parent?.spanId) {
    if (known & 4) w.words(4, ids.p0, ids.p1);
    else w.id(4, parent.spanId);
  }
  spanName(w, s.name);
  w.tag(6, VARINT);
  w.varint(s.kind + 1);
  if (known !== 0 && ids.startHr === undefined && ids.endHr === undefined && s.ended) {
    // Our span's times as kept (epoch ms), unless a caller passed HrTimes, kept as given.
    w.fixed64Ms(7, ids.startMs);
    w.fixed64Ms(8, ids.endMs);
  } else {
    w.fixed64Time(7, s.startTime);
    w.fixed64Time(8, s.endTime);
  }
  spanAttributes(w, s.attributes, prev[s.kind] ?? prev[0]!);
  if (s.droppedAttributesCount) {
    w.tag(10, VARINT);
    w.varint(s.droppedAttributesCount);
  }
  for (const e of s.events) event(w, e);
  if (s.droppedEventsCount) {
    w.tag(12, VARINT);
    w.varint(s.droppedEventsCount);
  }
  for (const l of s.links) link(w, l);
  if (s.droppedLinksCount) {
    w.tag(14, VARINT);
    w.varint(s.droppedLinksCount);
  }
  const st = w.begin(15, 1);
  if (s.status.message) w.string(2, s.status.message);
  if (s.status.code) {
    w.tag(3, VARINT);
    w.varint(s.status.code);
  }
  w.end(st, 1);
  w.fixed32(16, flags(parent, ctx === undefined ? ids.traceFlags : ctx.traceFlags));
  w.end(m, 2);
}

interface ScopeGroup {
  scope: Scope;
  spans: ReadableSpan[];
}

// Scope identity as a string, by scope object: tracers share theirs among their spans.
const scopeKeys = new WeakMap<Scope, string>();
function scopeKey(sc: Scope): string {
  let key = scopeKeys.get(sc);
  if (key === undefined) {
    key = `${sc.name}\u0000${sc.version ?? ''}\u0000${sc.schemaUrl ?? ''}`;
    scopeKeys.set(sc, key);
  }
  return key;
}

/** Spans grouped by resource, then by instrumentation scope, in first-seen order. */
function group(spans: readonly ReadableSpan[]): Map<Resource, Map<string, ScopeGroup>> {
  const out = new Map<Resource, Map<string, ScopeGroup>>();
  let lastResource: Resource | undefined;
  let lastScope: Scope | undefined;
  let last: ScopeGroup | undefined;
  for (const s of spans) {
    const sc = s.instrumentationScope;
    // Runs of spans from one tracer are the rule: skip the lookups.
    if (last !== undefined && s.resource === lastResource && sc === lastScope) {
      last.spans.push(s);
      continue;
    }
    let scopes = out.get(s.resource);
    if (scopes === undefined) out.set(s.resource, (scopes = new Map()));
    const key = scopeKey(sc);
    last = scopes.get(key);
    if (last) last.spans.push(s);
    else scopes.set(key, (last = { scope: sc, spans: [s] }));
    lastResource = s.resource;
    lastScope = sc;
  }
  return out;
}

/**
 * The spans of one resource and instrumentation scope in the open chunk: their `Span` fields
 * (the body of a ScopeSpans after its scope), and the previous span of each kind written here,
 * whose attribute bytes the next one may copy.
 */
class ScopeWriter {
  readonly w = new Writer(16 * 1024);
  readonly prev = prevRecords();
  count = 0;
  /** The ScopeSpans' `scope` field, and its `schema_url` field (empty when it has none). */
  readonly head: Uint8Array;
  readonly tail: Uint8Array;

  constructor(
    readonly resource: Resource,
    readonly scope: Scope,
  ) {
    const hw = new Writer(64 + 3 * (scope.name.length + (scope.version?.length ?? 0) + (scope.schemaUrl?.length ?? 0)));
    const is = hw.begin(1, 1);
    hw.string(1, scope.name);
    if (scope.version) hw.string(2, scope.version);
    hw.end(is, 1);
    const at = hw.pos;
    if (scope.schemaUrl) hw.string(3, scope.schemaUrl);
    this.head = hw.buf.subarray(0, at);
    this.tail = hw.buf.subarray(at, hw.pos);
  }

  /** The length of this ScopeSpans message. */
  get length(): number {
    return this.head.length + this.w.pos + this.tail.length;
  }

  reset(): void {
    const w = this.w;
    w.pos = 0;
    // The previous spans' bytes are gone: their offsets must not be used.
    w.epoch++;
    this.count = 0;
    // Do not let one huge chunk pin a huge buffer for good.
    if (w.buf.length > 4 * 1024 * 1024) w.reset(Buffer.allocUnsafe(16 * 1024));
  }
}

const RESOURCE_SPANS = (1 << 3) | LEN;
const SCOPE_SPANS = (2 << 3) | LEN;

/**
 * Encodes spans one at a time, as they end, into an open ExportTraceServiceRequest, and hands
 * it over whole on {@link take}. Only bytes wait for the export, in buffers that live as long as
 * the encoder: a span object is garbage as soon as it has been added, instead of surviving young
 * collections while its chunk fills (what grew V8's young generation, and the RSS, under load).
 * Spans are grouped by resource, then by scope, in the order of their first span, as upstream's
 * serializer groups a batch.
 */
export class ChunkEncoder {
  /** Spans in the open request. */
  count = 0;
  /** Writers by resource, then by scope identity (name, version, schema URL). */
  private readonly writers = new Map<Resource, Map<string, ScopeWriter>>();
  /** Writers by scope object: tracers share theirs among their spans, so this is the usual hit. */
  private readonly byScope = new Map<Scope, ScopeWriter>();
  /** Writers holding spans of the open request, in the order of their first span. */
  private used: ScopeWriter[] = [];
  private last: ScopeWriter | undefined;

  /** Encodes `s` into the open request. A span that cannot be encoded leaves nothing behind and throws. */
  add(s: ReadableSpan): void {
    const res = s.resource;
    const sc = s.instrumentationScope;
    let sw = this.last;
    if (sw === undefined || sw.scope !== sc || sw.resource !== res) sw = this.last = this.writer(res, sc);
    const w = sw.w;
    const start = w.pos;
    try {
      span(w, s, sw.prev);
    } catch (err) {
      // Drop what was half written; the previous spans' records may point into it.
      w.pos = start;
      w.epoch++;
      throw err;
    }
    if (sw.count++ === 0) this.used.push(sw);
    this.count++;
  }

  private writer(res: Resource, sc: Scope): ScopeWriter {
    let sw = this.byScope.get(sc);
    if (sw !== undefined && sw.resource === res) return sw;
    let scopes = this.writers.get(res);
    if (scopes === undefined) this.writers.set(res, (scopes = new Map()));
    const key = scopeKey(sc);
    sw = scopes.get(key);
    if (sw === undefined) scopes.set(key, (sw = new ScopeWriter(res, sc)));
    this.byScope.set(sc, sw);
    return sw;
  }

  /** The open request's bytes (a fresh copy: safe to keep), or undefined when it holds no span; empties it. */
  take(): Uint8Array | undefined {
    const used = this.used;
    if (used.length === 0) return undefined;
    // Resources in the order of their first span; nearly always one.
    const resources: Resource[] = [];
    for (const sw of used) if (!resources.includes(sw.resource)) resources.push(sw.resource);
    const lengths: number[] = [];
    let total = 0;
    for (const r of resources) {
      const rb = resourceBytes(r);
      let n = rb.head.length + rb.tail.length;
      for (const sw of used) {
        if (sw.resource !== r) continue;
        const len = sw.length;
        n += 1 + varintSize(len) + len;
      }
      lengths.push(n);
      total += 1 + varintSize(n) + n;
    }
    // Every length is known: one exact buffer, no moves. (Not Buffer.from(subarray): it zero-fills first.)
    const o = new Writer(total);
    for (let i = 0; i < resources.length; i++) {
      const r = resources[i]!;
      const rb = resourceBytes(r);
      o.byte(RESOURCE_SPANS);
      o.varint(lengths[i]!);
      o.raw(rb.head);
      for (const sw of used) {
        if (sw.resource !== r) continue;
        o.byte(SCOPE_SPANS);
        o.varint(sw.length);
        o.raw(sw.head);
        o.pos += sw.w.buf.copy(o.buf, o.pos, 0, sw.w.pos);
        o.raw(sw.tail);
      }
      o.raw(rb.tail);
    }
    if (this.writers.size > 1 || this.byScope.size > used.length) this.prune();
    for (const sw of used) sw.reset();
    this.used = [];
    this.count = 0;
    return o.buf;
  }

  /** Forgets the writers that took no span of the request being taken: tracers come and go. */
  private prune(): void {
    for (const [res, scopes] of this.writers) {
      for (const [key, sw] of scopes) if (sw.count === 0) scopes.delete(key);
      if (scopes.size === 0) this.writers.delete(res);
    }
    for (const [sc, sw] of this.byScope) if (sw.count === 0) this.byScope.delete(sc);
    this.last = undefined;
  }

  /** Drops the open request's spans. */
  clear(): void {
    for (const sw of this.used) sw.reset();
    this.used = [];
    this.count = 0;
  }
}

const shared = new ChunkEncoder();

/** `spans` as a protobuf ExportTraceServiceRequest (a fresh copy: safe to keep). */
export function encodeProtobuf(spans: readonly ReadableSpan[]): Uint8Array {
  const e = shared;
  e.clear();
  try {
    for (let i = 0; i < spans.length; i++) e.add(spans[i]!);
  } catch (err) {
    e.clear();
    throw err;
  }
  return e.take() ?? Buffer.alloc(0);
}

// ---- OTLP/JSON ----

function jsonValue(v: AttributeValue | unknown): Record<string, unknown> {
  switch (typeof v) {
    case 'string':
      return { stringValue: v };
    case 'boolean':
      return { boolValue: v };
    case 'number':
      return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
    default:
      if (Array.isArray(v)) return { arrayValue: { values: v.map(jsonValue) } };
      if (v instanceof Uint8Array) return { bytesValue: Buffer.from(v).toString('base64') };
      return {};
  }
}

function jsonAttributes(attrs: Attributes | undefined): Array<{ key: string; value: Record<string, unknown> }> {
  const out: Array<{ key: string; value: Record<string, unknown> }> = [];
  for (const key in attrs ?? {}) {
    const v = attrs![key];
    if (v !== undefined && v !== null) out.push({ key, value: jsonValue(v) });
  }
  return out;
}

const nanos = (t: HrTime) => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();

/** `spans` as an OTLP/JSON ExportTraceServiceRequest (ids in hex, as OTLP/JSON requires). */
export function encodeJson(spans: readonly ReadableSpan[]): Uint8Array {
  const resourceSpans = [];
  for (const [res, scopes] of group(spans)) {
    resourceSpans.push({
      resource: { attributes: jsonAttributes(res.attributes) },
      schemaUrl: res.schemaUrl,
      scopeSpans: [...scopes.values()].map(({ scope, spans: list }) => ({
        scope: { name: scope.name, version: scope.version },
        schemaUrl: scope.schemaUrl,
        spans: list.map((s) => {
          const ctx = s.spanContext();
          return {
            traceId: ctx.traceId,
            spanId: ctx.spanId,
            traceState: ctx.traceState?.serialize(),
            parentSpanId: s.parentSpanContext?.spanId,
            flags: flags(s.parentSpanContext, ctx.traceFlags),
            name: s.name,
            kind: s.kind + 1,
            startTimeUnixNano: nanos(s.startTime),
            endTimeUnixNano: nanos(s.endTime),
            attributes: jsonAttributes(s.attributes),
            droppedAttributesCount: s.droppedAttributesCount,
            events: s.events.map((e) => ({
              timeUnixNano: nanos(e.time),
              name: e.name,
              attributes: jsonAttributes(e.attributes),
              droppedAttributesCount: e.droppedAttributesCount ?? 0,
            })),
            droppedEventsCount: s.droppedEventsCount,
            links: s.links.map((l) => ({
              traceId: l.context.traceId,
              spanId: l.context.spanId,
              traceState: l.context.traceState?.serialize(),
              attributes: jsonAttributes(l.attributes),
              droppedAttributesCount: l.droppedAttributesCount ?? 0,
              flags: flags(l.context, l.context.traceFlags),
            })),
            droppedLinksCount: s.droppedLinksCount,
            status: { code: s.status.code, message: s.status.message },
          };
        }),
      })),
    });
  }
  return Buffer.from(JSON.stringify({ resourceSpans }));
}
