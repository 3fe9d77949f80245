'use strict';
// Requests to a fixture app that can be matched to their server spans: each
// carries a traceparent with a fresh trace id, which the server span inherits.
const crypto = require('node:crypto');
const { request } = require('./run');

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

module.exports = { tracedRequest, sendAll, serverSpansFor, seen };
