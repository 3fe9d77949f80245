/**
 * OTLP/HTTP transport: POSTs one encoded request with the retry rules of the
 * OTLP spec (429/502/503/504 and connection errors are retried with
 * exponential backoff and jitter, `Retry-After` honoured, everything bounded
 * by the export timeout; other statuses, such as 400, are final).
 *
 * HTTP/1.1 is spoken here, on sockets of `node:net` (or `node:tls`), not through `node:http`.
 * Why: the export runs in the app's process, and V8 keeps what it learns about the objects a
 * function sees per function, not per caller. Node's http client shares code with the app's
 * server (`OutgoingMessage` for `ClientRequest` and `ServerResponse`, the parser, the socket's
 * stream), and its objects made those sites polymorphic, or megamorphic, for the app's requests
 * too; its parser, promises and reused sockets were also kinds of async resource the app's
 * AsyncLocalStorage hook had not seen. With the export switched off, the `http` hello-world app
 * ran ~10k fewer instructions a request; this transport took ~4k of them back (bench/README,
 * "Tenth session"). What an exporter needs of HTTP is small: one POST at a time on a kept-alive
 * connection, and of the answer its status, `Retry-After`, and where the body ends. Reads of a
 * plain socket go to the parser through `onread`, past the socket's stream code.
 *
 * Nothing here keeps the process alive: sockets and timers are unref'd. At
 * exit the shutdown code waits for exports under a deadline of its own, and
 * whatever is still in flight is sent synchronously by the exit flush.
 */
import type { Socket } from 'node:net';
import { reportInternalError } from './agent';

/** The outcome of one export request, retries included. */
export interface SendResult {
  readonly ok: boolean;
  /** Why it failed: `HTTP 503`, `connect ECONNREFUSED 127.0.0.1:4318`, `timeout`... */
  readonly error?: string;
}

/** Settings of the transport. */
export interface TransportOptions {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly gzip: boolean;
  readonly userAgent: string;
}

const RETRYABLE = new Set([429, 502, 503, 504]);
const MAX_ATTEMPTS = 6;
const INITIAL_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 5000;
/** Connections open at once; one more is opened only after the oldest that is still reading a body is closed. */
const MAX_CONNECTIONS = 4;
/** How long an idle connection is kept when the receiver does not say (`Keep-Alive: timeout=`). */
const IDLE_MS = 4000;
/** The longest response head or chunk-size line read before the answer counts as garbage. */
const MAX_HEAD = 64 * 1024;
const MAX_LINE = 4096;

interface Attempt {
  ok: boolean;
  retryable: boolean;
  retryAfterMs?: number;
  error?: string;
}

/** `Retry-After` as milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A header name: an HTTP token (RFC 9110). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What a header value may not hold, as Node checks it: anything but tab, visible ASCII and obs-text. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** Headers the transport writes itself; the same names among the configured ones are left out. */
const OWN = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive']);

/** A URL component percent-decoded, or as it is when it is not valid percent-encoding. */
function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * The request head up to (not including) its Content-Length line, in latin1 as Node writes
 * headers; or why the headers cannot be sent, in Node's words (without the value: it may be a key).
 */
function requestHead(url: URL, headers: Readonly<Record<string, string>>): { head: string } | { error: string } {
  // As Node's `setHeader`: names are case-insensitive, the last value given wins, in the place of the first.
  const byName = new Map<string, [string, string]>();
  for (const name of Object.keys(headers)) {
    const value = String(headers[name]);
    if (!TOKEN.test(name)) return { error: `Header name must be a valid HTTP token ["${name}"]` };
    if (BAD_VALUE.test(value)) return { error: `Invalid character in header content ["${name}"]` };
    byName.set(name.toLowerCase(), [name, value]);
  }
  let lines = '';
  for (const [lower, [name, value]] of byName) if (!OWN.has(lower)) lines += `${name}: ${value}\r\n`;
  if (!byName.has('authorization') && (url.username !== '' || url.password !== '')) {
    // As `http.request(url)` does with a URL's credentials.
    const credentials = `${decode(url.username)}:${decode(url.password)}`;
    lines += `Authorization: Basic ${Buffer.from(credentials).toString('base64')}\r\n`;
  }
  const host = byName.get('host')?.[1] ?? url.host;
  return { head: `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${host}\r\n${lines}Connection: keep-alive\r\n` };
}

/** What a connection tells the attempt it carries. */
interface Exchange {
  /** The response's head was read: its status and, when given, `Retry-After`. */
  answered(status: number, retryAfter: string | undefined): void;
  /** The response's body was read to its end. */
  finished(): void;
  /** The connection failed or closed before the response was complete; `silent` when nothing of a response had arrived. */
  failed(message: string, silent: boolean): void;
}

// Where a connection is in reading a response.
const IDLE = 0;
const HEAD = 1;
const LENGTH = 2;
const CHUNK_SIZE = 3;
const CHUNK_DATA = 4;
const CHUNK_END = 5;
const TRAILERS = 6;
const UNTIL_CLOSE = 7;

/** One kept-alive connection to the endpoint, carrying one request at a time. */
class Connection {
  readonly socket: Socket;
  /** The exchange in progress; undefined while idle, and once the connection is dead. */
  private exchange: Exchange | undefined;
  private phase = IDLE;
  /** Bytes of the response read so far (whether anything arrived), head text, line text, counters. */
  private received = 0;
  private text = '';
  private remaining = 0;
  private keepAlive = true;
  private idleMs = IDLE_MS;
  /** When this connection's current response head arrived (a draining connection may be closed for a new one). */
  answeredAt = 0;
  /** Whether it carried an exchange to its end before: a kept-alive connection may have been closed meanwhile. */
  reused = false;
  private dead = false;

  constructor(
    socket: Socket,
    emitsData: boolean,
    private readonly onIdle: (c: Connection) => void,
    private readonly onDead: (c: Connection) => void,
  ) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.unref();
    // A plain socket hands its reads to `read` (the onread option, see HttpTransport#connect); a TLS socket emits them.
    if (emitsData) socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', (err: Error) => this.fail(err.message));
    socket.on('close', () => this.fail('socket hang up'));
    socket.on('timeout', () => this.destroy());
  }

  /** Whether it carries an exchange whose answer's head has arrived (its body is still being read). */
  get draining(): boolean {
    return this.exchange !== undefined && this.phase !== HEAD;
  }

  /** Sends `bytes` (a whole request) and reads the answer into `exchange`. */
  send(bytes: Buffer, exchange: Exchange): void {
    this.exchange = exchange;
    this.phase = HEAD;
    this.received = 0;
    this.text = '';
    this.answeredAt = 0;
    this.socket.setTimeout(0);
    this.socket.write(bytes);
  }

  destroy(): void {
    this.fail('socket hang up');
  }

  /** Closes the socket and leaves the pool, once. */
  private close(): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.destroy();
    this.onDead(this);
  }

  private fail(message: string): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    this.close();
    if (exchange === undefined) return;
    // A body read until the connection closes ends here, and well.
    if (this.phase === UNTIL_CLOSE) {
      this.phase = IDLE;
      exchange.finished();
      return;
    }
    this.phase = IDLE;
    exchange.failed(message, this.received === 0);
  }

  /** The response is complete: the connection is idle again, or closed when it cannot carry another. */
  private done(rest: number): void {
    const exchange = this.exchange!;
    this.exchange = undefined;
    this.phase = IDLE;
    this.reused = true;
    exchange.finished();
    if (this.dead) return;
    // Bytes after the response belong to no request: the connection cannot be trusted with another.
    if (!this.keepAlive || rest > 0) {
      this.close();
      return;
    }
    this.socket.setTimeout(this.idleMs);
    this.onIdle(this);
  }

  /** Reads what arrived; a fault of the parser itself costs this connection and its export, never the app. */
  read(chunk: Buffer): void {
    try {
      this.parse(chunk);
    } catch (err) {
      reportInternalError('OTLP transport', err);
      this.destroy();
    }
  }

  private parse(chunk: Buffer): void {
    if (this.exchange === undefined) {
      // Nothing was asked: an answer to no request.
      this.close();
      return;
    }
    this.received += chunk.length;
    let i = 0;
    const n = chunk.length;
    while (i < n && this.exchange !== undefined) {
      switch (this.phase) {
        case HEAD: {
          // The blank line may straddle reads: search from just before this one's bytes.
          const before = this.text.length;
          const text = this.text + chunk.toString('latin1', i, n);
          const crlf = text.indexOf('\r\n\r\n', Math.max(0, before - 3));
          const lf = text.indexOf('\n\n', Math.max(0, before - 1));
          const end = crlf !== -1 && (lf === -1 || crlf < lf) ? crlf : lf;
          if (end === -1) {
            if (text.length > MAX_HEAD) return this.fail('response head too long');
            this.text = text;
            return;
          }
          this.text = '';
          i += end + (end === crlf ? 4 : 2) - before;
          if (!this.head(text.slice(0, end))) return;
          if ((this.phase as number) === LENGTH && this.remaining === 0) return this.done(n - i);
          break;
        }
        case LENGTH: {
          const take = Math.min(this.remaining, n - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) return this.done(n - i);
          break;
        }
        case UNTIL_CLOSE:
          return;
        case CHUNK_SIZE:
        case TRAILERS: {
          const nl = chunk.indexOf(10, i);
          if (nl === -1) {
            this.text += chunk.toString('latin1', i, n);
            if (this.text.length > MAX_LINE) return this.fail('invalid chunked response');
            return;
          }
          const line = (this.text + chunk.toString('latin1', i, nl)).replace(/\r$/, '');
          this.text = '';
          i = nl + 1;
          if (this.phase === TRAILERS) {
            if (line === '') return this.done(n - i);
            break;
          }
          const size = /^([0-9a-fA-F]{1,12})[\t ;]*/.exec(line);
          if (size === null) return this.fail('invalid chunked response');
          this.remaining = parseInt(size[1]!, 16);
          this.phase = this.remaining === 0 ? TRAILERS : CHUNK_DATA;
          break;
        }
        case CHUNK_DATA: {
          const take = Math.min(this.remaining, n - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) {
            this.phase = CHUNK_END;
            this.remaining = 2;
          }
          break;
        }
        case CHUNK_END: {
          // The CRLF after a chunk's data.
          const c = chunk[i++]!;
          if ((this.remaining === 2 && c === 13) || c === 10) {
            if (c === 10) this.phase = CHUNK_SIZE;
            else this.remaining = 1;
          } else return this.fail('invalid chunked response');
          break;
        }
      }
    }
  }

  /** Reads a response head; false when the connection failed on it. */
  private head(head: string): boolean {
    const lines = head.split(/\r?\n/);
    const status = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: |$)/.exec(lines[0]!);
    if (status === null) {
      this.fail('invalid response');
      return false;
    }
    const code = Number(status[2]);
    const http10 = status[1] === '0';
    if (code < 200 && code !== 101) return true; // 100 Continue, 103 Early Hints: the answer follows
    let length: number | undefined;
    let chunked = false;
    let close = false;
    let keepAliveHeader = false;
    let retryAfter: string | undefined;
    for (let l = 1; l < lines.length; l++) {
      const line = lines[l]!;
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) {
          this.fail('invalid response');
          return false;
        }
        length = Number(value);
      } else if (name === 'transfer-encoding') {
        chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
        if (!chunked) close = true; // another coding last: the body ends with the connection
      } else if (name === 'connection') {
        if (/(?:^|,)\s*close\s*(?:,|$)/i.test(value)) close = true;
        if (/(?:^|,)\s*keep-alive\s*(?:,|$)/i.test(value)) keepAliveHeader = true;
      } else if (name === 'keep-alive') {
        // As Node's agent reads the hint: a second less than the receiver keeps it.
        const t = /(?:^|[,\s])timeout=(\d+)/i.exec(value);
        if (t !== null) this.idleMs = Math.max(0, Math.min(IDLE_MS, Number(t[1]) * 1000 - 1000));
      } else if (name === 'retry-after') {
        retryAfter ??= value;
      }
    }
    if (code === 101) {
      this.fail('unexpected protocol switch');
      return false;
    }
    this.keepAlive = !close && (!http10 || keepAliveHeader) && this.idleMs > 0;
    this.answeredAt = Date.now();
    const exchange = this.exchange!;
    if (code === 204 || code === 304) {
      this.phase = LENGTH;
      this.remaining = 0;
    } else if (chunked) this.phase = CHUNK_SIZE;
    else if (length !== undefined) {
      this.phase = LENGTH;
      this.remaining = length;
    } else {
      this.phase = UNTIL_CLOSE;
      this.keepAlive = false;
    }
    exchange.answered(code, retryAfter);
    return this.exchange !== undefined;
  }
}

/** An OTLP/HTTP sender bound to one endpoint. */
export class HttpTransport {
  private readonly url: URL;
  private readonly tls: boolean;
  private readonly host: string;
  private readonly port: number;
  /** The request head up to its Content-Length, or why it cannot be sent. */
  private readonly head: { head: string } | { error: string };
  /** Open connections, and the idle ones among them (most recently used last). */
  private readonly connections = new Set<Connection>();
  private idle: Connection[] = [];
  private closed = false;
  /** Where plain sockets read into; `read` copies what it keeps. */
  private readonly readBuffer = Buffer.allocUnsafe(16 * 1024);

  constructor(private readonly options: TransportOptions) {
    this.url = new URL(options.url);
    this.tls = this.url.protocol === 'https:';
    const hostname = this.url.hostname;
    this.host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    this.port = Number(this.url.port) || (this.tls ? 443 : 80);
    const headers: Record<string, string> = { ...options.headers, 'User-Agent': options.userAgent };
    if (options.gzip) headers['Content-Encoding'] = 'gzip';
    this.head = requestHead(this.url, headers);
  }

  /**
   * Sends `body`, retrying as the spec says, within the export timeout, and calls `done` once
   * with the outcome. Callbacks, not promises: a promise is an async resource, and in the app's
   * process every kind of resource the export makes is one more for the AsyncLocalStorage hook's
   * lookups to tell apart (see above).
   */
  send(body: Uint8Array, done: (result: SendResult) => void): void {
    const deadline = Date.now() + this.options.timeoutMs;
    if (!this.options.gzip) {
      this.attempt(body, deadline, 1, INITIAL_BACKOFF_MS, done);
      return;
    }
    const { gzip } = require('node:zlib') as typeof import('node:zlib');
    gzip(body, (err, out) => {
      if (err) done({ ok: false, error: err.message });
      else this.attempt(out, deadline, 1, INITIAL_BACKOFF_MS, done);
    });
  }

  /** Attempt number `n` of sending `payload`, then the next after a backoff, as long as the deadline allows. */
  private attempt(payload: Uint8Array, deadline: number, n: number, backoff: number, done: (result: SendResult) => void): void {
    this.once(payload, deadline - Date.now(), (r) => {
      if (r.ok || !r.retryable || n >= MAX_ATTEMPTS) {
        done({ ok: r.ok, error: r.error });
        return;
      }
      const jittered = backoff * (0.8 + Math.random() * 0.4);
      const wait = r.retryAfterMs ?? jittered;
      if (Date.now() + wait >= deadline) {
        done({ ok: false, error: r.error });
        return;
      }
      setTimeout(() => this.attempt(payload, deadline, n + 1, Math.min(backoff * 2, MAX_BACKOFF_MS), done), wait).unref();
    });
  }

  /** Closes every connection. */
  close(): void {
    this.closed = true;
    for (const c of [...this.connections]) c.destroy();
    this.idle = [];
  }

  /** One request; `resolve` is called once, with the answer's status or why there was none. */
  private once(payload: Uint8Array, timeoutMs: number, resolve: (a: Attempt) => void): void {
    const head = this.head;
    // Never before returning: the caller's callback runs after its own code, as for an answer.
    if ('error' in head) {
      process.nextTick(resolve, { ok: false, retryable: false, error: head.error });
      return;
    }
    if (timeoutMs <= 0 || this.closed) {
      process.nextTick(resolve, { ok: false, retryable: false, error: this.closed ? 'transport closed' : 'timeout' });
      return;
    }
    const bytes = Buffer.concat([Buffer.from(`${head.head}Content-Length: ${payload.byteLength}\r\n\r\n`, 'latin1'), payload]);
    let settled = false;
    let conn: Connection | undefined;
    let fresh = false;
    // Called back after the read that settled it: a connection whose answer ended in that read is idle by then, ready for the next request.
    const settle = (a: Attempt) => {
      if (settled) return;
      settled = true;
      process.nextTick(resolve, a);
    };
    // The attempt's timer runs until the answer's body is done: a receiver that never finishes
    // a body would otherwise keep its connection busy for good.
    const timer = setTimeout(() => {
      settle({ ok: false, retryable: true, error: `no answer within ${Math.round(timeoutMs)} ms` });
      conn?.destroy();
    }, timeoutMs);
    timer.unref();
    const exchange: Exchange = {
      answered: (status, retryAfter) => {
        if (status >= 200 && status < 300) {
          settle({ ok: true, retryable: false });
          return;
        }
        const retryable = RETRYABLE.has(status);
        settle({ ok: false, retryable, retryAfterMs: retryable ? parseRetryAfter(retryAfter) : undefined, error: `HTTP ${status}` });
      },
      finished: () => clearTimeout(timer),
      failed: (message, silent) => {
        if (settled) {
          clearTimeout(timer);
          return;
        }
        // A kept-alive connection the receiver closed while it was idle (the race every HTTP
        // client has): nothing of an answer came, so the request goes again on a new connection.
        if (silent && !fresh && conn?.reused === true) {
          start();
          return;
        }
        clearTimeout(timer);
        settle({ ok: false, retryable: true, error: message });
      },
    };
    const start = () => {
      try {
        conn = this.idle.pop();
        fresh = conn === undefined;
        conn ??= this.connect();
        conn.send(bytes, exchange);
      } catch (err) {
        clearTimeout(timer);
        settle({ ok: false, retryable: false, error: (err as Error).message });
      }
    };
    start();
  }

  /** A new connection; the oldest one still reading an answer's body is closed first when there are {@link MAX_CONNECTIONS}. */
  private connect(): Connection {
    if (this.connections.size >= MAX_CONNECTIONS) {
      let oldest: Connection | undefined;
      for (const c of this.connections) if (c.draining && (oldest === undefined || c.answeredAt < oldest.answeredAt)) oldest = c;
      oldest?.destroy();
    }
    /* eslint-disable @typescript-eslint/no-require-imports */
    const socket: Socket = this.tls
      ? (require('node:tls') as typeof import('node:tls')).connect({
          host: this.host,
          port: this.port,
          // As `https.request`: the name to check the certificate against, unless the host is an address.
          servername: (require('node:net') as typeof import('node:net')).isIP(this.host) ? undefined : this.host,
        })
      : (require('node:net') as typeof import('node:net')).connect({
          host: this.host,
          port: this.port,
          // Reads go straight to the connection, into one buffer, not through the socket's stream: its
          // code is the app's requests' code too (see above).
          onread: {
            buffer: this.readBuffer,
            callback: (n: number, buf: Uint8Array) => {
              c.read(Buffer.from(buf.buffer, buf.byteOffset, n));
              return true;
            },
          },
        });
    /* eslint-enable @typescript-eslint/no-require-imports */
    const c = new Connection(
      socket,
      this.tls,
      (idle) => {
        if (this.closed) idle.destroy();
        else this.idle.push(idle);
      },
      (dead) => {
        this.connections.delete(dead);
        const at = this.idle.indexOf(dead);
        if (at !== -1) this.idle.splice(at, 1);
      },
    );
    this.connections.add(c);
    return c;
  }
}
