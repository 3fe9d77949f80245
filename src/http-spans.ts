/**
 * What an HTTP span looks like, shared by the http server, http client and
 * fetch instrumentations (and, through server-span.ts, by the frameworks):
 * attribute names per semantic-convention mode (computed once), method
 * normalization, URL redaction, status mapping, header capture, and the
 * cheap "would the sampler drop it?" check that keeps dropped requests free.
 */
import { propagation, ROOT_CONTEXT, SpanStatusCode, trace, TraceFlags, type Attributes, type AttributeValue, type Context, type Span, type SpanContext } from '@opentelemetry/api';
import { agent } from './agent';
import type { AgentConfig } from './config';
import { errorType } from './spans';
import { AgentSpan } from './tracer';

/** Attribute names each fact is written under, in the configured mode. */
export interface Keys {
  readonly method: readonly string[];
  readonly status: readonly string[];
  /** Server: the host that was addressed; client: the peer. */
  readonly host: readonly string[];
  readonly port: readonly string[];
  readonly peerAddr: readonly string[];
  readonly peerPort: readonly string[];
  readonly flavor: readonly string[];
  readonly userAgent: readonly string[];
  readonly scheme: readonly string[];
  /** Client: the full (redacted) URL. */
  readonly url: readonly string[];
}

/** One header to capture: its name and the attribute names it goes under. */
export interface HeaderCapture {
  readonly header: string;
  readonly keys: readonly string[];
  readonly redact: boolean;
}

/** Everything about HTTP spans that depends only on the configuration. */
export interface HttpSpans {
  readonly old: boolean;
  readonly stable: boolean;
  readonly server: Keys;
  readonly client: Keys;
  readonly capture: {
    readonly serverRequest: readonly HeaderCapture[];
    readonly serverResponse: readonly HeaderCapture[];
    readonly clientRequest: readonly HeaderCapture[];
    readonly clientResponse: readonly HeaderCapture[];
  };
  readonly excludedUrls: readonly RegExp[];
  /** The OTLP endpoint as `host:port` and path, never traced. */
  readonly exportHost: string | undefined;
  readonly exportPath: string;
  readonly sampler: AgentConfig['sampler'];
  /** The sampler drops every span whatever its parent (`always_off`, a ratio of 0): only pass-through. */
  readonly neverSampled: boolean;
  /** Header names the configured propagators read (`traceparent`, `tracestate`, `baggage`, `b3`, ...). */
  readonly propagationFields: readonly string[];
  /** The fields are the default propagators' (W3C trace context and baggage) and no others. */
  readonly w3cFields: boolean;
}

const pick = (old: boolean, stable: boolean, o: string, s: string): readonly string[] =>
  Object.freeze(old && stable ? [o, s] : old ? [o] : [s]);

function keys(c: AgentConfig['semconv']['http'], side: 'server' | 'client'): Keys {
  const k = (o: string, s: string) => pick(c.old, c.stable, o, s);
  const server = side === 'server';
  return {
    method: k('http.method', 'http.request.method'),
    status: k('http.status_code', 'http.response.status_code'),
    host: k(server ? 'net.host.name' : 'net.peer.name', 'server.address'),
    port: k(server ? 'net.host.port' : 'net.peer.port', 'server.port'),
    peerAddr: k('net.sock.peer.addr', 'network.peer.address'),
    peerPort: k('net.sock.peer.port', 'network.peer.port'),
    flavor: k('http.flavor', 'network.protocol.version'),
    userAgent: k('http.user_agent', 'user_agent.original'),
    scheme: k('http.scheme', 'url.scheme'),
    url: k('http.url', 'url.full'),
  };
}

function captures(names: readonly string[], kind: 'request' | 'response', c: AgentConfig): HeaderCapture[] {
  const { old, stable } = c.semconv.http;
  return names.map((header) => {
    // Old conventions normalize "-" to "_" in the attribute name; stable ones keep the header name.
    const o = `http.${kind}.header.${header.replace(/-/g, '_')}`;
    const s = `http.${kind}.header.${header}`;
    const list = old && stable && o !== s ? [o, s] : old ? [o] : [s];
    return { header, keys: list, redact: c.http.captureHeaders.sanitize.some((re) => re.test(header)) };
  });
}

let cached: HttpSpans | undefined;

/** The HTTP span settings of the running agent, computed on first use. */
export function httpSpans(): HttpSpans {
  if (cached !== undefined) return cached;
  const { config, exportUrl } = agent();
  const h = config.http.captureHeaders;
  const mode = config.semconv.http;
  const fields = propagation.fields().map((f) => f.toLowerCase());
  cached = {
    old: mode.old,
    stable: mode.stable,
    server: keys(mode, 'server'),
    client: keys(mode, 'client'),
    capture: {
      serverRequest: captures(h.serverRequest, 'request', config),
      serverResponse: captures(h.serverResponse, 'response', config),
      clientRequest: captures(h.clientRequest, 'request', config),
      clientResponse: captures(h.clientResponse, 'response', config),
    },
    excludedUrls: config.http.excludedUrls,
    exportHost: exportUrl ? `${exportUrl.hostname}:${exportUrl.port || (exportUrl.protocol === 'https:' ? 443 : 80)}` : undefined,
    exportPath: exportUrl?.pathname ?? '',
    sampler: config.sampler,
    neverSampled: config.sampler.name === 'always_off' || (config.sampler.name === 'traceidratio' && config.sampler.ratio === 0),
    propagationFields: fields,
    w3cFields: fields.length === 3 && ['traceparent', 'tracestate', 'baggage'].every((f) => fields.includes(f)),
  };
  return cached;
}

/** Writes `value` under each of `names`. */
export function put(attributes: Attributes, names: readonly string[], value: AttributeValue | undefined): void {
  if (value === undefined || value === '') return;
  for (let i = 0; i < names.length; i++) attributes[names[i]!] = value;
}

/** Same on a started span. */
export function putOn(span: Span, names: readonly string[], value: AttributeValue | undefined): void {
  if (value === undefined || value === '') return;
  for (let i = 0; i < names.length; i++) span.setAttribute(names[i]!, value);
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** The method as the semantic conventions name it: a known method, else `_OTHER` (methods are case-sensitive). */
export function normalizeMethod(method: string): string {
  // Most requests are GETs: a comparison with the parser's own string, not a hash lookup.
  if (method === 'GET') return method;
  return KNOWN_METHODS.has(method) ? method : '_OTHER';
}

/** Writes the method attributes (plus the original method in stable mode when it is `_OTHER`). */
export function putMethod(h: HttpSpans, attributes: Attributes, k: Keys, method: string, normalized: string): void {
  put(attributes, k.method, normalized);
  if (h.stable && normalized !== method) attributes['http.request.method_original'] = method;
}

const SIGNED_QUERY = /(?:^|[?&])(?:AWSAccessKeyId|Signature|sig|X-Goog-Signature|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=/;
const SIGNED_PARAM = /([?&](?:AWSAccessKeyId|Signature|sig|X-Goog-Signature|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=)[^&#]*/g;

/** A path or URL with the values of signing query parameters replaced by `REDACTED`. */
export function redactQuery(pathOrUrl: string): string {
  const q = pathOrUrl.indexOf('?');
  if (q === -1 || !SIGNED_QUERY.test(pathOrUrl.slice(q))) return pathOrUrl;
  return pathOrUrl.slice(0, q) + pathOrUrl.slice(q).replace(SIGNED_PARAM, '$1REDACTED');
}

/** What a client instrumentation knows about an outgoing request before it is sent. */
export interface ClientFacts {
  method: string;
  /** `http:` or `https:`. */
  protocol: string;
  hostname: string;
  port: number;
  /** Path and query. */
  path: string;
  /** Whether the URL carried credentials (never their values). */
  auth: boolean;
}

/** The client URL, credentials replaced by `REDACTED:REDACTED`, signatures redacted. */
export function clientUrl(f: ClientFacts): string {
  const host = f.hostname.includes(':') && !f.hostname.startsWith('[') ? `[${f.hostname}]` : f.hostname;
  const defaultPort = f.protocol === 'https:' ? 443 : 80;
  const port = f.port === defaultPort ? '' : `:${f.port}`;
  return `${f.protocol}//${f.auth ? 'REDACTED:REDACTED@' : ''}${host}${port}${redactQuery(f.path)}`;
}

/** True for a request to the agent's own OTLP endpoint. */
export function isExportRequest(h: HttpSpans, f: ClientFacts): boolean {
  return h.exportHost !== undefined && `${f.hostname}:${f.port}` === h.exportHost && f.path.startsWith(h.exportPath);
}

/** The attributes of a CLIENT span at start. */
export function clientAttributes(h: HttpSpans, f: ClientFacts, normalized: string): Attributes {
  const a: Attributes = {};
  const k = h.client;
  putMethod(h, a, k, f.method, normalized);
  put(a, k.url, clientUrl(f));
  put(a, k.host, f.hostname);
  put(a, k.port, f.port);
  return a;
}

const INVALID_TRACE_ID = '00000000000000000000000000000000';

/** The span context in `ctx` when it is valid (ids from our propagators and SDK are well-formed hex). */
export function validSpanContext(ctx: Context): SpanContext | undefined {
  const sc = trace.getSpanContext(ctx);
  return sc !== undefined && sc.traceId !== INVALID_TRACE_ID && sc.spanId !== '0000000000000000' ? sc : undefined;
}

/**
 * True when the configured sampler is certain to drop a span started in
 * `parent`, so that no span and no attributes are made for it. Mirrors
 * `createSampler` in sdk.ts; undecidable cases (a ratio for a new trace)
 * answer false.
 */
export function samplerDrops(h: HttpSpans, parent: Context): boolean {
  const { name, ratio } = h.sampler;
  if (h.neverSampled) return true;
  if (name === 'always_on' || name === 'traceidratio') return false;
  const sc = parent === ROOT_CONTEXT ? undefined : validSpanContext(parent);
  if (sc !== undefined) return (sc.traceFlags & TraceFlags.SAMPLED) === 0;
  if (name === 'parentbased_always_off') return true;
  return name === 'parentbased_traceidratio' && ratio === 0;
}

let statusCodes: Record<number, string | undefined> | undefined;

/** `404 Not Found`: the status message of a span ended by an HTTP error status. */
export function statusMessage(code: number): string {
  // Loaded on the error path only: fetch-only apps never need node:http otherwise.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  statusCodes ??= (require('node:http') as typeof import('node:http')).STATUS_CODES;
  const reason = statusCodes[code];
  return reason ? `${code} ${reason}` : `HTTP status ${code}`;
}

/**
 * Sets the response status: the status-code attributes, and status ERROR
 * (with `error.type` = the code in stable mode) from `errorFrom` (500 for
 * servers, 400 for clients) and for codes outside 100–599. `message`
 * overrides the default status message.
 */
export function putStatus(h: HttpSpans, span: Span, k: Keys, code: number, errorFrom: number, message?: string): void {
  putOn(span, k.status, code);
  putErrorStatus(h, span, code, errorFrom, message);
}

/**
 * A client's response: the protocol version (`version`, skipped when empty) and
 * {@link putStatus} with errors from 400. On our own spans each attribute is stored at
 * a site with a constant key (see `AgentSpan.openAttributes`), not through
 * `setAttribute`'s megamorphic store.
 */
export function putClientResponse(h: HttpSpans, span: Span, version: string | undefined, code: number): void {
  const own = span instanceof AgentSpan ? span : undefined;
  const hasVersion = version !== undefined && version !== '';
  const attrs = own?.openAttributes(h.client.status.length * (hasVersion ? 2 : 1));
  if (attrs === undefined) {
    putOn(span, h.client.flavor, version);
    putStatus(h, span, h.client, code, 400);
    return;
  }
  // A value is never undefined once set: an undefined read is a new key. The stores are written
  // out here and again in the server's putResponse, not shared: a store site sees the attribute
  // layouts of its callers only, and one site for both sides would see enough to go megamorphic.
  let added = 0;
  if (hasVersion) {
    if (h.old) {
      if (attrs['http.flavor'] === undefined) added++;
      attrs['http.flavor'] = version;
    }
    if (h.stable) {
      if (attrs['network.protocol.version'] === undefined) added++;
      attrs['network.protocol.version'] = version;
    }
  }
  if (h.old) {
    if (attrs['http.status_code'] === undefined) added++;
    attrs['http.status_code'] = code;
  }
  if (h.stable) {
    if (attrs['http.response.status_code'] === undefined) added++;
    attrs['http.response.status_code'] = code;
  }
  own!.countAdded(added);
  putErrorStatus(h, span, code, 400);
}

/** The part of {@link putStatus} after the status-code attributes: status ERROR and `error.type`, when the code says so. */
export function putErrorStatus(h: HttpSpans, span: Span, code: number, errorFrom: number, message?: string): void {
  if (code >= errorFrom || code < 100 || code > 599) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? statusMessage(code) });
    if (h.stable) span.setAttribute('error.type', String(code));
  }
}

/**
 * `error.type` for a failure before any response: the error's code when it
 * has one (`ECONNREFUSED`, `ENOTFOUND`, `UND_ERR_SOCKET`), else its name or class.
 */
export function transportErrorType(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown } | null;
  if (typeof e?.code === 'string' && e.code !== '') return e.code;
  if (typeof e?.name === 'string' && e.name !== '' && e.name !== 'Error') return e.name;
  return errorType(err);
}

/** A header value as captured: a string array, or `[REDACTED]` values for masked headers. */
function capturedValue(c: HeaderCapture, v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v.map(String) : [String(v)];
  return c.redact ? list.map(() => '[REDACTED]') : list;
}

/** Captures `list` into `attributes`, reading each header with `get` (lower-case name). */
export function captureHeaders(
  attributes: Attributes,
  list: readonly HeaderCapture[],
  get: (name: string) => unknown,
): void {
  for (const c of list) {
    const v = capturedValue(c, get(c.header));
    if (v !== undefined) for (const key of c.keys) attributes[key] = v;
  }
}

/** Captures `list` onto a started span. */
export function captureHeadersOn(span: Span, list: readonly HeaderCapture[], get: (name: string) => unknown): void {
  if (list.length === 0) return;
  const a: Attributes = {};
  captureHeaders(a, list, get);
  span.setAttributes(a);
}

/** Header value from a raw `[name, value, name, value]` list (undici and `rawHeaders`), case-insensitive. */
export function rawHeader(raw: ReadonlyArray<unknown>, name: string): string[] | undefined {
  let out: string[] | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i];
    // Names of another length cannot match: no lower-case copy of each.
    if (typeof k === 'string' ? k.length === name.length && k.toLowerCase() === name : String(k).toLowerCase() === name) {
      (out ??= []).push(String(raw[i + 1]));
    }
  }
  return out;
}

/** `c` is `lower`, or its upper-case letter. */
function sameLower(c: number, lower: number): boolean {
  return c === lower || (lower >= 97 && lower <= 122 && c === lower - 32);
}

/**
 * Where header `name` (lower case, a token) starts in a raw header block (at
 * its `\r\n`), or -1: a line matches when a `:` follows at `name.length` and
 * the characters before it equal `name` case-insensitively (most lines fail the
 * `:` test, one character read).
 * Frameworks such as fastify pass their headers to `writeHead`, so `getHeader`
 * does not see them; lower-casing the whole block per response, and later a
 * case-insensitive regexp per name, each showed in profiles (~2% of a fastify
 * server's time for the regexp).
 */
function headerAt(raw: string, name: string): number {
  const n = name.length;
  let at = raw.indexOf('\r\n');
  while (at !== -1) {
    const s = at + 2;
    if (s + n < raw.length && raw.charCodeAt(s + n) === 58 /* : */) {
      let i = 0;
      while (i < n && sameLower(raw.charCodeAt(s + i), name.charCodeAt(i))) i++;
      if (i === n) return at;
    }
    at = raw.indexOf('\r\n', s);
  }
  return -1;
}

/**
 * A response's `Content-Length` as sent, when it is a non-negative integer. `head` is
 * what `writeHead` was seen to get: 2 headers, whose length is `given`; 1 none; 0 not
 * seen, and then the header block is read as by {@link outgoingHeader}. Without
 * `getHeader`'s value or headers given to `writeHead`, the only length that can have been
 * sent is the one Node computed (`res.end(body)`), and its line ends the header block
 * `_storeHeader` wrote: only that tail is read. `getHeader`, when given, is the prototype's
 * method, called on `res` (see `getResponseHeader` in http-server.ts).
 */
export function responseContentLength(
  res: { getHeader(name: string): unknown; _header?: unknown; _contentLength?: unknown },
  head: 0 | 1 | 2,
  given: unknown,
  getHeader?: (this: unknown, name: string) => unknown,
): number | undefined {
  const set = getHeader !== undefined ? getHeader.call(res, 'content-length') : res.getHeader('content-length');
  const raw = res._header;
  let n: number;
  if (set !== undefined || typeof raw !== 'string') {
    n = Number(set);
  } else if (head === 2) {
    n = Number(given);
  } else if (head === 1) {
    const computed = res._contentLength;
    return typeof computed === 'number' && endsWithLength(raw, computed) ? computed : undefined;
  } else {
    const at = headerAt(raw, 'content-length');
    if (at === -1) return undefined;
    n = digitsAt(raw, at + 17); // after "\r\ncontent-length:"
    if (Number.isNaN(n)) n = Number(valueAt(raw, at, 14));
  }
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** `raw` ends with `\r\nContent-Length: <n>\r\n\r\n`, as Node writes it. */
function endsWithLength(raw: string, n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && raw.endsWith(`\r\nContent-Length: ${n}\r\n\r\n`);
}

/** The value from `from` to the end of its line when it is digits between spaces or tabs, else NaN (read as `Number` then). */
function digitsAt(raw: string, from: number): number {
  let i = from;
  let c = raw.charCodeAt(i);
  while (c === 32 || c === 9) c = raw.charCodeAt(++i);
  const first = i;
  let v = 0;
  while (c >= 48 && c <= 57) {
    v = v * 10 + (c - 48);
    c = raw.charCodeAt(++i);
  }
  if (i === first) return NaN;
  while (c === 32 || c === 9) c = raw.charCodeAt(++i);
  return c === 13 ? v : NaN;
}

/**
 * A header of an outgoing message (server response, client request) as sent:
 * `getHeader` first; the header block Node wrote otherwise, since headers given
 * to `writeHead(code, headers)` alone or as an array never reach `getHeader`.
 */
export function outgoingHeader(msg: { getHeader(name: string): unknown; _header?: unknown }, name: string): unknown {
  const v = msg.getHeader(name);
  const raw = msg._header;
  if (v !== undefined || typeof raw !== 'string') return v;
  const at = headerAt(raw, name);
  return at === -1 ? undefined : valueAt(raw, at, name.length);
}

/** The value of the header line at `at` (its `\r\n`) whose name is `n` characters long. */
function valueAt(raw: string, at: number, n: number): string {
  const end = raw.indexOf('\r\n', at + 2);
  return raw.slice(at + n + 3, end === -1 ? undefined : end).trim();
}
