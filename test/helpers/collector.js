'use strict';

const http = require('node:http');
const path = require('node:path');
const zlib = require('node:zlib');
const protobuf = require('protobufjs');

const PROTO_DIR = path.join(__dirname, 'proto');

const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUS_CODES = ['UNSET', 'OK', 'ERROR'];

/** The request and response types, parsed once from test/helpers/proto. */
const { Request, Response } = (() => {
  const root = new protobuf.Root();
  // The .proto imports are rooted at PROTO_DIR, not relative to the importing file.
  root.resolvePath = (origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target));
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  root.resolveAll();
  return {
    Request: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    Response: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
  };
})();

/**
 * Turns an ExportTraceServiceRequest body into normalized spans.
 * Both encodings are first brought to the same plain shape (camelCase keys,
 * int64 as string or number, enums as numbers or names); only ids and bytes
 * differ: Buffers in protobuf, hex (ids) and base64 (bytes) strings in OTLP/JSON.
 * @param {Buffer} body uncompressed body
 * @param {boolean} json whether the body is OTLP/JSON
 * @returns {object[]}
 */
function decodeSpans(body, json) {
  const plain = json
    ? JSON.parse(body.toString('utf8'))
    : Request.toObject(Request.decode(body), { longs: String, enums: Number });
  const codec = json
    ? { hex: (v) => String(v).toLowerCase(), size: (v) => String(v).length / 2, bytes: (v) => Buffer.from(v, 'base64') }
    : { hex: (v) => Buffer.from(v).toString('hex'), size: (v) => v.length, bytes: (v) => Buffer.from(v) };
  const spans = [];
  for (const rs of plain.resourceSpans || []) {
    const resource = attributesOf(rs.resource && rs.resource.attributes, codec);
    for (const ss of rs.scopeSpans || []) {
      const scope = { name: (ss.scope && ss.scope.name) || '', version: (ss.scope && ss.scope.version) || '' };
      for (const s of ss.spans || []) spans.push(normalizeSpan(s, resource, scope, codec));
    }
  }
  return spans;
}

function normalizeSpan(s, resource, scope, codec) {
  const status = s.status || {};
  return {
    traceId: s.traceId ? codec.hex(s.traceId) : '',
    spanId: s.spanId ? codec.hex(s.spanId) : '',
    parentSpanId: s.parentSpanId ? codec.hex(s.parentSpanId) : '',
    parentSpanIdBytes: s.parentSpanId ? codec.size(s.parentSpanId) : 0,
    name: s.name || '',
    kind: enumName(s.kind, KINDS, 'SPAN_KIND_'),
    startTimeUnixNano: BigInt(s.startTimeUnixNano || 0),
    endTimeUnixNano: BigInt(s.endTimeUnixNano || 0),
    attributes: attributesOf(s.attributes, codec),
    droppedAttributesCount: s.droppedAttributesCount || 0,
    events: (s.events || []).map((e) => ({
      name: e.name || '',
      timeUnixNano: BigInt(e.timeUnixNano || 0),
      attributes: attributesOf(e.attributes, codec),
    })),
    links: (s.links || []).map((l) => ({
      traceId: l.traceId ? codec.hex(l.traceId) : '',
      spanId: l.spanId ? codec.hex(l.spanId) : '',
      traceState: l.traceState || '',
      attributes: attributesOf(l.attributes, codec),
    })),
    status: { code: enumName(status.code, STATUS_CODES, 'STATUS_CODE_'), message: status.message || '' },
    resource,
    scope,
    traceState: s.traceState || '',
    flags: s.flags || 0,
  };
}

/** OTLP/JSON may carry an enum as its number or its full name. */
function enumName(value, names, prefix) {
  if (typeof value === 'string') return value.startsWith(prefix) ? value.slice(prefix.length) : value;
  return names[value || 0] || String(value);
}

function attributesOf(list, codec) {
  const out = {};
  for (const kv of list || []) out[kv.key] = anyValue(kv.value, codec);
  return out;
}

function anyValue(v, codec) {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.arrayValue !== undefined) return (v.arrayValue.values || []).map((x) => anyValue(x, codec));
  if (v.kvlistValue !== undefined) return attributesOf(v.kvlistValue.values, codec);
  if (v.bytesValue !== undefined) return codec.bytes(v.bytesValue);
  return undefined;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * Starts an OTLP/HTTP trace collector on 127.0.0.1 at a free port.
 * It accepts POST /v1/traces as `application/x-protobuf` or `application/json`,
 * optionally gzip-compressed, and answers with an empty ExportTraceServiceResponse
 * in the request's encoding.
 *
 * @param {object} [options]
 * @param {number | ((request: object) => number)} [options.status=200] HTTP status to
 *   answer with; a function receives the recorded request (see `requests`) and is
 *   asked once per request. Spans are kept only from requests answered 2xx.
 * @param {number} [options.delayMs=0] wait this long before answering.
 * @returns {Promise<{
 *   url: string, tracesUrl: string, requests: object[],
 *   spans(): object[], waitForSpans(predicateOrCount: number | ((spans: object[]) => boolean), timeoutMs?: number): Promise<object[]>,
 *   reset(): void, close(): Promise<void>
 * }>}
 */
async function startCollector(options = {}) {
  const { status = 200, delayMs = 0 } = options;
  const requests = [];
  let received = [];
  const waiters = new Set();
  const timers = new Set();

  const notify = () => {
    for (const waiter of waiters) waiter();
  };

  const handle = async (req, res) => {
    const raw = await readBody(req);
    const contentType = String(req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
    const record = { method: req.method, path: req.url, headers: req.headers, contentType, bytes: raw };
    requests.push(record);
    notify();

    const json = contentType === 'application/json';
    let code = typeof status === 'function' ? status(record) : status;
    let spans = [];
    let error = '';
    if (req.method !== 'POST' || req.url.split('?')[0] !== '/v1/traces') {
      code = 404;
      error = 'only POST /v1/traces is served';
    } else if (!json && contentType !== 'application/x-protobuf') {
      code = 415;
      error = `unsupported content-type ${JSON.stringify(contentType)}`;
    } else if (code >= 200 && code < 300) {
      try {
        const gzip = String(req.headers['content-encoding'] || '').toLowerCase() === 'gzip';
        spans = decodeSpans(gzip ? zlib.gunzipSync(raw) : raw, json);
      } catch (err) {
        code = 400;
        error = `cannot decode request: ${err.message}`;
      }
    }

    if (delayMs > 0) {
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, delayMs);
        timers.add(timer);
      });
    }
    // A client that gave up waiting never saw the 2xx, so its spans do not count.
    if (res.destroyed) return;
    if (code >= 200 && code < 300) {
      received = received.concat(spans);
      notify();
    }
    if (error) record.error = error;
    const body = code >= 200 && code < 300 ? (json ? Buffer.from('{}') : Buffer.from(Response.encode({}).finish())) : Buffer.from(error);
    res.writeHead(code, {
      'content-type': error ? 'text/plain' : json ? 'application/json' : 'application/x-protobuf',
      'content-length': body.length,
    });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err && err.stack));
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;

  const collector = {
    url,
    tracesUrl: `${url}/v1/traces`,
    requests,

    /** All normalized spans received in 2xx-answered requests, in arrival order. */
    spans: () => received.slice(),

    /**
     * Resolves with `spans()` once `spans().length >= count`, or once
     * `predicate(spans())` is true; rejects after `timeoutMs` naming the spans seen.
     */
    waitForSpans(predicateOrCount, timeoutMs = 10000) {
      const done =
        typeof predicateOrCount === 'function'
          ? () => predicateOrCount(received.slice())
          : () => received.length >= predicateOrCount;
      const wanted = typeof predicateOrCount === 'function' ? 'the predicate to hold' : `${predicateOrCount} span(s)`;
      return new Promise((resolve, reject) => {
        const check = () => {
          let ok;
          try {
            ok = done();
          } catch (err) {
            finish();
            return reject(err);
          }
          if (ok) {
            finish();
            resolve(received.slice());
          }
        };
        const timer = setTimeout(() => {
          finish();
          const names = received.map((s) => `${s.name} (${s.kind})`);
          reject(
            new Error(
              `waitForSpans: timed out after ${timeoutMs} ms waiting for ${wanted}; ` +
                `${requests.length} request(s), ${names.length} span(s) received: ` +
                (names.length ? names.join(', ') : '(none)'),
            ),
          );
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },

    /** Forgets all recorded requests and spans. */
    reset() {
      requests.length = 0;
      received = [];
    },

    /** Stops listening and drops open (keep-alive) connections. */
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return collector;
}

module.exports = { startCollector };
