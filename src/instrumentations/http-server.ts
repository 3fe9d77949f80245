/**
 * Server half of the http instrumentation: one SERVER span per request on
 * every `http`/`https` server, framework or not.
 *
 * Where: `Server.prototype.emit` for the `request` event (and its
 * `checkContinue`/`checkExpectation` variants), on both `http.Server` and
 * `https.Server` (the latter is a `tls.Server`, not an `http.Server`). Wrapping
 * `createServer` would miss `new http.Server()` and listeners added later with
 * `server.on('request')`; express and fastify both end up emitting `request`
 * on a server made by `http.createServer`/`https.createServer`, so they get
 * their spans from here. Also `IncomingMessage`/`ServerResponse` `emit`, so
 * that body and response events (`data`, `end`, `finish`) run in the span's
 * context: Node emits them from the connection's context, not the request's.
 *
 * Excluded URLs get nothing. A request the sampler is sure to drop gets no
 * span: what its caller sent (if anything) becomes the context it is served
 * in, so that calls made downstream pass it on unchanged.
 */
import type { EventEmitter } from 'node:events';
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Context, type TextMapGetter } from '@opentelemetry/api';
import { activeContext, contextWithSpan, enterRoot, kContext, leaveRoot, runIn } from '../context';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { agent, reportInternalError } from '../agent';
import {
  captureHeaders,
  captureHeadersOn,
  httpSpans,
  normalizeMethod,
  outgoingHeader,
  responseContentLength,
  putErrorStatus,
  putStatus,
  redactQuery,
  samplerDrops,
  transportErrorType,
  type HttpSpans,
} from '../http-spans';
import { ServerContext, serverState, type ServerRequestState } from '../server-span';
import { errorType, recordError } from '../spans';
import { AgentSpan } from '../tracer';

interface ServerState extends ServerRequestState {
  ended: boolean;
  /**
   * What `writeHead` (see {@link wrapWriteHead}) saw: 0 not called, 1 called without headers,
   * 2 with headers, whose Content-Length is `length`.
   */
  head: 0 | 1 | 2;
  length: unknown;
  /**
   * The status code `writeHead` sent (undefined until it returns). Read here rather than from the
   * response: express gives each response a layout of its own (see server-span.ts), and reading
   * `statusCode` or `headersSent` from one V8 has not seen costs a lookup in the runtime, some
   * 1.5k to 4k instructions a read.
   */
  code: number | undefined;
}
type Bound = { [kContext]?: Context };
type Res = ServerResponse & Bound;

const headersGetter: TextMapGetter<IncomingMessage> = {
  keys: (req) => Object.keys(req.headers),
  get(req, key) {
    const v = req.headers[key];
    // Node joins a repeated traceparent with ", " (a restart per W3C); the distinct list tells it apart.
    if (key === 'traceparent' && typeof v === 'string' && v.includes(',')) return req.headersDistinct?.[key] ?? v;
    return v;
  },
};

/**
 * Node's own `end` listener on a server request, `clearIncoming`: it resets the
 * connection's parser and needs no context. Node adds it once the response has
 * finished; it is recognised the first time it is seen, by name and body.
 */
let nodeEndListener: unknown;

/** Whether `event` is an `end` that only Node listens to. */
function onlyNodeListens(emitter: unknown, event: string | symbol): boolean {
  if (event !== 'end') return false;
  const l = (emitter as { _events?: Record<string, unknown> })._events?.end;
  if (l === nodeEndListener) return true;
  if (nodeEndListener !== undefined || typeof l !== 'function' || l.name !== 'clearIncoming' || !String(l).includes('parser.incoming')) return false;
  nodeEndListener = l;
  return true;
}

/**
 * Whether anyone but Node listens to `event` on `emitter`, read from `_events`. express gives
 * each request and response a layout of its own, and the first read of a name from an object of
 * a new layout is a lookup in the runtime (1.5k instructions and more). Node's emit reads
 * `_events` next anyway, and finds it then; `listenerCount`, read through `emitter`, was one
 * such lookup more a request. Our context is read only when someone listens, or for the events
 * that end the span.
 */
function othersListen(emitter: unknown, event: string | symbol): boolean {
  const events = (emitter as { _events?: Record<string | symbol, unknown> })._events;
  if (events == null) return (emitter as EventEmitter).listenerCount(event) !== 0;
  return events[event] !== undefined && !onlyNodeListens(emitter, event);
}

/**
 * Whether Node's `resOnFinish` is what a server response's single `finish` listener is: known
 * once the first response of a traced request finishes (undefined before). Node adds it before it
 * emits `request`, so no listener of the app's comes before it; when it is the only one, the
 * `finish` listeners are Node's alone.
 */
let nodeFinishListener: boolean | undefined;

/** Whether only Node listens to a server response's `finish`, read from its `_events`. */
function onlyNodeFinishes(emitter: unknown): boolean {
  const l = (emitter as { _events?: Record<string, unknown> })._events?.finish;
  if (typeof l !== 'function') return false;
  // A bound function's name is made by a call into V8 (~75 ns): read it once.
  if (nodeFinishListener === undefined) nodeFinishListener = l.name === 'bound resOnFinish';
  return nodeFinishListener;
}

/** Whether an emit on an object carrying `ctx`, of an event others listen to, should enter it. */
function shouldEnter(ctx: Context): boolean {
  // Entering a context costs an AsyncLocalStorage run (and every async resource made inside it
  // a copy of it): skip it when the context is already current.
  return activeContext() !== ctx;
}

/** Wraps an emitter's `emit` so that objects carrying a context emit in it. */
export function wrapBoundEmit(original: (...args: any[]) => boolean) {
  return function emit(this: unknown, event: string | symbol): boolean {
    if (!othersListen(this, event)) return Reflect.apply(original, this, arguments);
    const ctx = (this as Bound)[kContext];
    if (ctx === undefined || !shouldEnter(ctx)) return Reflect.apply(original, this, arguments);
    return runIn(ctx, original, this, arguments);
  };
}

/**
 * Wraps `ServerResponse.prototype.emit`: as {@link wrapBoundEmit}, and the
 * SERVER span ends once the response's `finish` (or, when the connection
 * went first, `close`) listeners have run. Ending it here rather than from
 * listeners of our own spares two `on()` calls and two context switches
 * per request. One function, not {@link wrapBoundEmit} called from another:
 * a response emits four times a request.
 */
export function wrapResponseEmit(original: (...args: any[]) => boolean) {
  return function emit(this: unknown, event: string | symbol): boolean {
    const ends = event === 'finish' || event === 'close';
    const listened = othersListen(this, event);
    if (!ends && !listened) return Reflect.apply(original, this, arguments);
    const ctx = (this as Bound)[kContext];
    if (ctx === undefined) return Reflect.apply(original, this, arguments);
    if (!ends || !(ctx instanceof ServerContext)) {
      return listened && shouldEnter(ctx) ? runIn(ctx, original, this, arguments) : Reflect.apply(original, this, arguments);
    }
    try {
      // When only Node listens to `finish`, its listener arms the connection's keep-alive timer,
      // which keeps the context it was made in until the connection's next request or its
      // timeout: ~250 bytes an idle connection (the context, the request's state, the ended
      // span's stand-in) through every scavenge. Nothing there needs the request's context, and
      // with no agent that timer holds none, so `finish` is emitted in the root context then.
      if (event === 'finish' && onlyNodeFinishes(this)) {
        const prior = enterRoot();
        try {
          return Reflect.apply(original, this, arguments);
        } finally {
          leaveRoot(prior);
        }
      }
      return listened && shouldEnter(ctx) ? runIn(ctx, original, this, arguments) : Reflect.apply(original, this, arguments);
    } finally {
      endServerSpan(this as Res, ctx, event === 'close');
    }
  };
}

/**
 * Wraps `ServerResponse.prototype.writeHead` to note the Content-Length of the headers given to
 * it. Without headers set before, those reach only the header block Node writes (not
 * `getHeader`), and reading that string back cost ~1.5k instructions a response: on Node's
 * concatenated string each `indexOf` or `charCodeAt` takes V8's slow path. The argument is an
 * object or array of a few entries. Node calls `writeHead(statusCode)` itself for responses
 * that set no head, so `head` also tells that no headers came this way.
 */
export function wrapWriteHead(original: (...args: any[]) => unknown) {
  return function writeHead(this: unknown, _status: unknown, reason?: unknown, obj?: unknown): unknown {
    const result = Reflect.apply(original, this, arguments);
    let state: ServerState | undefined;
    try {
      state = serverState(this as Res) as ServerState | undefined;
      if (state !== undefined && !state.ended) {
        // What Node stored as `statusCode` (`statusCode |= 0`); anything but a number is read from the response at the end.
        state.code = typeof _status === 'number' ? _status | 0 : undefined;
        // As Node reads its arguments: a string second argument is the reason phrase.
        const headers = typeof reason === 'string' ? obj : (obj ?? reason);
        if (headers == null || typeof headers !== 'object') {
          if (state.head === 0) state.head = 1;
        } else {
          state.head = 2;
          state.length = givenHeader(headers, 'content-length');
        }
      }
    } catch (err) {
      if (state !== undefined) state.head = 0; // unknown: the header block is read at the end instead
      reportInternalError('http server span', err);
    }
    return result;
  };
}

/**
 * The first value of header `name` (lower case) in headers given to `writeHead`, in the order
 * Node writes them: an object's own keys, a flat `[name, value, ...]` array or `[name, value]` pairs.
 */
function givenHeader(headers: object, name: string): unknown {
  if (Array.isArray(headers)) {
    const pairs = headers.length > 0 && Array.isArray(headers[0]);
    const step = pairs ? 1 : 2;
    for (let i = 0; i < headers.length; i += step) {
      const k: unknown = pairs ? headers[i][0] : headers[i];
      if (typeof k === 'string' && k.length === name.length && k.toLowerCase() === name) {
        const v: unknown = pairs ? headers[i][1] : headers[i + 1];
        return Array.isArray(v) ? v[0] : v;
      }
    }
    return undefined;
  }
  const keys = Object.keys(headers);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (k.length === name.length && (k === name || k.toLowerCase() === name)) {
      const v: unknown = (headers as Record<string, unknown>)[k];
      return Array.isArray(v) ? v[0] : v;
    }
  }
  return undefined;
}

/** Wraps `Server.prototype.emit`: request listeners run inside the request's SERVER span. */
export function wrapServerEmit(original: (...args: any[]) => boolean) {
  return function emit(this: unknown, event: unknown, req?: IncomingMessage & Bound, res?: Res): boolean {
    if ((event !== 'request' && event !== 'checkContinue' && event !== 'checkExpectation') || !req || !res || req[kContext]) {
      return Reflect.apply(original, this, arguments);
    }
    let ctx: Context | undefined;
    try {
      ctx = startServerSpan(req, res);
    } catch (err) {
      reportInternalError('http server span', err);
    }
    if (ctx === undefined) return Reflect.apply(original, this, arguments);
    try {
      return runIn(ctx, original, this, arguments);
    } catch (err) {
      try {
        onListenerThrow(req, err);
      } catch (e) {
        reportInternalError('http server span', e);
      }
      throw err;
    }
  };
}

function startServerSpan(req: IncomingMessage & Bound, res: Res): Context | undefined {
  const h = httpSpans();
  const url = req.url ?? '/';
  for (let i = 0; i < h.excludedUrls.length; i++) if (h.excludedUrls[i]!.test(url)) return undefined;
  // Most requests carry no trace headers: then there is nothing to extract.
  const headers = req.headers;
  const propagated = h.w3cFields
    ? headers.traceparent !== undefined || headers.tracestate !== undefined || headers.baggage !== undefined
    : hasAny(headers, h.propagationFields);
  if (h.neverSampled && !propagated) return undefined;
  const parent = propagated ? propagation.extract(ROOT_CONTEXT, req, headersGetter) : ROOT_CONTEXT;
  let ctx = parent;
  if (samplerDrops(h, parent)) {
    // No span: what the caller sent passes through unchanged, so calls made while serving carry its decision.
    if (parent === ROOT_CONTEXT) return undefined;
  } else {
    const method = req.method ?? 'GET';
    const normalized = normalizeMethod(method);
    const attributes = serverAttributes(h, req, url, method, normalized);
    const span = agent().tracer.startOwned(normalized, SpanKind.SERVER, attributes, parent);
    // A recording span is ended by the response's own emit of 'finish' or 'close' (see
    // wrapResponseEmit), from the state its context holds: no listeners to add per request.
    if (span.isRecording()) {
      const state: ServerState = { span, method: normalized, ended: false, head: 0, length: undefined, code: undefined };
      ctx = new ServerContext(parent, state);
    } else {
      ctx = contextWithSpan(parent, span);
    }
  }
  req[kContext] = ctx;
  res[kContext] = ctx;
  return ctx;
}

// One keyed load site reading several names goes megamorphic; with the default propagators, the
// test above reads each name at a site of its own.
function hasAny(headers: IncomingMessage['headers'], names: readonly string[]): boolean {
  for (let i = 0; i < names.length; i++) if (headers[names[i]!] !== undefined) return true;
  return false;
}

/** A socket address as `net.Socket` caches it. */
interface SocketAddress {
  address?: string;
  port?: number;
}
type CachingSocket = { _peername?: unknown; _sockname?: unknown; remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number };

// The remote and local address of a connection do not change: Node looks each up once and
// caches it (`_peername`, `_sockname`), but its getters (`remoteAddress`, `remotePort`...) go
// through the lookup function on every read, per request on a keep-alive connection.
function remote(socket: CachingSocket | null | undefined): SocketAddress | undefined {
  if (socket == null) return undefined;
  const cached = socket._peername;
  if (cached != null && typeof cached === 'object') return cached as SocketAddress;
  return { address: socket.remoteAddress, port: socket.remotePort };
}

function local(socket: CachingSocket | null | undefined): SocketAddress | undefined {
  if (socket == null) return undefined;
  const cached = socket._sockname;
  if (cached != null && typeof cached === 'object') return cached as SocketAddress;
  return { address: socket.localAddress, port: socket.localPort };
}

/**
 * Where the port of a Host header starts (its `:`), or -1: the last `:` that no `]` follows
 * (an IPv6 literal's colons are inside brackets). A loop, as String#lastIndexOf is a call into
 * C++ that costs more than reading a host name's few characters. The digits read on the way
 * are the port ({@link hostPort}): `Number` of a substring was another call into C++.
 */
function portColon(host: string): number {
  let port = 0;
  let scale = 1;
  for (let i = host.length - 1; i >= 0; i--) {
    const c = host.charCodeAt(i);
    if (c === 58) {
      // ':'
      hostPort = scale === 1 || scale > 1e5 || port > 65535 ? undefined : port || undefined;
      return i;
    }
    if (c === 93) return -1; // ']'
    if (c >= 48 && c <= 57) {
      port += (c - 48) * scale;
      scale *= 10;
    } else scale = 1e6; // not a port: no digits only after the colon
  }
  return -1;
}
/** The port {@link portColon} read: the digits after its colon, or undefined if they are not a port. */
let hostPort: number | undefined;

// The previous server span's `http.url` and what it was made of. Consecutive requests mostly
// repeat it, and a template literal makes a new cons string each time: comparing that to the
// previous span's value, and writing it, first flattens it (a call into the runtime).
let urlScheme = '';
let urlHost: string | undefined = '';
let urlTarget = '';
let urlValue = '';

/** `scheme://host/target` for the old conventions' `http.url`, the previous span's string when nothing changed. */
function serverUrl(scheme: string, host: string | undefined, hostname: string | undefined, port: number | undefined, target: string): string {
  if (host !== undefined && host === urlHost && target === urlTarget && scheme === urlScheme) return urlValue;
  const url = `${scheme}://${host ?? `${hostname}:${port}`}${target}`;
  urlScheme = scheme;
  urlHost = host;
  urlTarget = target;
  urlValue = url;
  return url;
}

const FORWARDED_FOR = /for="?\[?([^\]";,\s]+)/i;

// Each attribute is stored at its own site with a constant key: one loop storing
// many keys (`put`) makes that store megamorphic, a few hundred instructions a store.
function serverAttributes(h: HttpSpans, req: IncomingMessage, target: string, method: string, normalized: string): Attributes {
  const a: Attributes = {};
  const headers = req.headers;
  const socket = req.socket as (IncomingMessage['socket'] & { encrypted?: boolean }) | null;
  const scheme = socket?.encrypted ? 'https' : 'http';
  const host = headers.host;
  let hostname: string | undefined;
  let port: number | undefined;
  if (host) {
    // "[::1]:8080", "example.com:8080", "example.com"
    const colon = portColon(host);
    hostname = colon !== -1 ? host.slice(0, colon) : host;
    port = colon !== -1 ? hostPort : undefined;
    if (hostname.startsWith('[')) hostname = hostname.slice(1, -1);
  } else {
    hostname = local(socket)?.address;
  }
  port ??= local(socket)?.port;
  const flavor = req.httpVersion;
  const userAgent = headers['user-agent'];
  const peer = remote(socket);
  const peerAddr = peer?.address;
  const peerPort = peer?.port;
  const redacted = redactQuery(target);
  if (h.old) {
    a['http.method'] = normalized;
    a['http.scheme'] = scheme;
    if (hostname) a['net.host.name'] = hostname;
    if (port !== undefined) a['net.host.port'] = port;
    if (flavor) a['http.flavor'] = flavor;
    if (userAgent) a['http.user_agent'] = userAgent;
    if (peerAddr) a['net.sock.peer.addr'] = peerAddr;
    if (peerPort !== undefined) a['net.sock.peer.port'] = peerPort;
    a['http.url'] = serverUrl(scheme, host, hostname, port, redacted);
    a['http.target'] = redacted;
    const length = Number(headers['content-length']);
    if (headers['content-length'] !== undefined && Number.isSafeInteger(length)) a['http.request_content_length'] = length;
  }
  if (h.stable) {
    a['http.request.method'] = normalized;
    if (normalized !== method) a['http.request.method_original'] = method;
    a['url.scheme'] = scheme;
    if (hostname) a['server.address'] = hostname;
    if (port !== undefined) a['server.port'] = port;
    if (flavor) a['network.protocol.version'] = flavor;
    if (userAgent) a['user_agent.original'] = userAgent;
    if (peerAddr) a['network.peer.address'] = peerAddr;
    if (peerPort !== undefined) a['network.peer.port'] = peerPort;
    const q = redacted.indexOf('?');
    a['url.path'] = q === -1 ? redacted : redacted.slice(0, q);
    if (q !== -1) a['url.query'] = redacted.slice(q + 1);
    const xff = headers['x-forwarded-for'];
    const fwd = headers.forwarded;
    const client = xff ? String(xff).split(',')[0]!.trim() : fwd ? FORWARDED_FOR.exec(fwd)?.[1] : peerAddr;
    if (client) a['client.address'] = client;
  }
  if (h.capture.serverRequest.length !== 0) captureHeaders(a, h.capture.serverRequest, (name) => headers[name]);
  return a;
}

/**
 * `ServerResponse.prototype.getHeader`, kept when http is patched. Called on the response rather
 * than looked up on it: on a response whose layout V8 has not seen (each one express serves),
 * the lookup is a trip to the runtime that nothing else in the request pays for first.
 */
let getResponseHeader: ((this: unknown, name: string) => unknown) | undefined;

/** Keeps the prototype's `getHeader` for {@link putResponse}. */
export function noteServerResponse(proto: object): void {
  const fn = (proto as { getHeader?: unknown }).getHeader;
  if (typeof fn === 'function') getResponseHeader = fn as typeof getResponseHeader;
}

/**
 * The response's status code and length attributes, and status ERROR for a 5xx. On our own
 * spans each is stored at a site of its own with a constant key (see `openAttributes`); the
 * order is putStatus's: status codes (old, stable), then the length.
 */
function putResponse(h: HttpSpans, state: ServerState, res: Res): void {
  const { span } = state;
  const code = state.code ?? res.statusCode;
  const length = h.old ? responseContentLength(res, state.head, state.length, getResponseHeader) : undefined;
  const err = state.error;
  const message = err === undefined ? undefined : ((err as Error)?.message ?? String(err));
  const own = span instanceof AgentSpan ? span : undefined;
  const attrs = own?.openAttributes(3);
  if (attrs === undefined) {
    putStatus(h, span, h.server, code, 500, message);
    if (length !== undefined) span.setAttribute('http.response_content_length', length);
    return;
  }
  // A value is never undefined once set: an undefined read is a new key.
  let added = 0;
  if (h.old) {
    if (attrs['http.status_code'] === undefined) added++;
    attrs['http.status_code'] = code;
  }
  if (h.stable) {
    if (attrs['http.response.status_code'] === undefined) added++;
    attrs['http.response.status_code'] = code;
  }
  if (length !== undefined) {
    if (attrs['http.response_content_length'] === undefined) added++;
    attrs['http.response_content_length'] = length;
  }
  own!.countAdded(added);
  putErrorStatus(h, span, code, 500, message);
}

function endServerSpan(res: Res, ctx: ServerContext, closed: boolean): void {
  const state = ctx.state as ServerState;
  if (state.ended) return;
  state.ended = true;
  try {
    const h = httpSpans();
    const { span } = state;
    // `writeHead` returned, or (should something else have written the head) Node says it was sent.
    if (state.code !== undefined || res.headersSent) {
      putResponse(h, state, res);
      captureHeadersOn(span, h.capture.serverResponse, (name) => outgoingHeader(res, name));
    }
    if (closed) {
      // The connection closed before the response was complete (client gone, res.destroy()).
      const err = res.errored;
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: err ? err.message : res.headersSent ? 'connection closed before the response finished' : 'connection closed before a response was sent',
      });
      span.setAttribute('error.type', err ? transportErrorType(err) : 'aborted');
    }
    span.end();
    // The context outlives the request (a keep-alive connection's timer holds it): let go of the span.
    ctx.retire();
  } catch (err) {
    reportInternalError('http server span', err);
  }
}

/**
 * A request listener threw: the exception goes on the span, which is ended
 * right away when the throw is fatal (no `uncaughtException` handler), so that
 * the exit-time flush still sends it.
 */
function onListenerThrow(req: IncomingMessage, err: unknown): void {
  const state = serverState(req) as ServerState | undefined;
  if (state === undefined || state.ended) return;
  state.error = err;
  recordError(state.span, err);
  state.span.setAttribute('error.type', errorType(err));
  if (process.listenerCount('uncaughtException') === 0 && !process.hasUncaughtExceptionCaptureCallback()) {
    state.ended = true;
    state.span.end();
  }
}
