'use strict';
/**
 * Open-loop (fixed-rate) HTTP/1.1 load generator, for latency at a moderate load.
 *
 * Request i is due at start + i/rate whatever the server does. Every millisecond tick takes the
 * requests that have come due and sends each on an idle keep-alive connection, or queues it until
 * one frees up. Latency runs from the tick that took the request, so time spent queued behind a
 * slow server counts (no coordinated omission) while the generator's own timer granularity does
 * not; `maxLagMs` reports how late the ticks ran, a check that the generator kept up.
 *
 * Raw sockets and a minimal response parser (Content-Length or chunked) keep it cheap enough to
 * share a core. Usage:
 *   node bench/open-loop.js --url http://127.0.0.1:3000/hello/x --rate 5000 --duration 10 [--connections 32]
 * Prints one JSON line: {sent, completed, errors, non2xx, rate, p50, p90, p99, p999, max, maxLagMs} (ms).
 */
const net = require('node:net');

function parseArgs(argv) {
  const o = { url: '', rate: 1000, duration: 10, connections: 32 };
  for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = argv[i + 1];
  return { url: new URL(o.url), rate: Number(o.rate), duration: Number(o.duration), connections: Number(o.connections) };
}

const CRLF2 = Buffer.from('\r\n\r\n');
const CHUNK_END = Buffer.from('0\r\n\r\n');

/** One keep-alive connection with at most one request outstanding. */
class Conn {
  constructor(gen, port, host) {
    this.gen = gen;
    this.buf = Buffer.alloc(0);
    this.t0 = 0;
    this.busy = false;
    this.socket = net.connect(port, host);
    this.socket.setNoDelay(true);
    this.socket.on('data', (d) => this.onData(d));
    this.socket.on('error', (err) => gen.onConnError(this, err));
    this.socket.on('close', () => gen.onConnError(this, new Error('closed')));
  }

  send(t0) {
    this.t0 = t0;
    this.busy = true;
    this.socket.write(this.gen.request);
  }

  onData(d) {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const end = this.responseEnd();
      if (end < 0) return;
      const status = Number(this.buf.toString('latin1', 9, 12));
      this.buf = this.buf.subarray(end);
      this.busy = false;
      this.gen.onResponse(this, status);
    }
  }

  /** Where the first complete response in the buffer ends, or -1. */
  responseEnd() {
    const head = this.buf.indexOf(CRLF2);
    if (head < 0) return -1;
    const headers = this.buf.toString('latin1', 0, head).toLowerCase();
    const m = /\r\ncontent-length: *(\d+)/.exec(headers);
    if (m) {
      const end = head + 4 + Number(m[1]);
      return this.buf.length >= end ? end : -1;
    }
    if (headers.includes('transfer-encoding: chunked')) {
      const last = this.buf.indexOf(CHUNK_END, head + 4);
      return last < 0 ? -1 : last + CHUNK_END.length;
    }
    return head + 4;
  }
}

class Generator {
  constructor({ url, rate, duration, connections }) {
    this.url = url;
    this.rate = rate;
    this.total = Math.round(rate * duration);
    this.request = Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    this.latencies = new Float64Array(this.total);
    this.pending = []; // tick times of queued requests, FIFO
    this.idle = [];
    this.conns = [];
    this.sent = 0;
    this.completed = 0;
    this.errors = 0;
    this.non2xx = 0;
    this.lost = 0;
    this.replaced = 0;
    this.maxLagMs = 0;
    for (let i = 0; i < connections; i++) {
      const c = new Conn(this, Number(url.port), url.hostname);
      this.conns.push(c);
      this.idle.push(c);
    }
  }

  run() {
    return new Promise((resolve) => {
      this.done = resolve;
      this.start = performance.now();
      this.tick();
    });
  }

  tick() {
    const now = performance.now();
    const due = Math.min(this.total, Math.floor(((now - this.start) * this.rate) / 1000) + 1);
    if (due > this.sent) this.maxLagMs = Math.max(this.maxLagMs, now - (this.start + (this.sent * 1000) / this.rate));
    for (; this.sent < due; this.sent++) {
      const c = this.idle.pop();
      if (c) c.send(now);
      else this.pending.push(now);
    }
    if (this.sent < this.total) this.timer = setTimeout(() => this.tick(), 1);
    else this.maybeDone();
  }

  onResponse(conn, status) {
    this.latencies[this.completed++] = performance.now() - conn.t0;
    if (status < 200 || status >= 400) this.non2xx++;
    if (this.pending.length > 0) conn.send(this.pending.shift());
    else this.idle.push(conn);
    this.maybeDone();
  }

  /** A closed or failed connection: an idle one (say, the server's keep-alive timeout) is replaced; a busy one loses its request. */
  onConnError(conn, err) {
    if (conn.dead || this.finished) return;
    conn.dead = true;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    this.conns.splice(this.conns.indexOf(conn), 1);
    if (conn.busy) {
      this.errors++;
      this.lost++;
      if (this.errors === 1) process.stderr.write(`open-loop: request lost: ${err.message}\n`);
    }
    // Bounded, so a server that is gone cannot make this spin.
    if (this.errors < 1000 && this.replaced++ < 10_000) {
      const c = new Conn(this, Number(this.url.port), this.url.hostname);
      this.conns.push(c);
      if (this.pending.length > 0) c.send(this.pending.shift());
      else this.idle.push(c);
    }
    this.maybeDone();
  }

  maybeDone() {
    if (this.finished || this.sent < this.total) return;
    if (this.completed + this.lost < this.total && this.conns.some((c) => !c.dead)) return;
    this.finished = true;
    const elapsed = (performance.now() - this.start) / 1000;
    for (const c of this.conns) c.socket.destroy();
    const lat = this.latencies.subarray(0, this.completed).sort();
    const q = (p) => (lat.length === 0 ? null : round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]));
    this.done({
      sent: this.sent,
      completed: this.completed,
      errors: this.errors,
      non2xx: this.non2xx,
      rate: Math.round(this.completed / elapsed),
      p50: q(0.5),
      p90: q(0.9),
      p99: q(0.99),
      p999: q(0.999),
      max: lat.length === 0 ? null : round(lat[lat.length - 1]),
      maxLagMs: round(this.maxLagMs),
    });
  }
}

const round = (x) => Math.round(x * 1000) / 1000;

if (require.main === module) {
  const opts = parseArgs(process.argv.slice(2));
  const gen = new Generator(opts);
  // A server that stops answering must not hang the benchmark.
  const guard = setTimeout(() => {
    process.stderr.write('open-loop: gave up waiting for responses\n');
    gen.finished = false;
    gen.lost = gen.total - gen.completed;
    gen.maybeDone();
  }, (opts.duration + 30) * 1000);
  guard.unref();
  gen.run().then((r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  });
}

module.exports = { Generator };
