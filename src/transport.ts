/**
 * OTLP/HTTP transport: POSTs one encoded request with the retry rules of the
 * OTLP spec (429/502/503/504 and connection errors are retried with
 * exponential backoff and jitter, `Retry-After` honoured, everything bounded
 * by the export timeout; other statuses, such as 400, are final).
 *
 * Nothing here keeps the process alive: sockets and timers are unref'd. At
 * exit the shutdown code waits for exports under a deadline of its own, and
 * whatever is still in flight is sent synchronously by the exit flush.
 */
import type { Agent as HttpAgent, ClientRequest, IncomingMessage } from 'node:http';

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

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/** An OTLP/HTTP sender bound to one endpoint. */
export class HttpTransport {
  private readonly url: URL;
  private readonly request: typeof import('node:http').request;
  private readonly agent: HttpAgent;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: TransportOptions) {
    this.url = new URL(options.url);
    /* eslint-disable @typescript-eslint/no-require-imports */
    const mod = this.url.protocol === 'https:' ? require('node:https') : require('node:http');
    this.request = mod.request;
    this.agent = new mod.Agent({ keepAlive: true, maxSockets: 4 });
    this.headers = { ...options.headers, 'User-Agent': options.userAgent };
    if (options.gzip) this.headers['Content-Encoding'] = 'gzip';
  }

  /** Sends `body`, retrying as the spec says, within the export timeout. */
  async send(body: Uint8Array): Promise<SendResult> {
    let payload: Uint8Array = body;
    if (this.options.gzip) {
      const { gzip } = require('node:zlib') as typeof import('node:zlib');
      payload = await new Promise<Buffer>((resolve, reject) => gzip(body, (err, out) => (err ? reject(err) : resolve(out))));
    }
    const deadline = Date.now() + this.options.timeoutMs;
    let backoff = INITIAL_BACKOFF_MS;
    for (let attempt = 1; ; attempt++) {
      const r = await this.once(payload, deadline - Date.now());
      if (r.ok || !r.retryable || attempt >= MAX_ATTEMPTS) return { ok: r.ok, error: r.error };
      const jittered = backoff * (0.8 + Math.random() * 0.4);
      const wait = r.retryAfterMs ?? jittered;
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      if (Date.now() + wait >= deadline) return { ok: false, error: r.error };
      await sleep(wait);
    }
  }

  private once(payload: Uint8Array, timeoutMs: number): Promise<Attempt> {
    return new Promise((resolve) => {
      if (timeoutMs <= 0) {
        resolve({ ok: false, retryable: false, error: 'timeout' });
        return;
      }
      let settled = false;
      // Declared before `settle`, which a synchronous throw of `request()` (an invalid header) reaches first.
      let timer: NodeJS.Timeout | undefined;
      const settle = (a: Attempt, keepTimer = false) => {
        if (settled) return;
        settled = true;
        if (!keepTimer) clearTimeout(timer);
        resolve(a);
      };
      let req: ClientRequest;
      try {
        req = this.request(this.url, {
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'Content-Length': String(payload.byteLength) },
        });
      } catch (err) {
        settle({ ok: false, retryable: false, error: (err as Error).message });
        return;
      }
      timer = setTimeout(() => {
        req.destroy();
        settle({ ok: false, retryable: true, error: `no answer within ${Math.round(timeoutMs)} ms` });
      }, timeoutMs);
      timer.unref();
      req.on('socket', (socket) => socket.unref());
      req.on('error', (err) => settle({ ok: false, retryable: true, error: err.message }));
      req.on('response', (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        // Drain the body; its content is not needed for a decision. The attempt's timer keeps
        // running until the body is done: a receiver that never finishes a body would otherwise
        // hold one of the agent's few sockets forever, and with all of them held no export
        // would ever be sent again.
        res.on('close', () => clearTimeout(timer));
        res.on('error', () => undefined);
        res.resume();
        if (status >= 200 && status < 300) {
          settle({ ok: true, retryable: false }, true);
        } else {
          settle(
            {
              ok: false,
              retryable: RETRYABLE.has(status),
              retryAfterMs: RETRYABLE.has(status) ? parseRetryAfter(res.headers['retry-after']) : undefined,
              error: `HTTP ${status}`,
            },
            true,
          );
        }
      });
      req.end(payload);
    });
  }

  /** Closes idle connections. */
  close(): void {
    this.agent.destroy();
  }
}
