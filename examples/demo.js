#!/usr/bin/env node
'use strict';
// `npm run demo`: runs every example under `otel-instrument`, sends it a few requests, and
// prints the traces it produced as trees. Nothing to install: the examples export OTLP/JSON to a
// small receiver in this process, which puts the spans of all services together, so the two
// services of the HTTP-calls example show as ONE trace (the console exporter, `--traces_exporter
// console`, prints each process's half of it separately). The database example needs PostgreSQL
// (DATABASE_URL, default postgres://postgres@localhost:5432/postgres) and is skipped without it.
const { spawn } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');

const CLI = path.join(__dirname, '..', 'bin', 'otel-instrument');
const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const WIDTH = 110;

/** Spans received since the last `report()`, from every example. */
let received = [];
/** The examples running now, stopped if the demo is interrupted. */
const running = new Set();
let interrupted = false;

/** A tiny OTLP/HTTP receiver for the JSON encoding: POST /v1/traces. */
function startReceiver() {
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      try {
        received.push(...decode(JSON.parse(body)));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function value(v) {
  if (v === undefined || v === null) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('boolValue' in v) return v.boolValue;
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(value);
  return undefined;
}

function attributes(list) {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, value(kv.value)]));
}

/** Nanoseconds from an OTLP/JSON timestamp (a string, a number or {low, high}). */
function nanos(t) {
  if (t !== null && typeof t === 'object') return (BigInt(t.high >>> 0) << 32n) + BigInt(t.low >>> 0);
  return BigInt(t ?? 0);
}

/** ExportTraceServiceRequest (OTLP/JSON) → flat spans, each with its service name. */
function decode(request) {
  const spans = [];
  for (const rs of request.resourceSpans ?? []) {
    const service = attributes(rs.resource?.attributes)['service.name'];
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        spans.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          kind: typeof s.kind === 'number' ? KINDS[s.kind] : String(s.kind).replace('SPAN_KIND_', ''),
          start: nanos(s.startTimeUnixNano),
          end: nanos(s.endTimeUnixNano),
          attributes: attributes(s.attributes),
          events: (s.events ?? []).map((e) => ({ name: e.name, attributes: attributes(e.attributes) })),
          error: s.status?.code === 2 || s.status?.code === 'STATUS_CODE_ERROR',
          message: s.status?.message ?? '',
          service,
        });
      }
    }
  }
  return spans;
}

function show(v) {
  const s = typeof v === 'string' || Array.isArray(v) ? JSON.stringify(v) : String(v);
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}

/** `k=v` items on lines of at most WIDTH characters: the first after `indent`, the others after `next`. */
function wrap(items, indent, next = indent) {
  const lines = [];
  let line = '';
  for (const item of items) {
    if (line !== '' && (lines.length === 0 ? indent : next).length + line.length + 1 + item.length > WIDTH) {
      lines.push((lines.length === 0 ? indent : next) + line);
      line = item;
    } else {
      line = line === '' ? item : `${line} ${item}`;
    }
  }
  if (line !== '') lines.push((lines.length === 0 ? indent : next) + line);
  return lines;
}

/**
 * The spans as trees, one per trace, in the console exporter's layout. A trace that spans
 * several services names the service of each span.
 */
function formatTrees(spans) {
  const traces = new Map();
  for (const s of [...spans].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))) {
    if (!traces.has(s.traceId)) traces.set(s.traceId, []);
    traces.get(s.traceId).push(s);
  }
  const out = [];
  for (const [traceId, list] of traces) {
    const services = new Set(list.map((s) => s.service));
    const ids = new Set(list.map((s) => s.spanId));
    const children = new Map();
    const roots = [];
    for (const s of list) {
      if (s.parentSpanId !== '' && ids.has(s.parentSpanId)) {
        if (!children.has(s.parentSpanId)) children.set(s.parentSpanId, []);
        children.get(s.parentSpanId).push(s);
      } else {
        roots.push(s);
      }
    }
    out.push(services.size === 1 ? `trace ${traceId} (service ${[...services][0]})` : `trace ${traceId}`);
    const walk = (s, indent, last) => {
      const ms = (Number(s.end - s.start) / 1e6).toFixed(1);
      const status = s.error ? `  ERROR${s.message ? ` ${show(s.message)}` : ''}` : '';
      const where = services.size > 1 ? `  [${s.service}]` : '';
      const remote = s.parentSpanId !== '' && !ids.has(s.parentSpanId) ? ` (parent ${s.parentSpanId} not received)` : '';
      out.push(`${indent}${last ? '└─' : '├─'} ${s.kind} ${s.name}  ${ms} ms${status}${where}${remote}`);
      const inner = indent + (last ? '   ' : '│  ');
      out.push(...wrap(Object.entries(s.attributes).map(([k, v]) => `${k}=${show(v)}`), `${inner}   `));
      for (const e of s.events) {
        const { 'exception.stacktrace': stack, ...rest } = e.attributes;
        out.push(...wrap([`event ${e.name}`, ...Object.entries(rest).map(([k, v]) => `${k}=${show(v)}`)], `${inner}   `, `${inner}     `));
        // The first frames are enough to see where it was thrown.
        if (typeof stack === 'string') {
          const [first, ...frames] = stack.split('\n').map((l) => l.trim());
          out.push(`${inner}     exception.stacktrace=${first}`, ...frames.slice(0, 2).map((l) => `${inner}       ${l}`), `${inner}       …`);
        }
      }
      const kids = children.get(s.spanId) ?? [];
      kids.forEach((k, i) => walk(k, inner, i === kids.length - 1));
    };
    roots.forEach((r, i) => walk(r, '', i === roots.length - 1));
  }
  return out.join('\n');
}

/**
 * Starts `examples/<file>` under otel-instrument, exporting to the receiver, on a free port.
 * Resolves once it listens; rejects with its output if it exits first.
 */
function start(file, service, receiverUrl, env = {}) {
  if (interrupted) return new Promise(() => {});
  const childEnv = {};
  // OTEL_* settings of the caller's shell would change what the demo shows.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OTEL_')) childEnv[k] = v;
  const child = spawn(
    process.execPath,
    [
      CLI,
      '--service_name', service,
      '--traces_exporter', 'otlp',
      '--metrics_exporter', 'none',
      '--exporter_otlp_traces_endpoint', `${receiverUrl}/v1/traces`,
      '--exporter_otlp_traces_protocol', 'http/json',
      '--bsp_schedule_delay', '100',
      process.execPath, path.join(__dirname, file),
    ],
    { env: { ...childEnv, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const app = { service, child, stdout: '', stderr: '', port: 0 };
  child.stdout.setEncoding('utf8').on('data', (c) => (app.stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (app.stderr += c));
  running.add(child);
  app.exited = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  app.stop = async () => {
    // SIGTERM: the agent flushes the spans still queued, then the app dies as it would have.
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    await app.exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail('did not start within 30 s'), 30000);
    const fail = (why) => {
      clearTimeout(timer);
      app.stop();
      reject(new Error(`${file} ${why}\n${app.stdout}${app.stderr}`));
    };
    child.stdout.on('data', () => {
      const m = /listening on http:\/\/localhost:(\d+)/.exec(app.stdout);
      if (m && app.port === 0) {
        clearTimeout(timer);
        app.port = Number(m[1]);
        resolve(app);
      }
    });
    app.exited.then(({ code, signal }) => app.port === 0 && fail(`exited (${signal ?? code}) before listening`));
  });
}

/** One request, printed like a terminal session. */
async function get(app, urlPath) {
  const url = `http://127.0.0.1:${app.port}${urlPath}`;
  const res = await fetch(url);
  const text = (await res.text()).replace(/\s+/g, ' ');
  const body = /html/.test(res.headers.get('content-type') ?? '') ? `(an HTML page of ${text.length} bytes)` : text;
  console.log(`$ curl ${url}\n  → ${res.status} ${body.length > 80 ? `${body.slice(0, 80)}…` : body}`);
}

/**
 * The apps' own output (minus the `listening` line) and the agent's messages, if any; then the
 * traces received since the example started.
 */
function report(apps) {
  for (const app of apps) {
    const lines = app.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('listening on'));
    lines.push(...app.stderr.split('\n').filter((l) => l.startsWith('[@acme/otel-agent]')));
    for (const l of lines) console.log(`[${app.service}] ${l}`);
  }
  const spans = received;
  received = [];
  console.log(spans.length === 0 ? '(no spans received)' : formatTrees(spans));
  return spans.length;
}

const EXAMPLES = [
  { title: '1. Hello world: plain http', apps: [['hello-http.js', 'hello-http']], paths: ['/hello/world'] },
  { title: '1. Hello world: express (ES module)', apps: [['hello-express.mjs', 'hello-express']], paths: ['/hello/world'] },
  { title: '1. Hello world: fastify', apps: [['hello-fastify.js', 'hello-fastify']], paths: ['/hello/world'] },
  { title: '2. Exceptions', apps: [['exceptions.js', 'exceptions']], paths: ['/hello/world'] },
  {
    title: '3. Database calls (PostgreSQL)',
    apps: [['database.js', 'database']],
    // /hello/x: PostgreSQL rejects "x" as an integer; the DB span and the server span show the error.
    paths: ['/hello/1', '/hello/x'],
    optional: 'it needs PostgreSQL: set DATABASE_URL, or start one with\n  docker run --rm -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres',
  },
  {
    title: '4. HTTP calls and context propagation',
    apps: [['user-service.js', 'user-service'], ['front-service.js', 'front-service']],
    paths: ['/hello/1', '/hello-http/2'],
  },
  {
    title: '5. Custom attributes and events',
    apps: [['user-service.js', 'user-service'], ['custom-attributes.js', 'custom-attributes']],
    paths: ['/hello/1'],
  },
];

async function main() {
  const receiver = await startReceiver();
  const receiverUrl = `http://127.0.0.1:${receiver.address().port}`;
  let failed = false;
  for (const example of EXAMPLES) {
    const files = example.apps.map(([file]) => `examples/${file}`).join(' + ');
    console.log(`\n=== ${example.title}: ${files}\n`);
    received = [];
    const apps = [];
    try {
      // The last app is the one we call; the ones before it are the services it calls.
      for (const [file, service] of example.apps) {
        const env = apps.length > 0 ? { USER_SERVICE_URL: `http://127.0.0.1:${apps[0].port}` } : {};
        apps.push(await start(file, service, receiverUrl, env));
      }
      for (const p of example.paths) await get(apps[apps.length - 1], p);
    } catch (err) {
      if (!example.optional) failed = true;
      const reason = err.message.split('\n').filter((l) => l.trim() !== '').slice(0, 3).join('\n  ');
      console.log(example.optional ? `skipped, ${example.optional}\n  ${reason}` : `FAILED: ${err.stack}`);
    }
    // Callers first, so that every span of the callee is in before we print.
    for (const app of [...apps].reverse()) await app.stop();
    if (apps.length > 0 && report(apps) === 0 && !example.optional) failed = true;
  }
  receiver.close();
  console.log('\nTo send an example\'s traces to Coroot, run its command from examples/README.md with');
  console.log('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://coroot.coroot:8080/v1/traces instead of --traces_exporter console.');
  process.exitCode = failed ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  // Interrupted (Ctrl-C): stop the examples too, and leave without reporting what they missed.
  process.once(signal, () => {
    interrupted = true;
    const exits = [...running].map((child) => new Promise((resolve) => child.once('close', resolve)));
    for (const child of running) child.kill('SIGTERM');
    Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 3000))]).then(() => process.exit(130));
  });
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
