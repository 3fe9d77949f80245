/**
 * What span a database call gets, shared by the database instrumentations:
 * attribute keys per semantic-convention mode, the SQL scanner (literal
 * sanitizer plus operation/table extraction in one pass), span names and
 * error mapping. Instrumentations collect the raw facts (SQL text,
 * connection parameters, the error) and hand them to {@link DbSpanRules}.
 */
import type { Attributes, Span } from '@opentelemetry/api';
import type { SemconvMode } from './config';
import { recordException, setError, errorType } from './spans';

/** How statements are recorded (`OTEL_NODE_DB_STATEMENT`). */
export type StatementMode = 'sanitized' | 'raw' | 'off';

/** The connection a call went to, as the instrumentation knows it. */
export interface DbConnection {
  readonly database?: string;
  readonly user?: string;
  /** Host name or address; for a Unix socket, the socket's path. */
  readonly host?: string;
  /** TCP port; absent for a Unix socket. */
  readonly port?: number;
  readonly unixSocket?: boolean;
}

/** What the scanner learnt from one statement, cached per text. */
export interface StatementInfo {
  /** `SELECT`, `INSERT`, ... (upper case), when the statement starts with a keyword. */
  readonly operation: string | undefined;
  /** The first table the statement reads or writes, as written (`public.users`), when cheap to know. */
  readonly table: string | undefined;
  /** The statement as recorded (sanitized, raw or absent), cut to the attribute length limit. */
  readonly statement: string | undefined;
  /** `<operation> <table>` when both are known. */
  readonly name: string | undefined;
  /** db.statement / db.operation / db.sql.table (or their stable names), ready to set. */
  readonly attributes: Attributes;
  /** CLOCK bit for the statement cache. */
  hit: boolean;
  /** The connection {@link spanAttributes} last made `merged` for, and that template. */
  conn?: Attributes;
  merged?: Attributes;
}

const OLD = { system: 'db.system', statement: 'db.statement', operation: 'db.operation', database: 'db.name', table: 'db.sql.table', host: 'net.peer.name', port: 'net.peer.port' } as const;
const STABLE = { system: 'db.system.name', statement: 'db.query.text', operation: 'db.operation.name', database: 'db.namespace', table: 'db.collection.name', host: 'server.address', port: 'server.port' } as const;
type Fact = keyof typeof OLD;
/** The SQLSTATE (or driver error code) of a failed call; set in both modes, old names have no equivalent. */
export const DB_RESPONSE_STATUS_CODE = 'db.response.status_code';
const SQLSTATE = /^[0-9A-Z]{5}$/;

/** Statements kept in the scan cache, and the longest text worth caching. */
const CACHE_SIZE = 128;
const CACHE_MAX_TEXT = 8192;

/**
 * The span rules for one database system under one configuration. Build
 * it once per instrumentation; every method is safe on the hot path.
 */
export class DbSpanRules {
  private readonly keys: { readonly [F in Fact]: readonly string[] };
  private readonly cache = new Map<string, StatementInfo>();

  constructor(
    /** `db.system` value, e.g. `postgresql`. */
    readonly system: string,
    private readonly mode: SemconvMode,
    private readonly statementMode: StatementMode,
    private readonly maxLength: number,
  ) {
    const keys = {} as { [F in Fact]: string[] };
    for (const f of Object.keys(OLD) as Fact[]) {
      keys[f] = [...(mode.old ? [OLD[f]] : []), ...(mode.stable ? [STABLE[f]] : [])];
    }
    this.keys = keys;
  }

  /** Attributes that depend only on the connection: compute once per connection. */
  connectionAttributes(c: DbConnection): Attributes {
    const a: Attributes = {};
    set(a, this.keys.system, this.system);
    if (c.database) set(a, this.keys.database, c.database);
    if (this.mode.old && c.user) a['db.user'] = c.user;
    if (c.host) set(a, this.keys.host, c.host);
    if (c.unixSocket) {
      if (this.mode.old) {
        a['net.sock.family'] = 'unix';
        if (c.host) a['net.sock.peer.addr'] = c.host;
      }
    } else if (c.port !== undefined && Number.isFinite(c.port)) {
      set(a, this.keys.port, c.port);
    }
    return a;
  }

  /** Scans `text` once (cached per text) and returns what the span needs from it. */
  statement(text: string): StatementInfo {
    const cache = this.cache;
    let info = cache.get(text);
    if (info !== undefined) {
      info.hit = true;
      return info;
    }
    const s = scanSql(text, this.statementMode === 'sanitized', this.maxLength);
    let statement: string | undefined;
    if (this.statementMode === 'sanitized') statement = s.text;
    else if (this.statementMode === 'raw') statement = text.length > this.maxLength ? text.slice(0, this.maxLength) : text;
    const attributes: Attributes = {};
    if (statement) set(attributes, this.keys.statement, statement);
    if (s.operation) set(attributes, this.keys.operation, s.operation);
    if (s.table) set(attributes, this.keys.table, s.table);
    const name = s.operation && s.table ? `${s.operation} ${s.table}` : undefined;
    info = { operation: s.operation, table: s.table, statement, name, attributes, hit: false, conn: undefined, merged: undefined };
    if (text.length <= CACHE_MAX_TEXT) {
      if (cache.size >= CACHE_SIZE) evictOne(cache);
      cache.set(text, info);
    }
    return info;
  }

  /**
   * A new object with the connection's attributes, then the statement's: what a query's span
   * starts with. The two are merged once per statement and connection (the template kept on the
   * statement's cache entry, for the connection it last ran on), then each span gets a copy by
   * spread, which V8 clones in one step from the template's layout. Setting both objects on a
   * started span went through `setAttribute`, a megamorphic store and an own-property check
   * per key: ~3k instructions a query.
   */
  spanAttributes(conn: Attributes, info: StatementInfo | undefined): Attributes {
    if (info === undefined) return { ...conn };
    let merged = info.merged;
    if (info.conn !== conn || merged === undefined) {
      merged = {};
      for (const k in conn) merged[k] = conn[k];
      for (const k in info.attributes) merged[k] = info.attributes[k];
      info.conn = conn;
      info.merged = merged;
    }
    return { ...merged };
  }

  /** `<operation> <table>`, else `<operation> <database>`, else the system name. */
  spanName(info: StatementInfo | undefined, database: string | undefined): string {
    if (info === undefined) return this.system;
    if (info.name !== undefined) return info.name;
    return info.operation && database ? `${info.operation} ${database}` : this.system;
  }

  /**
   * Marks `span` failed by `err`: `exception` event, status ERROR with the
   * message, the SQLSTATE (or driver code) and, in stable mode, `error.type`.
   */
  recordError(span: Span, err: unknown): void {
    recordException(span, err);
    setError(span, err);
    const code = (err as { code?: unknown } | null)?.code;
    const sqlstate = typeof code === 'string' && SQLSTATE.test(code) ? code : undefined;
    if (sqlstate) span.setAttribute(DB_RESPONSE_STATUS_CODE, sqlstate);
    if (this.mode.stable) span.setAttribute('error.type', sqlstate ?? (typeof code === 'string' && code ? code : errorType(err)));
  }
}

function set(a: Attributes, keys: readonly string[], value: string | number): void {
  for (let i = 0; i < keys.length; i++) a[keys[i]!] = value;
}

/** CLOCK eviction: the oldest entry not hit since it was last passed goes. */
function evictOne(cache: Map<string, StatementInfo>): void {
  for (let n = cache.size; n > 0; n--) {
    const first = cache.entries().next().value as [string, StatementInfo];
    cache.delete(first[0]);
    if (!first[1].hit) return;
    first[1].hit = false;
    cache.set(first[0], first[1]);
  }
  cache.delete(cache.keys().next().value as string);
}

/** Result of {@link scanSql}. */
export interface SqlScan {
  /** The sanitized statement (cut to the limit); undefined when not asked to sanitize. */
  readonly text: string | undefined;
  readonly operation: string | undefined;
  readonly table: string | undefined;
}

/** Replaces SQL literals by `?`; `$1` placeholders, identifiers, keywords and comments stay. */
export function sanitizeSql(sql: string, maxLength = Infinity): string {
  return scanSql(sql, true, maxLength).text!;
}

// Phases of the operation/table extraction.
const WANT_OP = 0;
const WANT_WITH_OP = 1;
const WANT_KEYWORD = 2;
const WANT_TABLE = 3;
const DONE = 4;
const TABLE_KEYWORD: Readonly<Record<string, string>> = { SELECT: 'FROM', DELETE: 'FROM', INSERT: 'INTO', CREATE: 'TABLE', DROP: 'TABLE', ALTER: 'TABLE' };
const TABLE_NEXT: ReadonlySet<string> = new Set(['UPDATE', 'TRUNCATE', 'COPY']);
const SKIP_BEFORE_TABLE: ReadonlySet<string> = new Set(['ONLY', 'TABLE', 'IF', 'NOT', 'EXISTS']);
/** Reserved words that end the search where a table name was expected (invalid SQL, or a clause). */
const NOT_A_TABLE: ReadonlySet<string> = new Set(['WHERE', 'SELECT', 'VALUES', 'SET', 'GROUP', 'ORDER', 'LIMIT', 'OFFSET', 'UNION', 'HAVING', 'WINDOW', 'LATERAL', 'ON', 'USING', 'JOIN', 'DEFAULT', 'RETURNING']);
const WITH_OPS: ReadonlySet<string> = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE']);

/**
 * One pass over PostgreSQL `sql`: when `sanitize`, builds the statement with
 * every literal (quoted, E'', B'', X'', U&'' and dollar-quoted strings,
 * numbers including 0x/0o/0b) replaced by `?`, stopping once `maxLength`
 * characters are produced; and reads the operation and first table.
 */
export function scanSql(sql: string, sanitize: boolean, maxLength: number): SqlScan {
  const n = sql.length;
  let out = '';
  let last = 0; // sql[last..] is not yet in `out`
  let full = !sanitize;
  let phase = WANT_OP;
  let operation: string | undefined;
  let table: string | undefined;
  let want = ''; // keyword that precedes the table
  let wordsLeft = 0; // CREATE/DROP/ALTER: words in which TABLE must appear
  let callCheck = false; // FROM f(...) is a function, not a table
  let depth = 0;
  let opDepth = 0;
  let i = 0;
  while (i < n) {
    if (!full && out.length + (i - last) >= maxLength) full = true;
    if (full && phase === DONE) break;
    const c = sql.charCodeAt(i);
    if (c <= 32) {
      i++;
      continue;
    }
    const next = i + 1 < n ? sql.charCodeAt(i + 1) : 0;
    let literalEnd = -1;
    if (c === 45 && next === 45) {
      const nl = sql.indexOf('\n', i + 2);
      i = nl === -1 ? n : nl + 1;
      continue;
    } else if (c === 47 && next === 42) {
      i = blockCommentEnd(sql, i + 2);
      continue;
    } else if (c === 39) {
      literalEnd = stringEnd(sql, i + 1, false);
    } else if (c === 36 && isDigit(next)) {
      i += 2;
      while (i < n && isDigit(sql.charCodeAt(i))) i++;
      if (phase === WANT_TABLE || phase === WANT_OP) phase = DONE;
      continue;
    } else if (c === 36) {
      literalEnd = dollarQuoteEnd(sql, i);
    } else if (isDigit(c) || (c === 46 && isDigit(next))) {
      literalEnd = numberEnd(sql, i);
    }
    if (literalEnd === -1 && (c === 34 || isIdentStart(c))) {
      let end: number;
      if (c === 34) {
        end = quotedEnd(sql, i + 1);
      } else {
        end = i + 1;
        while (end < n && isIdentPart(sql.charCodeAt(end))) end++;
        const after = end < n ? sql.charCodeAt(end) : 0;
        if (end === i + 1 && after === 39 && isStringPrefix(c)) {
          literalEnd = stringEnd(sql, end + 1, c === 69 || c === 101);
        } else if (end === i + 1 && (c === 85 || c === 117) && after === 38 && sql.charCodeAt(end + 1) === 39) {
          literalEnd = stringEnd(sql, end + 2, false);
        }
      }
      if (literalEnd === -1) {
        if (phase !== DONE) {
          if (phase === WANT_TABLE) {
            const word = c === 34 ? '' : sql.slice(i, end).toUpperCase();
            if (!SKIP_BEFORE_TABLE.has(word)) {
              if (!NOT_A_TABLE.has(word)) table = readTable(sql, i, callCheck);
              phase = DONE;
            }
          } else if (c !== 34) {
            // Only words that can matter are upper-cased: the select list before FROM can be long.
            const word = phase !== WANT_KEYWORD || end - i === want.length ? sql.slice(i, end).toUpperCase() : '';
            if (phase === WANT_OP) {
              operation = end - i <= 24 ? word : undefined;
              opDepth = depth;
              phase = DONE;
              if (word === 'WITH') phase = WANT_WITH_OP;
              else if (TABLE_NEXT.has(word)) phase = WANT_TABLE;
              else if (TABLE_KEYWORD[word] !== undefined) {
                want = TABLE_KEYWORD[word]!;
                phase = WANT_KEYWORD;
                callCheck = want === 'FROM';
                wordsLeft = want === 'TABLE' ? 4 : want === 'INTO' ? 1 : Infinity;
              }
            } else if (phase === WANT_WITH_OP) {
              if (depth === 0 && WITH_OPS.has(word)) {
                operation = word;
                phase = DONE;
              }
            } else if (depth === opDepth) {
              if (word === want) phase = WANT_TABLE;
              else if (--wordsLeft <= 0) phase = DONE;
            }
          } else if (phase === WANT_OP) {
            phase = DONE;
          }
        }
        i = end;
        continue;
      }
    }
    if (literalEnd !== -1) {
      if (!full) {
        out += sql.slice(last, i) + '?';
        last = literalEnd;
      }
      if (phase === WANT_TABLE || phase === WANT_OP) phase = DONE;
      i = literalEnd;
      continue;
    }
    if (c === 40) depth++;
    else if (c === 41) depth--;
    else if (c === 59 && depth <= 0 && phase !== WANT_OP) phase = DONE;
    if (phase === WANT_TABLE) phase = DONE;
    i++;
  }
  let text: string | undefined;
  if (sanitize) {
    text = out + sql.slice(last, Math.max(last, last + maxLength - out.length));
    if (text.length > maxLength) text = text.slice(0, maxLength);
  }
  return { text, operation, table };
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128;
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === 36;
}
/** E, B, X, N (either case) directly before a quote start a literal. */
function isStringPrefix(c: number): boolean {
  const u = c & ~32;
  return u === 69 || u === 66 || u === 88 || u === 78;
}

/** End (exclusive) of a '...' string starting after its quote; `''` escapes, and `\` too in E''. */
function stringEnd(sql: string, i: number, backslash: boolean): number {
  const n = sql.length;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (backslash && c === 92) i += 2;
    else if (c === 39) {
      if (sql.charCodeAt(i + 1) === 39) i += 2;
      else return i + 1;
    } else i++;
  }
  return n;
}

/** End of a "quoted identifier" starting after its quote. */
function quotedEnd(sql: string, i: number): number {
  const n = sql.length;
  while (i < n) {
    if (sql.charCodeAt(i) === 34) {
      if (sql.charCodeAt(i + 1) === 34) i += 2;
      else return i + 1;
    } else i++;
  }
  return n;
}

/** End of a (nestable) block comment whose `/*` ends before `i`. */
function blockCommentEnd(sql: string, i: number): number {
  const n = sql.length;
  let level = 1;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c === 42 && sql.charCodeAt(i + 1) === 47) {
      i += 2;
      if (--level === 0) return i;
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      i += 2;
      level++;
    } else i++;
  }
  return n;
}

/** End of `$tag$...$tag$` starting at `i`, or -1 when `i` does not open one. */
function dollarQuoteEnd(sql: string, i: number): number {
  let j = i + 1;
  if (j < sql.length && isIdentStart(sql.charCodeAt(j))) {
    j++;
    while (j < sql.length && isIdentPart(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 36) j++;
  }
  if (sql.charCodeAt(j) !== 36) return -1;
  const tag = sql.slice(i, j + 1);
  const close = sql.indexOf(tag, j + 1);
  return close === -1 ? sql.length : close + tag.length;
}

/** End of a numeric literal: 42, 1_000, 1.5, .5, 1e-3, 0x1F, 0o17, 0b101. */
function numberEnd(sql: string, i: number): number {
  const n = sql.length;
  const c1 = sql.charCodeAt(i + 1) | 32;
  if (sql.charCodeAt(i) === 48 && (c1 === 120 || c1 === 111 || c1 === 98)) {
    i += 2;
    while (i < n && (isIdentPart(sql.charCodeAt(i)) && sql.charCodeAt(i) !== 36)) i++;
    return i;
  }
  while (i < n && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === 95)) i++;
  if (sql.charCodeAt(i) === 46) {
    i++;
    while (i < n && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === 95)) i++;
  }
  if ((sql.charCodeAt(i) | 32) === 101) {
    let j = i + 1;
    if (sql.charCodeAt(j) === 43 || sql.charCodeAt(j) === 45) j++;
    if (isDigit(sql.charCodeAt(j))) {
      i = j;
      while (i < n && isDigit(sql.charCodeAt(i))) i++;
    }
  }
  return i;
}

/** A possibly qualified, possibly quoted name at `i`; undefined when it is a function call and `callCheck`. */
function readTable(sql: string, i: number, callCheck: boolean): string | undefined {
  const start = i;
  for (;;) {
    const c = sql.charCodeAt(i);
    if (c === 34) i = quotedEnd(sql, i + 1);
    else if (isIdentStart(c)) {
      i++;
      while (i < sql.length && isIdentPart(sql.charCodeAt(i))) i++;
    } else return undefined;
    if (sql.charCodeAt(i) !== 46) break;
    i++;
  }
  if (callCheck) {
    let j = i;
    while (j < sql.length && sql.charCodeAt(j) <= 32) j++;
    if (sql.charCodeAt(j) === 40) return undefined;
  }
  return sql.slice(start, i);
}
