'use strict';
// CPU profile of an app under our agent: `node --cpu-prof` while wrk loads it, then a summary of
// where the time went (self time per function, and per owner: the nearest non-Node frame).
const fs = require('node:fs');
const path = require('node:path');
const { start, stop, appNode } = require('./proc');
const { wrk } = require('./wrk');
const { fmt, table } = require('./stats');

const REPO = path.resolve(__dirname, '..', '..');

/** Who a script URL belongs to: our agent (dist/ file), a package, the app, or Node itself. */
function owner(url) {
  if (!url) return null;
  if (url.startsWith('wasm://')) return 'wasm (undici llhttp parser)';
  if (url.startsWith('node:') || !url.includes('/')) return null;
  const file = url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = file.slice(nm + 14).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (file.startsWith(path.join(REPO, 'dist') + path.sep)) return `agent ${path.relative(REPO, file)}`;
  if (file.startsWith(path.join(REPO, 'bench') + path.sep)) return 'app';
  return file;
}

/** Code of our agent (dist/) or of its OpenTelemetry and hook dependencies. */
function isAgent(url) {
  return url.includes('/dist/') && url.includes(REPO) ? !url.includes('/node_modules/') : /node_modules\/(@opentelemetry|require-in-the-middle|import-in-the-middle)\//.test(url);
}

/** Self time per function and per owner from a .cpuprofile. */
function summarizeProfile(profile, top = 30) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  // Count samples rather than sum time deltas: on a busy machine a sample taken after the process was
  // descheduled carries the whole wait, which would be charged to whatever function happened to run.
  const interval = [...profile.timeDeltas].sort((a, b) => a - b)[profile.timeDeltas.length >> 1] || 1000;
  const selfUs = new Map();
  for (const id of profile.samples) selfUs.set(id, (selfUs.get(id) || 0) + interval);
  const byFn = new Map();
  const byOwner = new Map();
  let total = 0;
  let idle = 0;
  let asyncHooks = 0;
  const inclusive = new Map();
  for (const [id, us] of selfUs) {
    const n = nodes.get(id);
    const cf = n.callFrame;
    total += us;
    if (cf.functionName === '(idle)') idle += us;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url ? `${path.basename(cf.url)}:${cf.lineNumber + 1}` : ''}`.trim();
    byFn.set(key, (byFn.get(key) || 0) + us);
    // Owner: walk up to the nearest frame outside Node, so Node work the agent asked for counts as the agent's.
    let o = null;
    for (let cur = id; cur !== undefined && o === null; cur = parent.get(cur)) o = owner(nodes.get(cur).callFrame.url);
    const label = o ?? (cf.functionName.startsWith('(') ? cf.functionName : 'node internals (no JS caller)');
    byOwner.set(label, (byOwner.get(label) || 0) + us);
    if (/async_hooks|async_local_storage/.test(cf.url)) asyncHooks += us;
    // Inclusive: each agent function once per sample, wherever it is on the stack.
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const f = nodes.get(cur).callFrame;
      if (!isAgent(f.url)) continue;
      const k = `${f.functionName || '(anonymous)'} ${path.basename(f.url)}:${f.lineNumber + 1}`;
      if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) || 0) + us);
      seen.add(k);
    }
  }
  const busy = total - idle;
  const rows = (m) =>
    [...m.entries()].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => [k.replace(/\|/g, '\\|'), fmt(us / 1000, 0), `${fmt((100 * us) / busy, 1)}%`]);
  return [
    `${fmt(total / interval)} samples every ${fmt(interval)} µs; busy (not idle) ${fmt(busy / 1000, 0)} ms. Times below are samples × interval.`,
    '',
    '#### Self time by owner (nearest non-Node frame on the stack)',
    table(['owner', 'self ms', '% of busy'], rows(byOwner), 1),
    '',
    `#### Top ${top} functions by self time`,
    table(['function', 'self ms', '% of busy'], rows(byFn), 1),
    '',
    `Self time in Node's async_hooks / AsyncLocalStorage code (the context manager's machinery): ${fmt(asyncHooks / 1000, 0)} ms, ${fmt((100 * asyncHooks) / busy, 1)}% of busy.`,
    '',
    '#### Agent functions by inclusive time (what runs under them, app code included for wrappers)',
    table(['function', 'inclusive ms', '% of busy'], rows(inclusive).slice(0, 20), 1),
  ].join('\n');
}

/** Runs `app` under `variant` with --cpu-prof while wrk loads it; returns markdown. */
async function profileApp(app, variant, { opts, cores, sinkUrl, outDir, extraEnv }) {
  const dir = path.join(outDir, 'profiles');
  fs.mkdirSync(dir, { recursive: true });
  const name = `${app.name}-${variant.name}-${Date.now()}.cpuprofile`;
  const env = { ...variant.env, ...extraEnv, PORT: '0', OTEL_SERVICE_NAME: `bench-${app.name}` };
  const args = [...(variant.preload ? ['--require', variant.preload] : []), '--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', name, app.file];
  const proc = start(appNode.path, args, { env, cpu: cores.app });
  let closed;
  try {
    const [, port] = await proc.waitFor(/listening (\d+)/, 30_000);
    const url = `http://127.0.0.1:${port}${app.path}`;
    const first = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    if (first.status !== 200) throw new Error(`first request answered ${first.status}: ${(await first.text()).slice(0, 300)}`);
    await wrk(url, { seconds: opts.warmup, connections: opts.connections, cpu: cores.load });
    closed = await wrk(url, { seconds: opts.duration, connections: opts.connections, cpu: cores.load });
  } finally {
    await stop(proc);
  }
  const file = path.join(dir, name);
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  return [
    `### CPU profile: ${app.name} under ${variant.name} (${fmt(closed.rps)} req/s while profiled${closed.non2xx + closed.socketErrors ? `, ${closed.non2xx} non-2xx and ${closed.socketErrors} socket errors` : ''}${variant.preload ? `; exporting to ${sinkUrl}` : ''})`,
    `Profile: ${path.relative(REPO, file)} (open it in Chrome DevTools → Performance, or speedscope).`,
    '',
    summarizeProfile(profile),
  ].join('\n');
}

module.exports = { profileApp, summarizeProfile };
