/**
 * The `fetch` instrumentation: Node's global `fetch` is undici, which
 * publishes each request's life on diagnostics channels. Subscribing (no
 * patching) covers CommonJS, ESM and bundled apps alike, and the `undici`
 * package itself. The span starts at `undici:request:create` (where the trace
 * context is added with `request.addHeader`), gets the status at
 * `undici:request:headers` and ends at `undici:request:trailers` (body fully
 * received) or `undici:request:error`. State lives in a WeakMap keyed by
 * undici's request object: a request that never completes (a body nobody
 * reads) is collected with it, span and all.
 */
import * as dc from 'node:diagnostics_channel';
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import { activeContext, contextWithSpan } from '../context';
import { isTracingSuppressed } from '@opentelemetry/core';
import { agent, reportInternalError, type InstrumentationDefinition } from '../agent';
import {
  captureHeadersOn,
  clientAttributes,
  httpSpans,
  isExportRequest,
  normalizeMethod,
  putClientResponse,
  rawHeader,
  samplerDrops,
  transportErrorType,
  type ClientFacts,
} from '../http-spans';
import { recordException } from '../spans';

/** The parts of undici's `Request` we read (undici 5 keeps headers as a string, 6+ as a flat array). */
interface UndiciRequest {
  readonly origin: unknown;
  readonly path: string;
  readonly method: string;
  readonly headers: string | unknown[];
  addHeader?(name: string, value: string): unknown;
}
interface UndiciResponse {
  readonly statusCode: number;
  readonly headers: unknown[];
}

interface FetchState {
  readonly span: Span;
  /** Response headers arrived. */
  responded: boolean;
}
const states = new WeakMap<object, FetchState>();
/** Failures after which a subscriber unsubscribes itself. */
const MAX_FAILURES = 10;

function onCreate({ request }: { request: UndiciRequest }): void {
  const h = httpSpans();
  const parent = activeContext();
  // Never sampled and nothing received to pass on: nothing to do.
  if ((parent === ROOT_CONTEXT && h.neverSampled) || isTracingSuppressed(parent)) return;
  let span: Span | undefined;
  // A dropped trace gets no span: the current context is injected as it is (a pass-through).
  if (!samplerDrops(h, parent)) {
    const facts = factsOf(request);
    if (isExportRequest(h, facts)) return;
    const name = normalizeMethod(facts.method);
    span = agent().tracer.startOwned(name, SpanKind.CLIENT, clientAttributes(h, facts, name), parent);
  }
  inject(request, span === undefined ? parent : contextWithSpan(parent, span));
  if (span?.isRecording()) states.set(request, { span, responded: false });
}

type OriginFacts = Pick<ClientFacts, 'protocol' | 'hostname' | 'port' | 'auth'>;
// Parsed origins: an app talks to a handful of them, and parsing a URL per request is a visible cost.
const origins = new Map<string, OriginFacts>();
const MAX_ORIGINS = 256;

function originFacts(origin: string): OriginFacts {
  let o = origins.get(origin);
  if (o === undefined) {
    const url = new URL(origin);
    o = {
      protocol: url.protocol,
      hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
      auth: url.username !== '',
    };
    if (origins.size >= MAX_ORIGINS) origins.clear();
    origins.set(origin, o);
  }
  return o;
}

function factsOf(request: UndiciRequest): ClientFacts {
  const o = originFacts(String(request.origin));
  return { method: request.method, protocol: o.protocol, hostname: o.hostname, port: o.port, path: request.path, auth: o.auth };
}

/** A request header, from undici's array or (undici 5) string form. */
function requestHeader(request: UndiciRequest, name: string): string[] | undefined {
  const { headers } = request;
  if (Array.isArray(headers)) return rawHeader(headers, name);
  if (typeof headers !== 'string') return undefined;
  let out: string[] | undefined;
  for (const line of headers.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name) (out ??= []).push(line.slice(colon + 1).trim());
  }
  return out;
}

/** Adds the propagation headers the caller did not set itself. */
function inject(request: UndiciRequest, ctx: Context): void {
  if (typeof request.addHeader !== 'function') return;
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  for (const name of Object.keys(carrier)) {
    if (requestHeader(request, name) === undefined) request.addHeader(name, carrier[name]!);
  }
}

function onHeaders({ request, response }: { request: UndiciRequest; response: UndiciResponse }): void {
  const state = states.get(request);
  if (state === undefined) return;
  state.responded = true;
  const { span } = state;
  const h = httpSpans();
  putClientResponse(h, span, '1.1', response.statusCode);
  captureHeadersOn(span, h.capture.clientRequest, (name) => requestHeader(request, name));
  captureHeadersOn(span, h.capture.clientResponse, (name) => rawHeader(response.headers, name));
}

function onTrailers({ request }: { request: UndiciRequest }): void {
  const state = states.get(request);
  if (state === undefined) return;
  states.delete(request);
  state.span.end();
}

function onError({ request, error }: { request: UndiciRequest; error: unknown }): void {
  const state = states.get(request);
  if (state === undefined) return;
  states.delete(request);
  const { span } = state;
  // A body cancelled by its consumer (`body.cancel(reason)`, or undici once the Response is
  // garbage collected unread) ends the exchange without a failure: the reason is no Error.
  if (state.responded && !(error instanceof Error)) {
    span.end();
    return;
  }
  recordException(span, error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message ?? String(error) });
  span.setAttribute('error.type', transportErrorType(error));
  span.end();
}

/**
 * Subscribes `fn` to `name`, guarded: Node turns a subscriber's throw into
 * an uncaught exception, so nothing may escape; a subscriber that keeps
 * failing takes itself off the channel.
 */
function subscribe<T>(name: string, fn: (message: T) => void): void {
  const handler = (message: unknown): void => {
    try {
      fn(message as T);
    } catch (err) {
      if (reportInternalError(`fetch (${name})`, err) === MAX_FAILURES) {
        // Not while the channel is publishing to us.
        process.nextTick(() => dc.unsubscribe(name, handler));
      }
    }
  };
  dc.subscribe(name, handler);
}

const definition: InstrumentationDefinition = {
  name: 'fetch',
  targets: [],
  enable(): void {
    if (typeof dc.subscribe !== 'function') throw new Error('diagnostics_channel.subscribe is not available');
    subscribe('undici:request:create', onCreate);
    subscribe('undici:request:headers', onHeaders);
    subscribe('undici:request:trailers', onTrailers);
    subscribe('undici:request:error', onError);
  },
};

export default definition;
