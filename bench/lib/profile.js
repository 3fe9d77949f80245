'use strict';
// CPU profile of an app under our agent: `node --cpu-prof` while wrk loads it, then a summary of
// where the time went (self time per function, and per owner: the nearest non-Node frame).
const fs = require('node:fs');
const path = require('node:path');
const { start, stop } = require('./proc');
const { wrk } = require('./wrk');
const { fmt, table } = require('./stats');

const REPO = path.resolve(__dirname, '..', '..');

/** Who a script URL belongs to: our agent (dist/ file), a package, the app, or Node itself. */
function owner(url) {
  if (!url) return null;
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

/** Self time per function and per owner from a .cpuprofile. */
function summarizeProfile(profile, top = 30) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) || 0) + dt);
  }
  const byFn = new Map();
  const byOwner = new Map();
  let total = 0;
  let idle = 0;
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
  }
  const busy = total - idle;
  const rows = (m) =>
    [...m.entries()].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => [k.replace(/\|/g, '\\|'), fmt(us / 1000, 0), `${fmt((100 * us) / busy, 1)}%`]);
  return [
    `Busy ${fmt(busy / 1000, 0)} ms of ${fmt(total / 1000, 0)} ms sampled.`,
    '',
    '#### Self time by owner (nearest non-Node frame on the stack)',
    table(['owner', 'self ms', '% of busy'], rows(byOwner), 1),
    '',
    `#### Top ${top} functions by self time`,
    table(['function', 'self ms', '% of busy'], rows(byFn), 1),
  ].join('\n');
}

/** Runs `app` under `variant` with --cpu-prof while wrk loads it; returns markdown. */
async function profileApp(app, variant, { opts, cores, sinkUrl, outDir }) {
  const dir = path.join(outDir, 'profiles');
  fs.mkdirSync(dir, { recursive: true });
  const name = `${app.name}-${variant.name}-${Date.now()}.cpuprofile`;
  const env = { ...variant.env, PORT: '0', OTEL_SERVICE_NAME: `bench-${app.name}` };
  const args = [...(variant.preload ? ['--require', variant.preload] : []), '--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', name, app.file];
  const proc = start(process.execPath, args, { env, cpu: cores.app });
  let closed;
  try {
    const [, port] = await proc.waitFor(/listening (\d+)/, 30_000);
    const url = `http://127.0.0.1:${port}${app.path}`;
    await wrk(url, { seconds: opts.warmup, connections: opts.connections, cpu: cores.load });
    closed = await wrk(url, { seconds: opts.duration, connections: opts.connections, cpu: cores.load });
  } finally {
    await stop(proc);
  }
  const file = path.join(dir, name);
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  return [
    `### CPU profile: ${app.name} under ${variant.name} (${fmt(closed.rps)} req/s while profiled; exporting to ${sinkUrl})`,
    `Profile: ${path.relative(REPO, file)} (open it in Chrome DevTools → Performance, or speedscope).`,
    '',
    summarizeProfile(profile),
  ].join('\n');
}

module.exports = { profileApp, summarizeProfile };
