#!/usr/bin/env node
'use strict';
/**
 * `node bench/encode.js`: a micro-benchmark of the OTLP protobuf encoder (dist/otlp-encode.js,
 * so `npm run build` first), next to upstream's ProtobufTraceSerializer. Not a test: it prints
 * CPU µs per span and MB/s of output, and asserts nothing. The export runs on the app's core,
 * so CPU per span is the figure that matters.
 *
 * A batch is what a hello-world HTTP server under the agent exports: 512 SERVER spans (the
 * batch processor's default export size), one trace each, with the ~12 stable-semconv attributes
 * our http instrumentation sets, made by sdk-trace-base's BasicTracerProvider; calls take 16
 * such batches in turn.
 *
 * Options: --spans N (512), --rounds N (7), --ms N (time per round, 500), --skip-upstream,
 * --module FILE (another build of otlp-encode.js, e.g. an older one, to compare). Required as a
 * module, it exports `batch(n)`, the spans.
 */
const path = require('node:path');
const api = require('@opentelemetry/api');
const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
}
const SPANS = arg('spans', 512);
const ROUNDS = arg('rounds', 7);
const MS = arg('ms', 500);
const moduleAt = process.argv.indexOf('--module');
const MODULE = moduleAt === -1 ? path.join(__dirname, '..', 'dist', 'otlp-encode.js') : path.resolve(process.argv[moduleAt + 1]);

/** `s` as a new string object, as the HTTP parser gives header values. */
const fresh = (s) => Buffer.from(s, 'latin1').toString('latin1');

/** `n` spans; `first` numbers the first one (url.path, the peer port). */
function batch(n, first = 0) {
  const ended = [];
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'hello',
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.name': 'opentelemetry',
      'telemetry.sdk.version': '2.12.0',
      'telemetry.distro.name': '@acme/otel-agent',
      'telemetry.distro.version': '0.1.0',
      'process.pid': process.pid,
      'process.runtime.name': 'nodejs',
      'process.runtime.version': process.versions.node,
      'host.name': 'bench-host',
    }),
    spanProcessors: [{ onStart() {}, onEnd: (s) => ended.push(s), forceFlush: async () => {}, shutdown: async () => {} }],
  });
  const tracer = provider.getTracer('@acme/otel-agent/http', '0.1.0');
  for (let i = first; i < first + n; i++) {
    // In the order and the form our http server instrumentation sets them: most values are
    // strings the HTTP parser or the socket made, a new string object per request.
    const method = 'GET';
    const span = tracer.startSpan(method, {
      kind: api.SpanKind.SERVER,
      attributes: {
        'http.request.method': method,
        'url.scheme': 'http',
        'server.address': fresh('127.0.0.1'),
        'server.port': 8080,
        'network.protocol.version': fresh('1.1'),
        'user_agent.original': fresh('wrk'),
        'network.peer.address': fresh('127.0.0.1'),
        'network.peer.port': 40000 + (i % 20000),
        'url.path': fresh(`/hello/${i}`),
        'client.address': fresh('127.0.0.1'),
      },
    });
    // As a framework's route match does (server-span.ts setRoute).
    const route = '/hello/:name';
    span.setAttribute('http.route', route);
    span.updateName(`${method} ${route}`);
    span.setAttribute('http.response.status_code', 200);
    span.end();
  }
  return ended;
}

/**
 * Median and minimum over rounds of CPU µs per span (process CPU time: robust to sharing the
 * machine), and bytes per batch. Calls go round `batches`, so that per-request values (paths,
 * ports) are not the same few hundred on every call, as they would not be in an app.
 */
function measure(encode, batches) {
  let bytes = 0;
  let next = 0;
  // Warm-up: let the JIT settle and the caches fill.
  const warmEnd = Date.now() + MS;
  while (Date.now() < warmEnd) bytes = encode(batches[next++ % batches.length]).length;
  const perSpan = [];
  for (let r = 0; r < ROUNDS; r++) {
    let calls = 0;
    const start = process.cpuUsage();
    const stop = Date.now() + MS;
    do {
      encode(batches[next++ % batches.length]);
      calls++;
    } while (Date.now() < stop);
    const used = process.cpuUsage(start);
    perSpan.push((used.user + used.system) / (calls * SPANS));
  }
  perSpan.sort((a, b) => a - b);
  return { us: perSpan[perSpan.length >> 1], min: perSpan[0], bytes };
}

function line(name, { us, min, bytes }) {
  const mbs = bytes / SPANS / us; // bytes per µs = MB/s
  console.log(`${name.padEnd(38)} ${us.toFixed(3).padStart(7)} µs/span (min ${min.toFixed(3)})  ${mbs.toFixed(0).padStart(4)} MB/s  ${(bytes / SPANS).toFixed(0)} B/span`);
}

if (require.main === module) {
  const batches = Array.from({ length: 16 }, (_, b) => batch(SPANS, b * SPANS));
  console.log(`node ${process.version}, batches of ${SPANS} HTTP server spans, CPU time, median of ${ROUNDS} rounds of ${MS} ms`);
  line(`encodeProtobuf (${path.basename(MODULE)})`, measure(require(MODULE).encodeProtobuf, batches));
  if (!process.argv.includes('--skip-upstream')) {
    line('ProtobufTraceSerializer', measure((s) => ProtobufTraceSerializer.serializeRequest(s), batches));
  }
}

module.exports = { batch };
