/**
 * Client half of the http instrumentation: one CLIENT span per
 * `http.request`/`http.get`/`https.request`/`https.get`, with the trace
 * context injected into the outgoing headers.
 *
 * `get` is wrapped on its own: Node's `get` calls the module-internal
 * `request`, never the exported (wrapped) one, so each call is traced once.
 * Headers go in with `req.setHeader` after the request object is built (the
 * caller's headers, Host and Authorization keep their order, ours come last);
 * only where Node writes the header block inside the call (`get`, which ends
 * the request; headers given as an array; an `Expect` header) are the options
 * rebuilt with a copy of the caller's headers, never the caller's own objects.
 */
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import { activeContext, contextWithSpan, kContext, runIn } from '../context';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import { urlToHttpOptions } from 'node:url';
import { agent, reportInternalError } from '../agent';
import {
  captureHeadersOn,
  clientAttributes,
  httpSpans,
  isExportRequest,
  normalizeMethod,
  outgoingHeader,
  putClientResponse,
  samplerDrops,
  transportErrorType,
  type ClientFacts,
} from '../http-spans';
import { recordException } from '../spans';

const kClient = Symbol('otel-agent.http.client');

interface ClientState {
  readonly span: Span;
  readonly req: ClientRequest;
  ended: boolean;
  timedOut: boolean;
  res: IncomingMessage | undefined;
}
type Req = ClientRequest & { [kClient]?: ClientState; [kContext]?: Context };
type Res = IncomingMessage & { [kClient]?: ClientState; [kContext]?: Context };
type Options = Record<string, unknown> & { headers?: unknown };
/** The parts of the `http`/`https` module the client wrapper reads. */
export interface ClientModule {
  readonly globalAgent: Agent & { protocol?: string; defaultPort?: number };
}

/** Wraps `request` or `get` of `http`/`https`. */
export function wrapRequest(original: (...args: any[]) => ClientRequest, mod: ClientModule, isGet: boolean) {
  return function request(this: unknown): ClientRequest {
    let parent: Context | undefined;
    let span: Span | undefined;
    let injected: Record<string, string> | undefined;
    let args: unknown[] | IArguments = arguments;
    try {
      parent = activeContext();
      // Never sampled and nothing received to pass on: nothing to do.
      if ((parent === ROOT_CONTEXT && httpSpans().neverSampled) || isTracingSuppressed(parent)) parent = undefined;
      else [span, injected, args] = prepare(parent, arguments, mod, isGet);
    } catch (err) {
      reportInternalError('http client span', err);
    }
    if (parent === undefined) return Reflect.apply(original, this, arguments);
    let req: Req;
    try {
      req = Reflect.apply(original, this, args);
    } catch (err) {
      if (span?.isRecording()) fail(span, err);
      throw err;
    }
    try {
      // Node holds the header block until the first write: ours go last.
      if (injected !== undefined && args === arguments && !req.headersSent) {
        for (const name of Object.keys(injected)) if (!req.hasHeader(name)) req.setHeader(name, injected[name]!);
      }
      req[kContext] = parent;
      if (span?.isRecording()) req[kClient] = { span, req, ended: false, timedOut: false, res: undefined };
    } catch (err) {
      reportInternalError('http client span', err);
    }
    return req;
  };
}

/** Starts the span and returns it, the headers to inject and the arguments to call with. */
function prepare(
  parent: Context,
  args: IArguments,
  mod: ClientModule,
  isGet: boolean,
): [Span | undefined, Record<string, string> | undefined, unknown[] | IArguments] {
  const h = httpSpans();
  const first = args[0];
  const hasUrl = typeof first === 'string' || first instanceof URL;
  const second = hasUrl ? args[1] : first;
  const options = second !== null && typeof second === 'object' && !(second instanceof URL) ? (second as Options) : undefined;
  let span: Span | undefined;
  // A dropped trace gets no span: the current context is injected as it is (a pass-through).
  if (!samplerDrops(h, parent)) {
    const facts = clientFacts(hasUrl ? (first as string | URL) : undefined, options, mod);
    if (isExportRequest(h, facts)) return [undefined, undefined, args];
    const name = normalizeMethod(facts.method);
    span = agent().tracer.startOwned(name, SpanKind.CLIENT, clientAttributes(h, facts, name), parent);
  }
  const injected: Record<string, string> = {};
  propagation.inject(span === undefined ? parent : contextWithSpan(parent, span), injected);
  if (Object.keys(injected).length === 0) return [span, undefined, args];
  const headers = options?.headers;
  if (!isGet && !Array.isArray(headers) && !hasHeader(headers, 'expect')) return [span, injected, args];
  try {
    return [span, injected, withHeaders(args, hasUrl, options, injected)];
  } catch (err) {
    reportInternalError('http client headers', err);
    return [span, injected, args];
  }
}

/** The URL parts Node will use, read the way `ClientRequest` reads its arguments. */
function clientFacts(url: string | URL | undefined, options: Options | undefined, mod: ClientModule): ClientFacts {
  const o: Options = url === undefined ? (options ?? {}) : Object.assign(urlToHttpOptions(typeof url === 'string' ? new URL(url) : url), options);
  const agentOpt = o.agent as { protocol?: string; defaultPort?: number } | false | undefined;
  const defaultAgent = mod.globalAgent;
  const used = agentOpt || defaultAgent;
  const method = typeof o.method === 'string' && o.method !== '' ? o.method.toUpperCase() : 'GET';
  const protocol = (o.protocol as string) || defaultAgent.protocol || 'http:';
  const port = Number(o.port) || Number(o.defaultPort) || used.defaultPort || 80;
  const hostname = (o.hostname as string) || (o.host as string) || 'localhost';
  const path = typeof o.path === 'string' && o.path !== '' ? o.path : '/';
  return { method, protocol, hostname: String(hostname), port, path, auth: Boolean(o.auth) };
}

function hasHeader(headers: unknown, name: string): boolean {
  if (headers === null || typeof headers !== 'object') return false;
  if (Array.isArray(headers)) {
    if (Array.isArray(headers[0])) return headers.some((pair: unknown[]) => String(pair[0]).toLowerCase() === name);
    for (let i = 0; i < headers.length; i += 2) if (String(headers[i]).toLowerCase() === name) return true;
    return false;
  }
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return true;
  return false;
}

/** The arguments again, with options whose headers are a copy of the caller's plus ours. */
function withHeaders(args: IArguments, hasUrl: boolean, options: Options | undefined, injected: Record<string, string>): unknown[] {
  const out = Array.prototype.slice.call(args);
  const given = options?.headers;
  let headers: unknown;
  if (Array.isArray(given)) {
    const copy = given.slice();
    const pairs = Array.isArray(given[0]);
    for (const name of Object.keys(injected)) {
      if (hasHeader(given, name)) continue;
      if (pairs) copy.push([name, injected[name]]);
      else copy.push(name, injected[name]);
    }
    headers = copy;
  } else {
    const copy: Record<string, unknown> = {};
    if (given !== null && typeof given === 'object') for (const key of Object.keys(given)) copy[key] = (given as Record<string, unknown>)[key];
    for (const name of Object.keys(injected)) if (!hasHeader(given, name)) copy[name] = injected[name];
    headers = copy;
  }
  const at = hasUrl ? 1 : 0;
  if (options === undefined) {
    // `request(url, cb)` / `request(url)`: the options Node would have merged were empty.
    if (!hasUrl) return out;
    out.splice(1, 0, { headers });
    return out;
  }
  // Same prototype and own properties (frozen or not): Node reads options both ways.
  const descriptors = Object.getOwnPropertyDescriptors(options) as PropertyDescriptorMap;
  descriptors.headers = { value: headers, writable: true, enumerable: true, configurable: true };
  out[at] = Object.create(Object.getPrototypeOf(options), descriptors);
  return out;
}

/** Wraps `ClientRequest.prototype.emit`: span bookkeeping, and events run in the caller's context. */
export function wrapClientEmit(original: (...args: any[]) => boolean) {
  return function emit(this: unknown, event: unknown): boolean {
    const req = this as Req;
    const state = req[kClient];
    if (state !== undefined && !state.ended) {
      try {
        onRequestEvent(req, state, event, arguments[1]);
      } catch (err) {
        reportInternalError('http client span', err);
      }
    }
    const ctx = req[kContext];
    if (ctx === undefined) return Reflect.apply(original, this, arguments);
    return runIn(ctx, original, this, arguments);
  };
}

function onRequestEvent(req: Req, state: ClientState, event: unknown, arg: unknown): void {
  if (event === 'response') {
    const res = arg as Res;
    const h = httpSpans();
    state.res = res;
    res[kContext] = req[kContext];
    res[kClient] = state;
    putClientResponse(h, state.span, res.httpVersion, res.statusCode ?? 0);
    captureHeadersOn(state.span, h.capture.clientResponse, (name) => res.headers[name]);
    res.on('end', onResponseEnd);
    res.on('close', onResponseClose);
  } else if (event === 'upgrade' || event === 'connect') {
    // The socket now belongs to the caller (websocket, tunnel): the exchange is over.
    const h = httpSpans();
    putClientResponse(h, state.span, (arg as IncomingMessage).httpVersion, (arg as IncomingMessage).statusCode ?? 0);
    finish(state, undefined);
  } else if (event === 'timeout') {
    state.timedOut = true;
  } else if (event === 'error') {
    finish(state, arg ?? new Error('request failed'));
  } else if (event === 'close' && state.res === undefined) {
    finish(state, state.timedOut ? timeoutError() : abortedError('request closed before a response'));
  }
}

function timeoutError(): Error {
  const err = new Error('request timed out');
  err.name = 'timeout';
  return err;
}

function abortedError(message: string): Error {
  const err = new Error(message);
  err.name = 'aborted';
  return err;
}

function onResponseEnd(this: Res): void {
  const state = this[kClient];
  if (state !== undefined && !state.ended) finish(state, undefined);
}

function onResponseClose(this: Res): void {
  const state = this[kClient];
  if (state === undefined || state.ended) return;
  finish(state, this.complete ? undefined : (this.errored ?? abortedError('response closed before it was complete')));
}

/** Ends the span; `err` is a transport failure (the exception event is kept for real errors only). */
function finish(state: ClientState, err: unknown): void {
  state.ended = true;
  try {
    const { span, req } = state;
    const h = httpSpans();
    captureHeadersOn(span, h.capture.clientRequest, (name) => outgoingHeader(req, name));
    if (err !== undefined) {
      const synthetic = err instanceof Error && (err.name === 'timeout' || err.name === 'aborted') && !('code' in err);
      if (!synthetic) recordException(span, err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
      span.setAttribute('error.type', state.timedOut ? 'timeout' : transportErrorType(err));
    }
    span.end();
  } catch (e) {
    reportInternalError('http client span', e);
  }
}

/** The call itself threw (invalid arguments): the span records it and ends. */
function fail(span: Span, err: unknown): void {
  try {
    recordException(span, err);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
    span.setAttribute('error.type', transportErrorType(err));
    span.end();
  } catch (e) {
    reportInternalError('http client span', e);
  }
}
