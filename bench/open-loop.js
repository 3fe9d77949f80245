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
 *
 * Paired: `--urls A,B[,...] --slice S` loads the URLs in turns of S seconds (A, B, A, B, ...), each
 * at `--rate` during its turns for `--duration` seconds of its own, on connections of its own, and
 * prints {targets: [one summary per URL, with `turns`: [{n, p50, p99}] per turn], maxLagMs}. Requests
 * an app has not been able to take by the end of its turn are not sent into the next app's turn:
 * they count with their wait so far (a lower bound) and as `missed`.
 */
const net = require('node:net');

function parseArgs(argv) {
  const o = { url: '', urls: '', rate: 1000, duration: 10, connections: 32, slice: 1 };
  for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = argv[i + 1];
  return {
    url: o.url ? new URL(o.url) : undefined,
    urls: o.urls ? o.urls.split(',').map((u) => new URL(u)) : undefined,
    rate: Number(o.rate),
    duration: Number(o.duration),
    connections: Number(o.connections),
    sliceMs: Number(o.slice) * 1000,
  };
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

  send(t0, turn = 0) {
    this.t0 = t0;
    this.turn = turn;
    this.busy = true;
    this.socket.write(this.gen.request);
  }

  onData(d) {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const end = this.responseEnd();
      if (end < 0) return;
      const b = this.buf;
      const status = (b[9] - 48) * 100 + (b[10] - 48) * 10 + (b[11] - 48);
      this.buf = this.buf.subarray(end);
      this.busy = false;
      this.gen.onResponse(this, status);
    }
  }

  /** Where the first complete response in the buffer ends, or -1. */
  responseEnd() {
    const head = this.buf.indexOf(CRLF2);
    if (head < 0) return -1;
    // Byte by byte, no strings: at 25k responses/s this generator shares its core with the sink.
    let v = headerValue(this.buf, head, 'content-length');
    if (v >= 0) {
      let len = 0;
      for (let c = this.buf[v]; c >= 48 && c <= 57; c = this.buf[++v]) len = len * 10 + (c - 48);
      const end = head + 4 + len;
      return this.buf.length >= end ? end : -1;
    }
    v = headerValue(this.buf, head, 'transfer-encoding');
    if (v >= 0 && startsLower(this.buf, v, 'chunked')) {
      const last = this.buf.indexOf(CHUNK_END, head + 4);
      return last < 0 ? -1 : last + CHUNK_END.length;
    }
    return head + 4;
  }
}

const CRLF = Buffer.from('\r\n');

/** Whether buf[at...] is `lower` in any case. */
function startsLower(buf, at, lower) {
  for (let i = 0; i < lower.length; i++) if ((buf[at + i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** Where the value of header `name` (lower case) starts in the head buf[0, head), or -1. */
function headerValue(buf, head, name) {
  for (let pos = buf.indexOf(CRLF) + 2; pos > 1 && pos < head; ) {
    let eol = buf.indexOf(CRLF, pos);
    if (eol < 0 || eol > head) eol = head;
    if (eol - pos > name.length && buf[pos + name.length] === 58 && startsLower(buf, pos, name)) {
      let v = pos + name.length + 1;
      while (buf[v] === 32 || buf[v] === 9) v++;
      return v;
    }
    pos = eol + 2;
  }
  return -1;
}

class Generator {
  /**
   * `slot` (optional, for paired runs): this generator is one of `of` that take turns in slices of
   * `sliceMs`; it sends only in its own slices (`index`, `index + of`, ...), at `rate` while it does.
   */
  constructor({ url, rate, duration, connections, slot }) {
    this.url = url;
    this.rate = rate;
    this.slot = slot;
    this.total = Math.round(rate * duration);
    this.request = Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    this.latencies = new Float64Array(this.total);
    this.cycles = slot ? new Uint16Array(this.total) : undefined; // the turn each completed request was sent in
    this.pending = []; // queued requests, FIFO: tick time and turn of each, flat
    this.idle = [];
    this.conns = [];
    this.sent = 0;
    this.completed = 0;
    this.errors = 0;
    this.non2xx = 0;
    this.lost = 0;
    this.missed = 0; // paired mode: requests still queued when the turn ended (see expire)
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

  /** Requests due by `elapsed` ms after the start. */
  dueBy(elapsed) {
    const s = this.slot;
    if (!s) return Math.min(this.total, Math.floor((elapsed * this.rate) / 1000) + 1);
    if (elapsed < s.index * s.sliceMs) return 0;
    // Time this generator has been sending: its full turns, plus the part of the current one.
    const turn = s.of * s.sliceMs;
    const c = Math.floor(elapsed / turn);
    const active = c * s.sliceMs + Math.min(s.sliceMs, Math.max(0, elapsed - c * turn - s.index * s.sliceMs));
    return Math.min(this.total, Math.floor((active * this.rate) / 1000) + 1);
  }

  /** When request `i` is due, in ms after the start. */
  dueAt(i) {
    const s = this.slot;
    const active = (i * 1000) / this.rate;
    if (!s) return active;
    const c = Math.floor(active / s.sliceMs);
    return c * s.of * s.sliceMs + s.index * s.sliceMs + (active - c * s.sliceMs);
  }

  /** In paired mode, whether `now` is in one of this generator's turns. */
  inTurn(now) {
    const s = this.slot;
    return !s || Math.floor((now - this.start) / s.sliceMs) % s.of === s.index;
  }

  /**
   * The turn is over and requests still wait for a connection: the app did not keep up. They are
   * not sent into the next app's turn (the load would follow into it); each counts as completed
   * with its wait so far, a lower bound, and as missed.
   */
  expire(now) {
    const p = this.pending;
    for (let i = 0; i < p.length; i += 2) {
      this.cycles[this.completed] = p[i + 1];
      this.latencies[this.completed++] = now - p[i];
      this.missed++;
    }
    this.pending = [];
  }

  tick() {
    const now = performance.now();
    if (this.slot && this.pending.length > 0 && !this.inTurn(now)) this.expire(now);
    const due = this.dueBy(now - this.start);
    if (due > this.sent) this.maxLagMs = Math.max(this.maxLagMs, now - (this.start + this.dueAt(this.sent)));
    for (; this.sent < due; this.sent++) {
      const c = this.idle.pop();
      const turn = this.cycles ? Math.floor((this.sent * 1000) / this.rate / this.slot.sliceMs) : 0;
      if (c) c.send(now, turn);
      else this.pending.push(now, turn);
    }
    if (this.sent < this.total || this.pending.length > 0) this.timer = setTimeout(() => this.tick(), 1);
    else this.maybeDone();
  }

  onResponse(conn, status) {
    if (this.cycles) this.cycles[this.completed] = conn.turn;
    this.latencies[this.completed++] = performance.now() - conn.t0;
    if (status < 200 || status >= 400) this.non2xx++;
    if (this.pending.length > 0 && this.inTurn(performance.now())) conn.send(this.pending.shift(), this.pending.shift());
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
      if (this.pending.length > 0 && this.inTurn(performance.now())) c.send(this.pending.shift(), this.pending.shift());
      else this.idle.push(c);
    }
    this.maybeDone();
  }

  maybeDone() {
    if (this.finished || this.sent < this.total) return;
    if (this.completed + this.lost < this.total && this.conns.some((c) => !c.dead)) return;
    this.finished = true;
    // Seconds it was sending: all of them, or in paired mode its own turns.
    const elapsed = this.slot ? this.total / this.rate : (performance.now() - this.start) / 1000;
    for (const c of this.conns) c.socket.destroy();
    const turns = this.cycles ? perTurn(this.latencies.subarray(0, this.completed), this.cycles.subarray(0, this.completed)) : undefined;
    const lat = this.latencies.subarray(0, this.completed).sort();
    const q = (p) => quantile(lat, p);
    this.done({
      sent: this.sent,
      completed: this.completed,
      ...(this.slot && { missed: this.missed }),
      errors: this.errors,
      non2xx: this.non2xx,
      rate: Math.round((this.completed - this.missed) / elapsed),
      p50: q(0.5),
      p90: q(0.9),
      p99: q(0.99),
      p999: q(0.999),
      max: lat.length === 0 ? null : round(lat[lat.length - 1]),
      maxLagMs: round(this.maxLagMs),
      ...(turns && { turns }),
    });
  }
}

const round = (x) => Math.round(x * 1000) / 1000;
/** The `p` quantile of sorted `lat`, or null. */
const quantile = (lat, p) => (lat.length === 0 ? null : round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]));

/** p50/p99 of the requests of each turn (the turn they were sent in). */
function perTurn(latencies, cycles) {
  const by = [];
  for (let i = 0; i < latencies.length; i++) (by[cycles[i]] ??= []).push(latencies[i]);
  return by.map((xs) => {
    const lat = Float64Array.from(xs || []).sort();
    return { n: lat.length, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) };
  });
}

/**
 * Paired mode: one generator per URL, taking turns in slices of `sliceMs` (URL 0 for the first
 * slice, URL 1 for the next, ...), each at `rate` during its own slices for `duration` seconds of
 * its own. Apps pinned to one core meet the same machine within a few seconds of each other.
 */
async function runPaired({ urls, rate, duration, connections, sliceMs }) {
  const gens = urls.map((url, index) => new Generator({ url, rate, duration, connections, slot: { index, of: urls.length, sliceMs } }));
  const start = performance.now();
  const results = await Promise.all(gens.map((g) => {
    const p = new Promise((resolve) => {
      g.done = resolve;
    });
    g.start = start;
    g.tick();
    return p;
  }));
  return { targets: results, maxLagMs: Math.max(...results.map((r) => r.maxLagMs)) };
}

if (require.main === module && process.argv.includes('--urls')) {
  const opts = parseArgs(process.argv.slice(2));
  const guard = setTimeout(() => {
    process.stderr.write('open-loop: gave up waiting for responses\n');
    process.exit(1);
  }, (opts.duration * opts.urls.length + 30) * 1000);
  guard.unref();
  runPaired(opts).then((r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  });
} else if (require.main === module) {
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

module.exports = { Generator, runPaired };
