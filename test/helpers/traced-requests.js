'use strict';
// Requests to a fixture app that can be matched to their server spans: each
// carries a traceparent with a fresh trace id, which the server span inherits.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');
const { request, runFixture } = require('./run');

/**
 * Sends `path` to `base` with a fresh trace id.
 * @param {string} base e.g. http://127.0.0.1:1234
 * @param {string} path
 * @param {{ method?: string, headers?: Record<string, string>, body?: string }} [init]
 * @returns {Promise<{ traceId: string, parentId: string, status: number, headers: Record<string, string>, body: string }>}
 */
async function tracedRequest(base, path, init = {}) {
  const traceId = crypto.randomBytes(16).toString('hex');
  const parentId = crypto.randomBytes(8).toString('hex');
  const res = await request(base + path, { ...init, headers: { ...init.headers, traceparent: `00-${traceId}-${parentId}-01` } });
  return { traceId, parentId, ...res };
}

/**
 * Sends every request of `table` (`{ key: { path, method?, headers?, body? } }`)
 * one after the other; resolves `{ key: response }`.
 */
async function sendAll(base, table) {
  const out = {};
  for (const [key, req] of Object.entries(table)) out[key] = await tracedRequest(base, req.path, req);
  return out;
}

/**
 * Waits until every response of `responses` has its SERVER span (the one whose
 * parent is the request's traceparent, not a server span of a downstream call
 * to the same app); returns `{ key: { server, trace } }`, `trace` being all
 * spans of that trace received so far.
 */
async function serverSpansFor(collector, responses, timeoutMs = 10000) {
  const isServerOf = (r) => (s) => s.traceId === r.traceId && s.kind === 'SERVER' && s.parentSpanId === r.parentId;
  const list = Object.values(responses);
  const all = await collector.waitForSpans((spans) => list.every((r) => spans.some(isServerOf(r))), timeoutMs);
  const byKey = {};
  for (const [key, r] of Object.entries(responses)) {
    byKey[key] = { server: all.find(isServerOf(r)), trace: all.filter((s) => s.traceId === r.traceId) };
  }
  return byKey;
}

/** The status, content type and body a client sees, for comparing a run with the agent to one without. */
function seen(res) {
  return { status: res.status, type: res.headers['content-type'], body: res.body };
}

/**
 * `serve(version, table, { mode, env })` for a framework fixture: runs `script` (mode `require` or
 * `none`) against test/versions/<version>, exporting to `collector()`, sends `table` and resolves
 * the responses and the fixture's handle.
 */
function frameworkServer(script, collector) {
  return async function serve(version, table, { mode = 'require', env = {} } = {}) {
    const handle = runFixture({
      script,
      mode,
      env: { FRAMEWORK_DIR: path.join(__dirname, '..', 'versions', version), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector().tracesUrl, ...env },
    });
    const port = await handle.waitForPort();
    const responses = await sendAll(`http://127.0.0.1:${port}`, table);
    return { responses, handle };
  };
}

/**
 * Each error of `errors` (`{ status, type, message, route?, frame? }` by request key) answered with
 * its status and recorded once on its server span (type, message, stack trace from `frame`); the
 * span is named by the route when there is one; status ERROR only for 5xx.
 */
function assertErrorsRecorded(spans, responses, errors) {
  for (const [key, e] of Object.entries(errors)) {
    const { server } = spans[key];
    assert.equal(responses[key].status, e.status, key);
    assert.equal(server.name, e.route ? `GET ${e.route}` : 'GET', key);
    const events = server.events.filter((ev) => ev.name === 'exception');
    assert.equal(events.length, 1, `${key}: one exception event`);
    assert.equal(events[0].attributes['exception.type'], e.type, key);
    assert.equal(events[0].attributes['exception.message'], e.message, key);
    assert.match(events[0].attributes['exception.stacktrace'], new RegExp(`^${e.type}: ${e.message}\\n\\s+at (\\S+\\.)?${e.frame || ''}`), key);
    if (e.status >= 500) assert.deepEqual(server.status, { code: 'ERROR', message: e.message }, key);
    else assert.notEqual(server.status.code, 'ERROR', key);
  }
}

module.exports = { tracedRequest, sendAll, serverSpansFor, seen, frameworkServer, assertErrorsRecorded };
