/**
 * Encodes finished spans as an OTLP ExportTraceServiceRequest, in protobuf
 * (one pass into one growing buffer) or in OTLP/JSON.
 *
 * Why our own: the export encoder runs for every span, and upstream's copies
 * strings byte by byte in JS and sizes every message in a second pass; here
 * strings go through Buffer's native UTF-8 writer, repeated attribute keys
 * and each resource are encoded once, and a nested message's length is
 * written in front of it after the fact (moving the bytes only in the rare
 * case where the reserved length prefix was too short). It also spares the
 * install the upstream transformer's metrics and logs SDKs.
 */
import type { AttributeValue, Attributes, HrTime, Link, SpanContext } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

type Resource = ReadableSpan['resource'];
type Scope = ReadableSpan['instrumentationScope'];

const LEN = 2;
const VARINT = 0;
const I64 = 1;
const I32 = 5;

/** A growable byte buffer with protobuf primitives. */
class Writer {
  buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(v: number): void {
    this.ensure(10);
    const b = this.buf;
    if (v < 0) {
      // int64 two's complement: always 10 bytes.
      this.bigVarint(BigInt.asUintN(64, BigInt(v)));
      return;
    }
    while (v > 127) {
      b[this.pos++] = (v & 127) | 128;
      v = Math.floor(v / 128);
    }
    b[this.pos++] = v;
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
    this.varint((field << 3) | wire);
  }

  /** Starts a length-delimited field; returns the mark for {@link end}. One byte is reserved for the length. */
  begin(field: number): number {
    this.tag(field, LEN);
    this.ensure(1);
    return this.pos++;
  }

  /** Writes the length of the message started at `mark`, moving its bytes if the length needs more than one byte. */
  end(mark: number): void {
    const len = this.pos - mark - 1;
    if (len < 128) {
      this.buf[mark] = len;
      return;
    }
    const size = len < 1 << 14 ? 2 : len < 1 << 21 ? 3 : len < 1 << 28 ? 4 : 5;
    this.ensure(size - 1);
    this.buf.copyWithin(mark + size, mark + 1, this.pos);
    this.pos += size - 1;
    let v = len;
    for (let i = 0; i < size - 1; i++) {
      this.buf[mark + i] = (v & 127) | 128;
      v = Math.floor(v / 128);
    }
    this.buf[mark + size - 1] = v;
  }

  string(field: number, s: string): void {
    this.tag(field, LEN);
    const len = s.length;
    if (len < 64) {
      // Short ASCII strings (nearly all attribute values): a JS copy beats a call into C++.
      this.ensure(1 + len * 3);
      const b = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c > 127) break;
        b[start + i] = c;
      }
      // A string of fewer than 43 UTF-16 units has at most 126 UTF-8 bytes: its length fits one byte.
      if (i === len || len < 43) {
        const n = i === len ? len : i + b.write(s.slice(i), start + i, 'utf8');
        b[this.pos] = n;
        this.pos = start + n;
        return;
      }
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
  }

  /** Hex id as bytes (`trace_id`, `span_id`). */
  hexBytes(field: number, hex: string): void {
    this.tag(field, LEN);
    const n = hex.length >> 1;
    this.ensure(1 + n);
    this.buf[this.pos++] = n;
    this.pos += this.buf.write(hex, this.pos, n, 'hex');
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  fixed64Time(field: number, t: HrTime): void {
    this.tag(field, I64);
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]), this.pos);
    this.pos += 8;
  }

  fixed32(field: number, v: number): void {
    this.tag(field, I32);
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  double(field: number, v: number): void {
    this.tag(field, I64);
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
}

// Encoded `key` fields of KeyValue (tag, length, UTF-8), by key: attribute keys repeat endlessly.
const keyCache = new Map<string, Buffer>();
const KEY_CACHE_MAX = 2048;
function encodedKey(key: string): Buffer {
  let b = keyCache.get(key);
  if (b === undefined) {
    const w = new Writer();
    w.string(1, key);
    b = Buffer.from(w.buf.subarray(0, w.pos));
    if (keyCache.size < KEY_CACHE_MAX) keyCache.set(key, b);
  }
  return b;
}

function anyValue(w: Writer, field: number, v: unknown): void {
  const m = w.begin(field);
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
        const a = w.begin(5);
        for (const item of v) anyValue(w, 1, item);
        w.end(a);
      } else if (v instanceof Uint8Array) {
        w.tag(7, LEN);
        w.varint(v.length);
        w.raw(v);
      }
  }
  w.end(m);
}

function attributes(w: Writer, field: number, attrs: Attributes | undefined): void {
  if (attrs === undefined) return;
  for (const key in attrs) {
    const v = attrs[key];
    if (v === undefined || v === null) continue;
    const m = w.begin(field);
    w.raw(encodedKey(key));
    anyValue(w, 2, v);
    w.end(m);
  }
}

// Resources rarely change: encode each once.
const resourceCache = new WeakMap<object, Buffer>();
function resource(w: Writer, r: Resource): void {
  let b = resourceCache.get(r);
  if (b === undefined) {
    const rw = new Writer();
    const m = rw.begin(1);
    attributes(rw, 1, r.attributes);
    rw.end(m);
    b = Buffer.from(rw.buf.subarray(0, rw.pos));
    resourceCache.set(r, b);
  }
  w.raw(b);
}

function event(w: Writer, e: TimedEvent): void {
  const m = w.begin(11);
  w.fixed64Time(1, e.time);
  w.string(2, e.name);
  attributes(w, 3, e.attributes);
  if (e.droppedAttributesCount) {
    w.tag(4, VARINT);
    w.varint(e.droppedAttributesCount);
  }
  w.end(m);
}

function link(w: Writer, l: Link): void {
  const m = w.begin(13);
  w.hexBytes(1, l.context.traceId);
  w.hexBytes(2, l.context.spanId);
  const ts = l.context.traceState?.serialize();
  if (ts) w.string(3, ts);
  attributes(w, 4, l.attributes);
  if (l.droppedAttributesCount) {
    w.tag(5, VARINT);
    w.varint(l.droppedAttributesCount);
  }
  w.fixed32(6, flags(l.context, l.context.traceFlags));
  w.end(m);
}

/** Span flags: W3C trace flags plus "is-remote is known" and the parent's is-remote bit. */
function flags(ctx: SpanContext | undefined, base = 0): number {
  return (base & 0xff) | 0x100 | (ctx?.isRemote ? 0x200 : 0);
}

function span(w: Writer, s: ReadableSpan): void {
  const m = w.begin(2);
  const ctx = s.spanContext();
  w.hexBytes(1, ctx.traceId);
  w.hexBytes(2, ctx.spanId);
  const ts = ctx.traceState?.serialize();
  if (ts) w.string(3, ts);
  const parent = s.parentSpanContext;
  if (parent?.spanId) w.hexBytes(4, parent.spanId);
  w.string(5, s.name);
  w.tag(6, VARINT);
  w.varint(s.kind + 1);
  w.fixed64Time(7, s.startTime);
  w.fixed64Time(8, s.endTime);
  attributes(w, 9, s.attributes);
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
  const st = w.begin(15);
  if (s.status.message) w.string(2, s.status.message);
  if (s.status.code) {
    w.tag(3, VARINT);
    w.varint(s.status.code);
  }
  w.end(st);
  w.fixed32(16, flags(parent, ctx.traceFlags));
  w.end(m);
}

/** Spans grouped by resource, then by instrumentation scope, in first-seen order. */
function group(spans: readonly ReadableSpan[]): Map<Resource, Map<string, { scope: Scope; spans: ReadableSpan[] }>> {
  const out = new Map<Resource, Map<string, { scope: Scope; spans: ReadableSpan[] }>>();
  for (const s of spans) {
    let scopes = out.get(s.resource);
    if (scopes === undefined) out.set(s.resource, (scopes = new Map()));
    const sc = s.instrumentationScope;
    const key = `${sc.name}\u0000${sc.version ?? ''}\u0000${sc.schemaUrl ?? ''}`;
    const entry = scopes.get(key);
    if (entry) entry.spans.push(s);
    else scopes.set(key, { scope: sc, spans: [s] });
  }
  return out;
}

const writer = new Writer();

/** `spans` as a protobuf ExportTraceServiceRequest (a fresh copy: safe to keep). */
export function encodeProtobuf(spans: readonly ReadableSpan[]): Uint8Array {
  const w = writer;
  w.pos = 0;
  for (const [res, scopes] of group(spans)) {
    const rs = w.begin(1);
    resource(w, res);
    for (const { scope, spans: list } of scopes.values()) {
      const ss = w.begin(2);
      const is = w.begin(1);
      w.string(1, scope.name);
      if (scope.version) w.string(2, scope.version);
      w.end(is);
      for (const s of list) span(w, s);
      if (scope.schemaUrl) w.string(3, scope.schemaUrl);
      w.end(ss);
    }
    if (res.schemaUrl) w.string(3, res.schemaUrl);
    w.end(rs);
  }
  const out = Buffer.from(w.buf.subarray(0, w.pos));
  // Do not let one huge batch pin a huge buffer forever.
  if (w.buf.length > 4 * 1024 * 1024) w.buf = Buffer.allocUnsafe(64 * 1024);
  return out;
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
