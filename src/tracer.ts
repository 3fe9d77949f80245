/**
 * Our tracer provider, tracer and span: the API's `Tracer`/`Span` contracts
 * and the SDK's `ReadableSpan` shape (which the encoder and the console
 * exporter read), built for the request path.
 *
 * Why not sdk-trace's: its `startSpan` sanitizes the attributes three times
 * (options, sampler merge, `setAttributes` with a `hasOwnProperty` per key),
 * records per-span metrics, reads two clocks and builds three HrTime arrays
 * per span; a profile of a hello-world server put it at ~9% of the app's busy
 * time. Here a span keeps its times as epoch milliseconds (HrTime arrays are
 * made only when read, at export), spans our instrumentations start take
 * over the attribute object they built, and the default sampler
 * (parent-based, always on) is decided inline. Behaviour follows the SDK:
 * span limits (attribute count, value length, events, links), samplers,
 * suppressed tracing, `recordException`, status rules.
 */
import {
  diag,
  INVALID_SPAN_CONTEXT,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type AttributeValue,
  type Context,
  type Exception,
  type HrTime,
  type Link,
  type Span,
  type SpanAttributes,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type TimeInput,
  type TraceState,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { hrTimeDuration, isAttributeValue, isTimeInput, isTimeInputHrTime as isHrTime, isTracingSuppressed } from '@opentelemetry/core';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, Sampler, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { performance as clock } from 'node:perf_hooks';
import type { AgentConfig } from './config';
import { activeContext, contextWithSpan, runIn } from './context';

/** What the provider needs of a span processor: only `onEnd` is called per span. */
export interface EndProcessor {
  onEnd(span: ReadableSpan): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Span limits (`OTEL_SPAN_*_LIMIT`, `OTEL_ATTRIBUTE_*_LIMIT`), as the config reads them. */
export type SpanLimits = AgentConfig['spanLimits'];

/** The sampler; `parentBasedAlwaysOn` marks the default, decided without a call. */
export interface SamplerChoice {
  readonly sampler: Sampler;
  readonly parentBasedAlwaysOn: boolean;
}

// SamplingDecision of sdk-trace: NOT_RECORD 0, RECORD 1, RECORD_AND_SAMPLED 2.
const NOT_RECORD = 0;
const RECORD_AND_SAMPLED = 2;

// ---- time ----

/**
 * Epoch milliseconds from the monotonic clock: `performance.now()` plus an
 * offset, corrected when the wall clock has drifted from it by more than 2 ms
 * (checked every 4096 readings; `Date.now()` has 1 ms steps, so a smaller
 * threshold would jitter).
 */
// `clock` is perf_hooks' `performance`, the object the global names: the global itself is an
// accessor on globalThis, and reading it cost ~230 instructions, twice a span.
let offset = clock.timeOrigin;
let readings = 0;
function nowMs(): number {
  const t = clock.now() + offset;
  if ((++readings & 4095) === 0) {
    const drift = Date.now() - t;
    if (drift > 2 || drift < -2) {
      offset += drift;
      return t + drift;
    }
  }
  return t;
}

/** Epoch milliseconds (fractional) as `[seconds, nanoseconds]`. */
export function msToHrTime(ms: number): HrTime {
  let s = Math.floor(ms / 1000);
  let ns = Math.round((ms - s * 1000) * 1e6);
  if (ns >= 1e9) {
    s += 1;
    ns -= 1e9;
  }
  return [s, ns];
}

/** A user-supplied time (epoch or performance-relative ms, `Date`, HrTime) as epoch ms. */
function timeInputMs(t: TimeInput): number {
  if (typeof t === 'number') return t <= clock.now() ? t + offset : t;
  if (t instanceof Date) return t.getTime();
  if (isHrTime(t)) return t[0] * 1000 + t[1] / 1e6;
  return nowMs();
}

/** A user-supplied HrTime as given (a double of epoch ms only resolves ~0.25 µs); other inputs converted. */
function hrTimeOf(t: TimeInput | undefined): HrTime {
  return isHrTime(t) ? [t[0], t[1]] : msToHrTime(t === undefined ? nowMs() : timeInputMs(t));
}

// ---- ids ----

/** Char codes of the hex digits. */
const H = [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102];

/** 32 random bits. Math.random, as the SDK's id generator: ids need uniqueness, not secrecy. */
const rnd = (): number => (Math.random() * 0x100000000) >>> 0;

// The words of the last ids made, as signed 32-bit integers (small integers to V8, where
// uint32s above 2^31 would be boxed numbers): the span keeps them for the encoder, which then
// writes 4 bytes a word instead of decoding the hex strings (2 digits a byte).
let t0 = 0;
let t1 = 0;
let t2 = 0;
let t3 = 0;
let s0 = 0;
let s1 = 0;

/** New random trace id words (in t0..t3), never all zero. */
function newTraceWords(): void {
  let a, b, c, d;
  do {
    a = rnd();
    b = rnd();
    c = rnd();
    d = rnd();
  } while ((a | b | c | d) === 0);
  t0 = a | 0;
  t1 = b | 0;
  t2 = c | 0;
  t3 = d | 0;
}

/** New random span id words (in s0, s1), never both zero. */
function newSpanWords(): void {
  let a, b;
  do {
    a = rnd();
    b = rnd();
  } while ((a | b) === 0);
  s0 = a | 0;
  s1 = b | 0;
}

// One fromCharCode call per id makes a flat string: `Number#toString(16)` cost ~0.7 µs per id
// (8.5% of a hello-world server's busy time in a profile), and concatenated pieces need flattening later.
/** Trace id words as 32 hex digits. */
function traceHex(a: number, b: number, c: number, d: number): string {
  // prettier-ignore
  return String.fromCharCode(
    H[(a >>> 28) & 15], H[(a >>> 24) & 15], H[(a >>> 20) & 15], H[(a >>> 16) & 15], H[(a >>> 12) & 15], H[(a >>> 8) & 15], H[(a >>> 4) & 15], H[a & 15],
    H[(b >>> 28) & 15], H[(b >>> 24) & 15], H[(b >>> 20) & 15], H[(b >>> 16) & 15], H[(b >>> 12) & 15], H[(b >>> 8) & 15], H[(b >>> 4) & 15], H[b & 15],
    H[(c >>> 28) & 15], H[(c >>> 24) & 15], H[(c >>> 20) & 15], H[(c >>> 16) & 15], H[(c >>> 12) & 15], H[(c >>> 8) & 15], H[(c >>> 4) & 15], H[c & 15],
    H[(d >>> 28) & 15], H[(d >>> 24) & 15], H[(d >>> 20) & 15], H[(d >>> 16) & 15], H[(d >>> 12) & 15], H[(d >>> 8) & 15], H[(d >>> 4) & 15], H[d & 15],
  );
}

/** Span id words as 16 hex digits. */
function spanHex(a: number, b: number): string {
  // prettier-ignore
  return String.fromCharCode(
    H[(a >>> 28) & 15], H[(a >>> 24) & 15], H[(a >>> 20) & 15], H[(a >>> 16) & 15], H[(a >>> 12) & 15], H[(a >>> 8) & 15], H[(a >>> 4) & 15], H[a & 15],
    H[(b >>> 28) & 15], H[(b >>> 24) & 15], H[(b >>> 20) & 15], H[(b >>> 16) & 15], H[(b >>> 12) & 15], H[(b >>> 8) & 15], H[(b >>> 4) & 15], H[b & 15],
  );
}

// ---- attributes ----

/** A valid attribute value (`null`/`undefined` are not here: they are skipped). */
function isValue(v: unknown): v is AttributeValue {
  return v != null && isAttributeValue(v);
}

const hasOwn = Object.prototype.hasOwnProperty;
const EMPTY: never[] = [];
const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET }) as SpanStatus;

/** The shared parts of every span of one tracer. */
interface Shared {
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  readonly limits: SpanLimits;
  readonly processors: readonly EndProcessor[];
}

/** A recording span. */
export class AgentSpan implements Span, ReadableSpan {
  name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  attributes: Attributes;
  links: Link[] = EMPTY;
  events: TimedEvent[] = EMPTY;
  status: SpanStatus = UNSET;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  droppedLinksCount = 0;
  /** Start and end, epoch milliseconds. */
  startMs: number;
  endMs = 0;
  /** Start and end exactly as given when the caller passed HrTimes. */
  /** Read by the encoder, which writes `startMs`/`endMs` itself when these are unset. */
  startHr: HrTime | undefined;
  endHr: HrTime | undefined;
  private ended_ = false;
  private attributeCount = 0;
  /** The span's context, made when first asked for: the hex ids cost more than the rest of a span's start. */
  private context_: SpanContext | undefined;
  /** The trace id in hex, when it was made already: the parent's, or the one a sampler was given. */
  readonly traceIdHex: string | undefined;
  readonly traceFlags: number;
  readonly traceState: TraceState | undefined;
  private readonly shared: Shared;
  /**
   * The ids as signed 32-bit words, big-endian, for the encoder (see {@link IdWords}): which are
   * known (1 trace, 2 span, 4 parent span: a remote parent's are not), then the words.
   */
  idWords = 0;
  t0 = 0;
  t1 = 0;
  t2 = 0;
  t3 = 0;
  s0 = 0;
  s1 = 0;
  p0 = 0;
  p1 = 0;

  /**
   * The ids are the words set right after construction (see {@link idWords}); `traceIdHex` is the
   * trace id in hex when it was made already (the parent's; a root span's only if a sampler was
   * given it), else undefined: a root span's trace id words are always known.
   */
  constructor(
    shared: Shared,
    traceIdHex: string | undefined,
    traceFlags: number,
    traceState: TraceState | undefined,
    parent: SpanContext | undefined,
    name: string,
    kind: SpanKind,
    startMs: number,
  ) {
    this.shared = shared;
    this.traceIdHex = traceIdHex;
    this.traceFlags = traceFlags;
    this.traceState = traceState;
    this.parentSpanContext = parent;
    this.name = name;
    this.kind = kind;
    this.startMs = startMs;
    this.attributes = {};
  }

  get resource(): Resource {
    return this.shared.resource;
  }

  get instrumentationScope(): InstrumentationScope {
    return this.shared.scope;
  }

  get startTime(): HrTime {
    return this.startHr ?? msToHrTime(this.startMs);
  }

  get endTime(): HrTime {
    return this.ended_ ? (this.endHr ?? msToHrTime(this.endMs)) : [0, 0];
  }

  get duration(): HrTime {
    if (!this.ended_) return [-1, -1];
    if (this.startHr !== undefined || this.endHr !== undefined) return hrTimeDuration(this.startTime, this.endTime);
    const ms = this.endMs - this.startMs;
    const s = Math.floor(ms / 1000);
    return [s, Math.round((ms - s * 1000) * 1e6)];
  }

  /** A start given as HrTime (the tracer sets it right after construction). */
  setStartHr(t: HrTime): void {
    this.startHr = [t[0], t[1]];
  }

  get ended(): boolean {
    return this.ended_;
  }

  spanContext(): SpanContext {
    return (this.context_ ??= {
      traceId: this.traceIdHex ?? traceHex(this.t0, this.t1, this.t2, this.t3),
      spanId: spanHex(this.s0, this.s1),
      traceFlags: this.traceFlags,
      traceState: this.traceState,
    });
  }

  isRecording(): boolean {
    return !this.ended_;
  }

  /**
   * What a context that outlives this ended span should hold instead of it: an {@link EndedSpan}
   * with the ids and flags, not the attributes, events and strings of the request. A keep-alive
   * connection's timer keeps the context its last request ended in until the next request (see
   * `ServerContext#retire`).
   */
  retired(): Span {
    return new EndedSpan(this.context_, this.traceIdHex, this.t0, this.t1, this.t2, this.t3, this.s0, this.s1, this.traceFlags, this.traceState);
  }

  /**
   * Takes `attributes` as the span's own (no copy): for objects our
   * instrumentations just built, with valid values. Falls back to copying
   * when a limit applies.
   */
  adopt(attributes: Attributes): void {
    const limits = this.shared.limits;
    let n = 0;
    for (const _ in attributes) n++;
    if (n <= limits.attributeCountLimit && limits.attributeValueLengthLimit === Infinity) {
      this.attributes = attributes;
      this.attributeCount = n;
    } else {
      this.setAttributes(attributes);
    }
  }

  /**
   * The span's attribute object, for our instrumentations to store up to `n` more valid
   * attributes into at sites with constant keys, then count the new ones with
   * {@link countAdded}; undefined when the span has ended or a limit could apply (use
   * `setAttribute` then). `setAttribute`'s store has a variable key: megamorphic across the
   * instrumentations' attribute layouts, with an own-property check, ~300 instructions each.
   */
  openAttributes(n: number): Attributes | undefined {
    const limits = this.shared.limits;
    if (this.ended_ || this.attributeCount + n > limits.attributeCountLimit || limits.attributeValueLengthLimit !== Infinity) return undefined;
    return this.attributes;
  }

  /** Counts `n` attributes added to the object {@link openAttributes} returned. */
  countAdded(n: number): void {
    this.attributeCount += n;
  }

  setAttribute(key: string, value?: AttributeValue): this {
    if (value == null || this.ended_ || key === '' || typeof key !== 'string') return this;
    if (!isValue(value)) {
      diag.warn(`Invalid attribute value set for key: ${key}`);
      return this;
    }
    const attrs = this.attributes;
    const isNew = !hasOwn.call(attrs, key);
    if (isNew && this.attributeCount >= this.shared.limits.attributeCountLimit) {
      this.droppedAttributesCount++;
      return this;
    }
    attrs[key] = this.truncate(value);
    if (isNew) this.attributeCount++;
    return this;
  }

  setAttributes(attributes: SpanAttributes): this {
    for (const key in attributes) if (hasOwn.call(attributes, key)) this.setAttribute(key, attributes[key]);
    return this;
  }

  /** Strings cut to the value length limit; arrays copied (a caller may mutate its own). */
  private truncate(value: AttributeValue): AttributeValue {
    const limit = this.shared.limits.attributeValueLengthLimit;
    if (typeof value === 'string') return value.length > limit ? value.slice(0, limit) : value;
    if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' && v.length > limit ? v.slice(0, limit) : v)) as AttributeValue;
    return value;
  }

  /** Attributes of an event or link under the per-item count limit: the kept copy and how many were dropped. */
  private limited(attributes: Attributes | undefined, max: number): [Attributes, number] {
    const out: Attributes = {};
    let n = 0;
    let dropped = 0;
    for (const key in attributes) {
      if (!hasOwn.call(attributes, key) || key === '') continue;
      const v = attributes[key];
      if (!isValue(v)) continue;
      if (n >= max) {
        dropped++;
        continue;
      }
      out[key] = this.truncate(v);
      n++;
    }
    return [out, dropped];
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (this.ended_) return this;
    const max = this.shared.limits.eventCountLimit;
    if (max === 0) {
      this.droppedEventsCount++;
      return this;
    }
    let attributes: Attributes | undefined;
    if (isTimeInput(attributesOrTime)) {
      if (!isTimeInput(time)) time = attributesOrTime;
    } else {
      attributes = attributesOrTime;
    }
    if (this.events === EMPTY) this.events = [];
    else if (this.events.length >= max) {
      // As the SDK: the oldest event gives way.
      this.events.shift();
      this.droppedEventsCount++;
    }
    const [kept, dropped] = this.limited(attributes, this.shared.limits.attributePerEventCountLimit);
    this.events.push({ name, attributes: kept, time: hrTimeOf(time), droppedAttributesCount: dropped });
    return this;
  }

  addLink(link: Link): this {
    if (this.ended_) return this;
    const max = this.shared.limits.linkCountLimit;
    if (max === 0) {
      this.droppedLinksCount++;
      return this;
    }
    if (this.links === EMPTY) this.links = [];
    else if (this.links.length >= max) {
      this.links.shift();
      this.droppedLinksCount++;
    }
    const [kept, dropped] = this.limited(link.attributes, this.shared.limits.attributePerLinkCountLimit);
    const out: Link = { context: link.context };
    if (Object.keys(kept).length > 0) out.attributes = kept;
    if (dropped > 0) out.droppedAttributesCount = dropped;
    this.links.push(out);
    return this;
  }

  addLinks(links: Link[]): this {
    for (const l of links) this.addLink(l);
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (this.ended_ || status.code === SpanStatusCode.UNSET || this.status.code === SpanStatusCode.OK) return this;
    // A message goes with ERROR only.
    this.status =
      status.code === SpanStatusCode.ERROR && typeof status.message === 'string' ? { code: status.code, message: status.message } : { code: status.code };
    return this;
  }

  updateName(name: string): this {
    if (!this.ended_) this.name = name;
    return this;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: Attributes = {};
    if (typeof exception === 'string') {
      attributes['exception.message'] = exception;
    } else if (exception) {
      if (exception.code) attributes['exception.type'] = exception.code.toString();
      else if (exception.name) attributes['exception.type'] = exception.name;
      if (exception.message) attributes['exception.message'] = exception.message;
      if (exception.stack) attributes['exception.stacktrace'] = exception.stack;
    }
    if (attributes['exception.type'] || attributes['exception.message']) this.addEvent('exception', attributes, time);
  }

  end(endTime?: TimeInput): void {
    if (this.ended_) return;
    const end = endTime === undefined ? nowMs() : timeInputMs(endTime);
    if (end < this.startMs) {
      this.endMs = this.startMs;
      this.endHr = this.startHr;
    } else {
      this.endMs = end;
      if (isHrTime(endTime)) this.endHr = [endTime[0], endTime[1]];
    }
    this.ended_ = true;
    const processors = this.shared.processors;
    for (let i = 0; i < processors.length; i++) processors[i]!.onEnd(this);
  }
}

/**
 * What stays of an ended span in a context that outlives the request (see `ServerContext#retire`):
 * its ids, flags and trace state, with the hex ids made only if asked for, and nothing else. Like
 * the ended span, it records nothing: every method but `spanContext` is a no-op. Not the API's
 * `trace.wrapSpanContext` (the same no-ops): that takes a made span context, and making one at
 * every server span's end would cost the hex ids (~1k instructions) of spans nothing asks about.
 */
class EndedSpan implements Span {
  constructor(
    private context_: SpanContext | undefined,
    private readonly traceIdHex: string | undefined,
    private readonly t0: number,
    private readonly t1: number,
    private readonly t2: number,
    private readonly t3: number,
    private readonly s0: number,
    private readonly s1: number,
    private readonly traceFlags: number,
    private readonly traceState: TraceState | undefined,
  ) {}

  spanContext(): SpanContext {
    return (this.context_ ??= {
      traceId: this.traceIdHex ?? traceHex(this.t0, this.t1, this.t2, this.t3),
      spanId: spanHex(this.s0, this.s1),
      traceFlags: this.traceFlags,
      traceState: this.traceState,
    });
  }

  isRecording(): boolean {
    return false;
  }

  setAttribute(): this {
    return this;
  }

  setAttributes(): this {
    return this;
  }

  addEvent(): this {
    return this;
  }

  addLink(): this {
    return this;
  }

  addLinks(): this {
    return this;
  }

  setStatus(): this {
    return this;
  }

  updateName(): this {
    return this;
  }

  end(): void {}

  recordException(): void {}
}

/**
 * A stand-in for `span` once it has ended, for contexts that outlive it (see
 * {@link AgentSpan#retired}); any other span, or one not ended, as it is.
 */
export function retiredSpan(span: Span): Span {
  return span instanceof AgentSpan && span.ended ? span.retired() : span;
}

/** The span in `ctx` when its context can be a parent (our own spans are valid by construction). */
function parentOf(ctx: Context): Span | undefined {
  const span = trace.getSpan(ctx);
  if (span === undefined || span instanceof AgentSpan) return span;
  return trace.isSpanContextValid(span.spanContext()) ? span : undefined;
}

/** A tracer: one instrumentation scope. */
export class AgentTracer implements Tracer {
  private readonly shared: Shared;
  private readonly sampler: SamplerChoice;

  constructor(shared: Shared, sampler: SamplerChoice) {
    this.shared = shared;
    this.sampler = sampler;
  }

  /**
   * Starts a span for our own instrumentations: `attributes` is a fresh
   * object with valid values, which the span keeps. Returns a non-recording
   * span when the sampler says so or tracing is suppressed. `startTime` is epoch milliseconds.
   */
  startOwned(name: string, kind: SpanKind, attributes: Attributes, ctx: Context, startTime?: number): Span {
    return this.start(name, kind, attributes, true, undefined, startTime, ctx);
  }

  startSpan(name: string, options?: SpanOptions, ctx?: Context): Span {
    const o = options ?? {};
    let c = ctx ?? activeContext();
    if (o.root) c = trace.deleteSpan(c);
    return this.start(String(name), o.kind ?? SpanKind.INTERNAL, o.attributes, false, o.links, o.startTime, c);
  }

  private start(
    name: string,
    kind: SpanKind,
    attributes: Attributes | undefined,
    owned: boolean,
    links: Link[] | undefined,
    startTime: TimeInput | undefined,
    ctx: Context,
  ): Span {
    // A root context (a request with no trace headers) has nothing to look up: two Map reads spared.
    const root = ctx === ROOT_CONTEXT;
    if (!root && isTracingSuppressed(ctx)) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    const parentSpan = root ? undefined : parentOf(ctx);
    const parent = parentSpan?.spanContext();
    if (parent === undefined) newTraceWords();
    newSpanWords();
    // The words now, before a sampler (user code) could make other ids.
    const a = t0, b = t1, c = t2, d = t3, e = s0, f = s1;
    // A root span's trace id in hex is made only if something needs it now (a sampler, a non-recording span).
    let traceId = parent?.traceId;
    let traceState = parent?.traceState;
    let decision: number;
    let extra: Attributes | undefined;
    if (this.sampler.parentBasedAlwaysOn) {
      decision = parent === undefined || (parent.traceFlags & TraceFlags.SAMPLED) !== 0 ? RECORD_AND_SAMPLED : NOT_RECORD;
    } else {
      traceId ??= traceHex(a, b, c, d);
      const result = this.sampler.sampler.shouldSample(ctx, traceId, name, kind, attributes ?? {}, links ?? []);
      decision = result.decision;
      extra = result.attributes;
      if (result.traceState !== undefined) traceState = result.traceState;
    }
    const traceFlags = decision === RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE;
    if (decision === NOT_RECORD) {
      return trace.wrapSpanContext({ traceId: traceId ?? traceHex(a, b, c, d), spanId: spanHex(e, f), traceFlags, traceState });
    }
    const startMs = startTime === undefined ? nowMs() : timeInputMs(startTime);
    const span = new AgentSpan(this.shared, traceId, traceFlags, traceState, parent, name, kind, startMs);
    span.s0 = e;
    span.s1 = f;
    if (parent === undefined) {
      span.idWords = 3;
      span.t0 = a;
      span.t1 = b;
      span.t2 = c;
      span.t3 = d;
    } else if (parentSpan instanceof AgentSpan) {
      span.idWords = parentSpan.idWords & 1 ? 7 : 6;
      span.t0 = parentSpan.t0;
      span.t1 = parentSpan.t1;
      span.t2 = parentSpan.t2;
      span.t3 = parentSpan.t3;
      span.p0 = parentSpan.s0;
      span.p1 = parentSpan.s1;
    } else {
      span.idWords = 2;
    }
    if (isHrTime(startTime)) span.setStartHr(startTime);
    if (attributes !== undefined) {
      if (owned && extra === undefined) span.adopt(attributes);
      else span.setAttributes(attributes);
    }
    if (extra !== undefined) span.setAttributes(extra);
    if (links !== undefined) span.addLinks(links);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, ctx: Context, fn: F): ReturnType<F>;
  startActiveSpan(name: string, a2?: unknown, a3?: unknown, a4?: unknown): unknown {
    let options: SpanOptions | undefined;
    let ctx: Context | undefined;
    let fn: (span: Span) => unknown;
    if (arguments.length < 2) return undefined;
    if (arguments.length === 2) fn = a2 as typeof fn;
    else if (arguments.length === 3) {
      options = a2 as SpanOptions;
      fn = a3 as typeof fn;
    } else {
      options = a2 as SpanOptions;
      ctx = a3 as Context;
      fn = a4 as typeof fn;
    }
    const parent = ctx ?? activeContext();
    const span = this.startSpan(name, options, parent);
    return runIn(contextWithSpan(parent, span), fn, undefined, [span]);
  }
}

/** The tracer provider: one tracer per scope, all sharing resource, limits, sampler and processors. */
export class AgentTracerProvider implements TracerProvider {
  private readonly tracers = new Map<string, AgentTracer>();

  constructor(
    private readonly resource: Resource,
    private readonly sampler: SamplerChoice,
    private readonly limits: SpanLimits,
    private readonly processors: readonly EndProcessor[],
  ) {}

  getTracer(name: string, version?: string, options?: { schemaUrl?: string }): AgentTracer {
    const key = `${name}@${version ?? ''}:${options?.schemaUrl ?? ''}`;
    let t = this.tracers.get(key);
    if (t === undefined) {
      const scope: InstrumentationScope = { name, version, schemaUrl: options?.schemaUrl };
      t = new AgentTracer({ resource: this.resource, scope, limits: this.limits, processors: this.processors }, this.sampler);
      this.tracers.set(key, t);
    }
    return t;
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.processors.map((p) => p.forceFlush()));
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.processors.map((p) => p.shutdown()));
  }
}
