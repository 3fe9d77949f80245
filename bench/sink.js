'use strict';
/**
 * The benchmark's OTLP/HTTP trace receiver: counts spans, and root spans (no parent), without
 * decoding them into objects. It walks the protobuf wire format just deep enough:
 * ExportTraceServiceRequest.resource_spans(1) → ResourceSpans.scope_spans(2) →
 * ScopeSpans.spans(2) → Span.parent_span_id(4) and Span.name(5). OTLP/JSON and gzip are accepted too.
 *
 *   POST /v1/traces  → 200, empty body, Content-Type: application/x-protobuf
 *   GET  /count      → {"spans","roots","exports","bytes","errors","names":{name: count}}
 *   POST /reset      → zeroes the counters
 *
 * Run: `node bench/sink.js` (PORT env, default 0); prints `listening <port>`.
 */
const http = require('node:http');
const zlib = require('node:zlib');

const MAX_NAMES = 64;

const counts = fresh();

function fresh() {
  return { spans: 0, roots: 0, exports: 0, bytes: 0, errors: 0, names: Object.create(null) };
}

/** Reads a varint at `pos`; returns [value, next position]. Throws on truncation. */
function varint(buf, pos) {
  let value = 0;
  let mul = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    value += (b & 0x7f) * mul;
    if (b < 0x80) return [value, pos];
    mul *= 128;
    if (mul > 2 ** 63) throw new Error('varint too long');
  }
}

/**
 * Calls `onField(field, start, end)` for each length-delimited field in buf[start, end) and
 * skips every other wire type.
 */
function eachLenField(buf, start, end, onField) {
  let pos = start;
  while (pos < end) {
    let tag;
    [tag, pos] = varint(buf, pos);
    const wire = tag % 8;
    const field = Math.floor(tag / 8);
    if (wire === 0) {
      [, pos] = varint(buf, pos);
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else if (wire === 2) {
      let len;
      [len, pos] = varint(buf, pos);
      if (pos + len > end) throw new Error('truncated field');
      onField(field, pos, pos + len);
      pos += len;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  if (pos !== end) throw new Error('field overruns its message');
}

function countName(name) {
  if (name in counts.names) counts.names[name]++;
  else if (Object.keys(counts.names).length < MAX_NAMES) counts.names[name] = 1;
  else counts.names['(other)'] = (counts.names['(other)'] || 0) + 1;
}

/** Counts the spans of one protobuf ExportTraceServiceRequest. */
function countProtobuf(buf) {
  eachLenField(buf, 0, buf.length, (f1, s1, e1) => {
    if (f1 !== 1) return; // resource_spans
    eachLenField(buf, s1, e1, (f2, s2, e2) => {
      if (f2 !== 2) return; // scope_spans
      eachLenField(buf, s2, e2, (f3, s3, e3) => {
        if (f3 !== 2) return; // spans
        let parentLen = 0;
        let name = '';
        eachLenField(buf, s3, e3, (f4, s4, e4) => {
          if (f4 === 4) parentLen = e4 - s4;
          else if (f4 === 5) name = buf.toString('utf8', s4, e4);
        });
        counts.spans++;
        if (parentLen === 0) counts.roots++;
        countName(name);
      });
    });
  });
}

/** Counts the spans of one OTLP/JSON ExportTraceServiceRequest. */
function countJson(buf) {
  const body = JSON.parse(buf.toString('utf8'));
  for (const rs of body.resourceSpans || []) {
    for (const ss of rs.scopeSpans || []) {
      for (const s of ss.spans || []) {
        counts.spans++;
        if (!s.parentSpanId) counts.roots++;
        countName(s.name || '');
      }
    }
  }
}

function onExport(req, res, body) {
  try {
    if (/gzip/i.test(req.headers['content-encoding'] || '')) body = zlib.gunzipSync(body);
    counts.bytes += body.length;
    if (/json/i.test(req.headers['content-type'] || '')) {
      countJson(body);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
    } else {
      countProtobuf(body);
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
      res.end();
    }
    counts.exports++;
  } catch (err) {
    counts.errors++;
    process.stderr.write(`sink: bad export: ${err.message}\n`);
    res.writeHead(400, { 'content-length': 0 });
    res.end();
  }
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/count') {
    const text = JSON.stringify(counts);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  if (req.method === 'POST' && req.url === '/reset') {
    Object.assign(counts, fresh());
    res.writeHead(204);
    res.end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'POST' && req.url.startsWith('/v1/traces')) onExport(req, res, Buffer.concat(chunks));
    else {
      res.writeHead(404, { 'content-length': 0 });
      res.end();
    }
  });
});
server.keepAliveTimeout = 60_000;

if (require.main === module) {
  server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
    console.log(`listening ${server.address().port}`);
  });
  process.once('SIGTERM', () => process.exit(0));
}

module.exports = { countProtobuf, counts };
