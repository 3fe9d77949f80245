/**
 * PostgreSQL through `pg` 8 and its pool, `pg-pool` 3: one CLIENT span per
 * query, in every calling style, as a child of the context of the call.
 *
 * Where it hooks, and why there:
 * - `pg/lib/query.js`: the Query class pg builds for every text/config call.
 *   Its export becomes a Proxy whose construct trap hands the span state
 *   (parked by the `Client#query` wrapper for the length of the synchronous
 *   call) to the new query; `handleReadyForQuery`/`handleError` on its
 *   prototype end the span and run the completion (callback, promise
 *   settlement, `end` event) in the caller's context. One place covers
 *   callbacks and promises, queued queries and queries failed before being
 *   sent, and leaves pg's promise alone: a `.then` on it would mark it
 *   handled and swallow the app's unhandled rejection.
 * - `Client#query`: the span starts at the call. A Submittable (`new Query`,
 *   pg-cursor, pg-query-stream) has `handleReadyForQuery`/`handleError`
 *   wrapped on the instance, so the span ends when it ends or fails.
 * - `pg-pool` (`pg.Pool` extends it; patching the package also covers apps
 *   using `pg-pool` directly): `Pool#connect` binds its callback to the
 *   caller's context, since a client is handed out later from another
 *   request's release; `Pool#query` makes the query span start at its call
 *   (pool wait included) and gives a failed connection its error span.
 * - `Client#_connect`: names the client whose connection failed, for that span.
 * - pg-native (`pg.native`, NODE_PG_FORCE_NATIVE) is not instrumented; a debug line says so.
 * sqlcommenter (OTEL_NODE_DB_SQLCOMMENTER) rewrites text and plain-object configs only: a named
 * prepared statement must keep its text, and a Submittable's SQL belongs to its own object.
 */
import { context, SpanKind, type Context, type Span } from '@opentelemetry/api';
import { activeContext, runIn } from '../context';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { InstrumentationDefinition } from '../agent';
import { agent, reportInternalError } from '../agent';
import { DbSpanRules, type DbConnection } from '../db-spans';
import { log } from '../logger';
import { wrap } from '../shimmer';
import type { AgentTracer } from '../tracer';
import { performance as clock } from 'node:perf_hooks';

/** Tested: 8.0.3 (oldest 8.0 patch that runs on current Node) and 8.23.1. */
const PG_VERSIONS = '>=8.0.3 <9';
/** Tested: 3.1.1 (what pg 8.0.3 requires) and 3.14.0. */
const POOL_VERSIONS = '>=3.1.1 <4';

type Fn = (this: any, ...args: any[]) => any;
const kState = Symbol('otel-agent.pg.query');

/** The span of one query and the context its completion runs in. */
class QueryState {
  constructor(
    public span: Span | undefined,
    readonly parent: Context,
  ) {}
}

interface ConnParams {
  host?: unknown;
  port?: unknown;
  database?: unknown;
  user?: unknown;
}
interface PgClient extends ConnParams {
  connectionParameters?: ConnParams;
}
interface PgQuery {
  text?: unknown;
  cursor?: { text?: unknown };
  name?: unknown;
  submit?: unknown;
  _canceledDueToError?: unknown;
  handleReadyForQuery?: Fn;
  handleError?: Fn;
  [kState]?: QueryState;
}
interface PgPool {
  options?: ConnParams;
}
interface ConnInfo {
  readonly attributes: ReturnType<DbSpanRules['connectionAttributes']>;
  readonly database: string | undefined;
}
interface PoolQuery {
  readonly query: unknown;
  readonly start: number;
}

let rules: DbSpanRules;
let tracer: AgentTracer;
let sqlcommenter = false;
let ready = false;
const conns = new WeakMap<object, ConnInfo>();
let jsClient: unknown;
const queryProxies = new WeakSet<object>();

// Hand-offs within one synchronous call chain; each is cleared by its taker or when the chain returns.
/** Client#query → the Query construct trap. */
let pending: QueryState | undefined;
/** Pool#query → Pool#connect. */
let poolQuery: PoolQuery | undefined;
/** Pool#query's acquired-client callback → Client#query: the span's start. */
let poolStart: number | undefined;
/** Client#_connect's failure callback → Pool#connect's callback. */
let failedClient: PgClient | undefined;

function init(): void {
  if (ready) return;
  const { config, tracer: t } = agent();
  rules = new DbSpanRules('postgresql', config.semconv.db, config.db.statement, config.spanLimits.attributeValueLengthLimit);
  tracer = t;
  sqlcommenter = config.db.sqlcommenter;
  ready = true;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function connInfoOf(p: ConnParams): ConnInfo {
  const host = str(p.host);
  const port = typeof p.port === 'number' ? p.port : typeof p.port === 'string' ? parseInt(p.port, 10) : undefined;
  const unix = host !== undefined && host.charCodeAt(0) === 47; // pg connects to <dir>/.s.PGSQL.<port>
  const conn: DbConnection = {
    database: str(p.database),
    user: str(p.user),
    host: unix ? `${host}/.s.PGSQL.${port ?? 5432}` : host,
    port: unix ? undefined : port,
    unixSocket: unix,
  };
  // One object for equal facts: the clients of a pool share it, and with it each statement's
  // merged attributes (see `DbSpanRules#spanAttributes`, which keeps them for one connection).
  const key = `${conn.host}\0${conn.port}\0${conn.database}\0${conn.user}`; // a Unix socket's host is its path
  let info = connInfos.get(key);
  if (info === undefined) {
    if (connInfos.size >= CONN_INFOS_MAX) connInfos.clear();
    info = { attributes: rules.connectionAttributes(conn), database: conn.database };
    connInfos.set(key, info);
  }
  return info;
}

/** {@link connInfoOf}'s objects by their facts: a bounded cache, emptied when full. */
const connInfos = new Map<string, ConnInfo>();
const CONN_INFOS_MAX = 64;

/** Connection facts of a client, computed once per client. */
function connInfo(client: PgClient): ConnInfo {
  let c = conns.get(client);
  if (c === undefined) {
    const p = client.connectionParameters;
    c = connInfoOf({
      host: client.host ?? p?.host,
      port: client.port ?? p?.port,
      database: client.database ?? p?.database,
      user: client.user ?? p?.user,
    });
    conns.set(client, c);
  }
  return c;
}

/** The SQL of a config or Submittable; pg-query-stream keeps it on its cursor. */
function queryText(q: PgQuery | null): unknown {
  return q?.text ?? q?.cursor?.text;
}

/** Starts the span of `query` (text, config or Submittable) on `conn`; the state has no span when not recording. */
function startQuery(conn: (() => ConnInfo) | PgClient, query: unknown, parent: Context, startTime: number | undefined): QueryState {
  const c = typeof conn === 'function' ? conn() : connInfo(conn);
  const text = typeof query === 'string' ? query : queryText(query as PgQuery | null);
  const info = typeof text === 'string' ? rules.statement(text) : undefined;
  // Named and with its attributes from the start, so that a sampler sees them too.
  const span = tracer.startOwned(rules.spanName(info, c.database), SpanKind.CLIENT, rules.spanAttributes(c.attributes, info), parent, startTime);
  return new QueryState(span.isRecording() ? span : undefined, parent);
}

/** Ends the query's span once: OK, or ERROR with `err` when `failed`. */
function finish(state: QueryState, failed: boolean, err?: unknown): void {
  const span = state.span;
  if (span === undefined) return;
  state.span = undefined;
  try {
    if (failed) rules.recordError(span, err);
    span.end();
  } catch (e) {
    reportInternalError('pg query end', e);
  }
}

/** `text` with the span's traceparent as a sqlcommenter comment, before a final `;`. */
function withTraceparent(text: string, span: Span): string {
  const sc = span.spanContext();
  const comment = `/*traceparent='00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags & 1}'*/`;
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) <= 32) end--;
  const semi = end > 0 && text.charCodeAt(end - 1) === 59;
  const body = semi ? text.slice(0, end - 1) : text.slice(0, end);
  // A trailing `-- line comment` would swallow ours.
  const sep = body.lastIndexOf('--') > body.lastIndexOf('\n') ? '\n' : ' ';
  return body + sep + comment + (semi ? ';' : '');
}

/** The arguments with the traceparent comment added, or undefined to leave them (named statements must keep their text). */
function commented(args: IArguments, span: Span): unknown[] | undefined {
  const q = args[0] as unknown;
  let changed: unknown;
  if (typeof q === 'string') changed = withTraceparent(q, span);
  else if (Object.getPrototypeOf(q) === Object.prototype && typeof (q as PgQuery).text === 'string' && !(q as PgQuery).name) {
    changed = { ...(q as object), text: withTraceparent((q as { text: string }).text, span) };
  } else return undefined;
  const copy = Array.prototype.slice.call(args);
  copy[0] = changed;
  return copy;
}

function wrapQuery(original: Fn): Fn {
  return function query(this: PgClient, config: unknown) {
    const parent = activeContext();
    if (config == null || isTracingSuppressed(parent)) return Reflect.apply(original, this, arguments);
    const startTime = poolStart;
    poolStart = undefined;
    let state: QueryState | undefined;
    let args: ArrayLike<unknown> = arguments;
    const submittable = typeof (config as PgQuery).submit === 'function';
    try {
      state = startQuery(this, config, parent, startTime);
      if (sqlcommenter && state.span !== undefined && !submittable) args = commented(arguments, state.span) ?? arguments;
      if (submittable) watchSubmittable(config as PgQuery, state);
    } catch (err) {
      reportInternalError('pg query', err);
      if (state !== undefined) finish(state, false);
      return Reflect.apply(original, this, arguments);
    }
    if (!submittable) pending = state;
    let result: unknown;
    try {
      result = Reflect.apply(original, this, args);
    } catch (err) {
      pending = undefined;
      finish(state, true, err);
      throw err;
    }
    if (pending === state) {
      // pg built no Query: nothing would end the span.
      pending = undefined;
      finish(state, false);
    }
    return result;
  };
}

/** The Query construct trap: the query being built gets the state parked by `Client#query`. */
const QUERY_TRAP: ProxyHandler<Fn> = {
  construct(target, args, newTarget) {
    // `new Query` names the proxy as new.target; constructing with the class itself keeps V8's fast path.
    const q = Reflect.construct(target, args, queryProxies.has(newTarget) ? target : newTarget) as PgQuery;
    const state = pending;
    if (state !== undefined) {
      pending = undefined;
      Object.defineProperty(q, kState, { value: state, writable: true, configurable: true });
    }
    return q;
  },
};

// Query#handleReadyForQuery runs Query#handleError itself when a row failed to parse.
function wrapQueryReady(original: Fn): Fn {
  return function handleReadyForQuery(this: PgQuery) {
    const state = this[kState];
    if (state === undefined) return Reflect.apply(original, this, arguments);
    if (!this._canceledDueToError) finish(state, false);
    return runIn(state.parent, original, this, arguments);
  };
}

function wrapQueryError(original: Fn): Fn {
  return function handleError(this: PgQuery, err: unknown) {
    const state = this[kState];
    if (state === undefined) return Reflect.apply(original, this, arguments);
    finish(state, true, this._canceledDueToError || err);
    return runIn(state.parent, original, this, arguments);
  };
}

/** Ends the span with a Submittable, from its own completion methods, wrapped on the instance. */
function watchSubmittable(q: PgQuery, state: QueryState): void {
  const readyFn = q.handleReadyForQuery;
  const errorFn = q.handleError;
  if (typeof readyFn !== 'function' || typeof errorFn !== 'function') {
    finish(state, false); // nothing tells when it ends
    return;
  }
  own(q, 'handleReadyForQuery', function handleReadyForQuery(this: PgQuery) {
    if (!this._canceledDueToError) finish(state, false);
    return runIn(state.parent, readyFn, this, arguments);
  });
  own(q, 'handleError', function handleError(this: PgQuery, err: unknown) {
    finish(state, true, this._canceledDueToError || err);
    return runIn(state.parent, errorFn, this, arguments);
  });
}

function own(o: object, key: string, fn: Fn): void {
  const d = Object.getOwnPropertyDescriptor(o, key);
  Object.defineProperty(o, key, { value: fn, writable: true, configurable: true, enumerable: d?.enumerable ?? false });
}

function wrapConnect(original: Fn): Fn {
  return function _connect(this: PgClient, callback: unknown) {
    if (typeof callback !== 'function') return Reflect.apply(original, this, arguments);
    const client = this;
    return original.call(this, function connected(this: unknown, err: unknown) {
      if (!err) return Reflect.apply(callback, this, arguments);
      const previous = failedClient;
      failedClient = client;
      try {
        return Reflect.apply(callback, this, arguments);
      } finally {
        failedClient = previous;
      }
    });
  };
}

function wrapPoolQuery(original: Fn): Fn {
  return function query(this: PgPool, text: unknown) {
    if (typeof text === 'function' || isTracingSuppressed(activeContext())) return Reflect.apply(original, this, arguments);
    poolQuery = { query: text, start: clock.now() };
    try {
      return Reflect.apply(original, this, arguments);
    } finally {
      poolQuery = undefined;
    }
  };
}

function wrapPoolConnect(original: Fn): Fn {
  return function connect(this: PgPool, cb: unknown) {
    const pq = poolQuery;
    poolQuery = undefined;
    if (typeof cb !== 'function') return Reflect.apply(original, this, arguments); // awaiting callers keep their context
    const ctx = activeContext();
    if (isTracingSuppressed(ctx)) return Reflect.apply(original, this, arguments);
    let bound: Fn = cb as Fn;
    try {
      bound = pq === undefined ? context.bind(ctx, cb as Fn) : acquired(this, pq, ctx, cb as Fn);
    } catch (err) {
      reportInternalError('pg pool connect', err);
    }
    return original.call(this, bound);
  };
}

/** Pool#query's callback for the acquired client: its query span starts at Pool#query; a failed connection gets an error span. */
function acquired(pool: PgPool, pq: PoolQuery, ctx: Context, cb: Fn): Fn {
  return function (this: unknown, err: unknown) {
    if (err) {
      try {
        const client = failedClient;
        const state = startQuery(client ?? (() => connInfoOf(pool.options ?? {})), pq.query, ctx, pq.start);
        finish(state, true, err);
      } catch (e) {
        reportInternalError('pg pool connect', e);
      }
      return runIn(ctx, cb, this, arguments);
    }
    poolStart = pq.start;
    try {
      return runIn(ctx, cb, this, arguments);
    } finally {
      poolStart = undefined;
    }
  };
}

/** `pg.native` stays uninstrumented; say so when an app uses it. */
function noteNative(pg: object): void {
  const d = Object.getOwnPropertyDescriptor(pg, 'native');
  const get = d?.get;
  if (get === undefined || !d!.configurable) return;
  Object.defineProperty(pg, 'native', {
    configurable: true,
    enumerable: d!.enumerable,
    get() {
      const native = get.call(this);
      if (native) log.once('debug', 'pg-native', 'pg: pg.native (pg-native) is not instrumented; its queries produce no spans');
      return native;
    },
  });
}

function shapeError(what: string): Error {
  return new Error(`unexpected shape of ${what}`);
}

const pg: InstrumentationDefinition = {
  name: 'pg',
  targets: [
    {
      module: 'pg',
      file: 'lib/query.js',
      versions: PG_VERSIONS,
      patch(Query: Fn & { prototype?: Record<string, unknown> }) {
        const proto = Query?.prototype;
        if (typeof Query !== 'function' || typeof proto?.handleReadyForQuery !== 'function' || typeof proto.handleError !== 'function') {
          throw shapeError('pg/lib/query.js');
        }
        init();
        wrap(proto, 'handleReadyForQuery', wrapQueryReady);
        wrap(proto, 'handleError', wrapQueryError);
        const proxy = new Proxy(Query, QUERY_TRAP);
        queryProxies.add(proxy);
        return proxy;
      },
    },
    {
      module: 'pg',
      file: 'lib/client.js',
      versions: PG_VERSIONS,
      patch(Client: Fn & { prototype?: Record<string, unknown>; Query?: unknown }) {
        const proto = Client?.prototype;
        if (typeof Client !== 'function' || typeof proto?.query !== 'function') throw shapeError('pg/lib/client.js');
        // Without the Query trap no span could end.
        if (!queryProxies.has(Client.Query as object)) throw new Error('pg/lib/query.js is not instrumented');
        init();
        wrap(proto, 'query', wrapQuery);
        if (typeof proto._connect === 'function') wrap(proto, '_connect', wrapConnect);
        jsClient = Client;
      },
    },
    {
      module: 'pg',
      versions: PG_VERSIONS,
      patch(exports: { Client?: unknown }) {
        if (typeof exports?.Client !== 'function') throw shapeError('pg');
        if (exports.Client !== jsClient) log.debug('pg: the pg-native client (NODE_PG_FORCE_NATIVE) is not instrumented; its queries produce no spans');
        noteNative(exports);
      },
    },
    {
      module: 'pg-pool',
      versions: POOL_VERSIONS,
      patch(Pool: Fn & { prototype?: Record<string, unknown> }) {
        const proto = Pool?.prototype;
        if (typeof Pool !== 'function' || typeof proto?.connect !== 'function' || typeof proto.query !== 'function') {
          throw shapeError('pg-pool');
        }
        init();
        wrap(proto, 'connect', wrapPoolConnect);
        wrap(proto, 'query', wrapPoolQuery);
      },
    },
  ],
};

export default pg;
