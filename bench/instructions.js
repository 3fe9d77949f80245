'use strict';
/**
 * Instructions per request, counted by valgrind's callgrind: an A/B measure that does not depend on
 * what else the machine is doing (two runs of the same build agree to about ±0.5%), for changes
 * too small for `npm run bench` to see through its noise (a few hundred nanoseconds a request).
 *
 *   node bench/instructions.js [--app http] [--variant NAME=FILE]... [--warmup 16000] [--requests 8000]
 *
 * Each variant (default: `none` and `ours` = dist/register.js) runs the app under
 * `valgrind --tool=callgrind` with `node --single-threaded --perf-basic-prof` (V8 compiles on the
 * main thread, and writes the perf map that names JIT code). A client in this process sends
 * `--warmup` requests on `--connections` keep-alive connections, zeroes the counters
 * (`callgrind_control --zero`), sends `--requests` more on the same connections (new connections
 * after warm-up made V8 deoptimize and recompile, which inflated the count), and dumps. Spans go to
 * bench/sink.js as in `npm run bench`. It prints, per variant, the main thread's instructions per
 * request, the part of them spent in V8's compilers (what is left of warm-up), and the functions
 * whose self cost differs most from `--against` (default: the first variant).
 *
 * Needs valgrind (on this machine) and takes about 2 minutes a variant (`--jobs 2` runs two at once).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const { spawnSync } = require('node:child_process');
const { start, stop, cleanEnv } = require('./lib/proc');
const { sinkClient } = require('./lib/load');
const { fmt, signed, table } = require('./lib/stats');

const REPO = path.resolve(__dirname, '..');
const HELP = `usage: node bench/instructions.js [options]
  --app NAME            http, express, fastify, express-pg, express-fetch (default http)
  --variant NAME=FILE   a preload to count (repeatable); default: none and ours (dist/register.js);
                        NAME=none is the app without an agent; with --from, NAME alone picks one
  --against NAME        the variant the function table compares with (default: the first)
  --warmup N            requests before counting (default 16000)
  --requests N          requests counted (default 8000)
  --connections N       keep-alive connections (default 4)
  --top N               rows of the function table (default 25)
  --jobs N              variants run at once, each on its own core (default 1)
  --node-option OPT     a node or V8 option for every variant (repeatable), e.g.
                        --node-option --min-semi-space-size=16 --node-option --max-semi-space-size=16
                        to count at a young generation of one size: V8 grows it as bytes survive
                        scavenges, so builds that keep fewer scavenge more often, early in a run
  --out DIR             where callgrind files and perf maps go (default a temp folder, kept)
  --from DIR            count nothing: report on the files an earlier run left in DIR (its --out)`;

function parseArgs(argv) {
  const o = { app: 'http', variants: [], nodeOptions: [], warmup: 16000, requests: 8000, connections: 4, top: 25, jobs: 1, against: undefined, out: undefined, from: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--app': o.app = val(); break;
      case '--variant': {
        const v = val();
        const eq = v.indexOf('=');
        if (eq === -1) { o.variants.push({ name: v }); break; } // with --from: that run's variant
        o.variants.push({ name: v.slice(0, eq), preload: v.slice(eq + 1) === 'none' ? null : path.resolve(v.slice(eq + 1)) });
        break;
      }
      case '--against': o.against = val(); break;
      case '--warmup': o.warmup = Number(val()); break;
      case '--requests': o.requests = Number(val()); break;
      case '--connections': o.connections = Number(val()); break;
      case '--top': o.top = Number(val()); break;
      case '--jobs': o.jobs = Math.max(1, Number(val())); break;
      case '--node-option': o.nodeOptions.push(val()); break;
      case '--out': o.out = path.resolve(val()); break;
      case '--from': o.from = path.resolve(val()); break;
      case '-h': case '--help': console.log(HELP); process.exit(0); break;
      default: throw new Error(`unknown option ${a}\n${HELP}`);
    }
  }
  if (o.from && o.variants.length === 0) {
    for (const d of fs.readdirSync(o.from).sort()) if (fs.existsSync(path.join(o.from, d, 'info.json'))) o.variants.push(JSON.parse(fs.readFileSync(path.join(o.from, d, 'info.json'), 'utf8')));
  }
  if (o.variants.length === 0) o.variants.push({ name: 'none', preload: null }, { name: 'ours', preload: path.join(REPO, 'dist', 'register.js') });
  for (const v of o.variants) {
    if (!o.from && v.preload === undefined) throw new Error(`--variant NAME=FILE, got ${v.name} (a name alone picks a variant of --from)`);
    if (!o.from && v.preload && !fs.existsSync(v.preload)) throw new Error(`${v.name}: ${v.preload} not found`);
  }
  if (!fs.existsSync(path.join(__dirname, 'apps', `${o.app}.js`))) throw new Error(`unknown app ${o.app}`);
  o.against ??= o.variants[0].name;
  return o;
}

/** `count` requests for `path` on each of `sockets` in turn, one outstanding per socket. */
function load(sockets, count, reqPath, port) {
  const request = Buffer.from(`GET ${reqPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  let sent = 0;
  return Promise.all(sockets.map((s) => new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const next = () => {
      if (sent >= count) return finish();
      sent++;
      s.write(request);
    };
    const onData = (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 200')) return finish(new Error(`answered: ${head.split('\r\n')[0]}`));
        const m = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (!m) return finish(new Error('response without content-length'));
        const total = end + 4 + Number(m[1]);
        if (buf.length < total) return;
        buf = buf.subarray(total);
        next();
      }
    };
    const onError = (e) => finish(e);
    function finish(err) {
      s.off('data', onData);
      s.off('error', onError);
      if (err) reject(err);
      else resolve();
    }
    s.on('data', onData);
    s.on('error', onError);
    next();
  })));
}

function connect(port, n) {
  return Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.setNoDelay(true);
    s.once('error', reject);
  })));
}

/** Runs one variant under callgrind; resolves with the dump's path and the perf map's. */
async function count(app, variant, ctx) {
  const { opts, sinkUrl, appEnv, cpu } = ctx;
  const dir = path.join(opts.out, variant.name);
  fs.mkdirSync(dir, { recursive: true });
  const env = { ...cleanEnv(), ...appEnv, PORT: '0', OTEL_SERVICE_NAME: `bench-${app}` };
  if (variant.preload) env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = sinkUrl;
  const node = ['--single-threaded', '--perf-basic-prof', ...opts.nodeOptions, ...(variant.preload ? ['--require', variant.preload] : []), path.join(__dirname, 'apps', `${app}.js`)];
  const vg = ['--tool=callgrind', '--separate-threads=yes', '--smc-check=all', `--callgrind-out-file=${path.join(dir, 'cg.out')}`, process.execPath, ...node];
  // cwd: V8 may write isolate-*.log files there.
  const proc = start('valgrind', vg, { env, cpu, cwd: dir });
  try {
    const [, port] = await proc.waitFor(/listening (\d+)/, 300_000);
    const pid = proc.child.pid;
    const sockets = await connect(Number(port), opts.connections);
    const reqPath = '/hello/bench';
    await load(sockets, opts.warmup, reqPath, port);
    control(['--zero', String(pid)]);
    await load(sockets, opts.requests, reqPath, port);
    control(['--dump', String(pid)]);
    for (const s of sockets) s.destroy();
    const perfMap = `/tmp/perf-${pid}.map`;
    await stop(proc, 60_000);
    const dump = fs.readdirSync(dir).filter((f) => /^cg\.out\.1-\d+$/.test(f)).sort();
    if (dump.length === 0) throw new Error(`no callgrind dump in ${dir}; stderr:\n${proc.err().slice(-2000)}`);
    if (fs.existsSync(perfMap)) fs.renameSync(perfMap, path.join(dir, 'perf.map'));
    fs.writeFileSync(path.join(dir, 'info.json'), JSON.stringify({ ...variant, app, warmup: opts.warmup, requests: opts.requests, connections: opts.connections }));
    return { name: variant.name, preload: variant.preload, dir, main: path.join(dir, dump[0]), threads: dump.map((f) => path.join(dir, f)) };
  } catch (err) {
    await stop(proc, 5000);
    throw err;
  }
}

function control(args) {
  const r = spawnSync('callgrind_control', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

/** Sorted `[start, end, name]` from a perf map (later entries win where code was replaced). */
function readPerfMap(file) {
  if (!fs.existsSync(file)) return [];
  const rows = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) rows.push([parseInt(m[1], 16), parseInt(m[1], 16) + parseInt(m[2], 16), m[3]]);
  }
  return rows.sort((a, b) => a[0] - b[0]);
}

function lookup(map, addr) {
  let lo = 0;
  let hi = map.length - 1;
  let hit;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (map[mid][0] <= addr) {
      hit = map[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return hit && addr < hit[1] ? hit[2] : undefined;
}

/** A function's name with what varies between builds and tiers taken out (tier marks, line and column). */
function normalize(name) {
  const m = /^(?:(JS|LazyCompile|Function|Builtin|Script|Eval|RegExp|Stub|Handler|BytecodeHandler):)?[*~^+]?(.*?)(?: (\S+?)(?::\d+){1,2})?$/.exec(name);
  if (!m) return name;
  const [, kind, fn, where] = m;
  const label = kind === 'Builtin' || kind === 'Stub' || kind === 'RegExp' ? `${kind}:${fn}` : fn || '(anonymous)';
  if (!where) return label;
  const file = where.replace(/^file:\/\//, '');
  // Builds of the agent kept elsewhere in the repo (bench/results/dist-base/...) count as dist/.
  const rel = file.startsWith(REPO + path.sep) ? path.relative(REPO, file).replace(/^(?:.*\/)?dist[^/]*\//, 'dist/') : file;
  return `${label} ${rel}`;
}

/** A full (mark-compact) collection: when one lands in the counted requests, its cost varies from run to run. */
const MAJOR_GC = /v8::internal::(MarkCompactCollector|MainMarkingVisitor|MarkingVisitorBase|MarkingBarrier|Sweeper|LiveObjectRange|MarkingWorklist|ConcurrentMarking|IncrementalMarking)/;

const COMPILER = /v8::internal::(compiler|maglev|baseline|Compiler|Parser|ParserBase|Scanner|interpreter::BytecodeGenerator|wasm)\b|^Builtin:CompileLazy/;

/** Self cost per (normalized) function and the total, from one callgrind file. */
function selfCosts(file, map) {
  const names = new Map();
  const self = new Map();
  let fn = '';
  let skipNext = false;
  let total = 0;
  const text = fs.readFileSync(file, 'utf8');
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const c = line.charCodeAt(0);
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) {
      if (skipNext) {
        skipNext = false; // a call's inclusive cost, not this function's own
        continue;
      }
      const sp = line.indexOf(' ');
      const ir = sp === -1 ? 0 : Number(line.slice(sp + 1).split(' ')[0]) || 0;
      self.set(fn, (self.get(fn) ?? 0) + ir);
      total += ir;
    } else if (line.startsWith('fn=')) {
      const m = /^fn=\((\d+)\)(?: (.*))?$/.exec(line);
      if (m && m[2] !== undefined) names.set(m[1], m[2]);
      fn = m ? names.get(m[1]) : line.slice(3);
    } else if (line.startsWith('cfn=')) {
      const m = /^cfn=\((\d+)\) (.*)$/.exec(line);
      if (m) names.set(m[1], m[2]);
    } else if (line.startsWith('calls=')) {
      skipNext = true;
    }
  }
  const byName = new Map();
  for (const [fnName, ir] of self) {
    const raw = fnName.replace(/'\d+$/, ''); // callgrind's mark for a recursion level
    const jit = /^0x([0-9a-f]+)$/.exec(raw);
    const name = jit ? normalize(lookup(map, parseInt(jit[1], 16)) ?? 'JIT code (unnamed)') : raw;
    byName.set(name, (byName.get(name) ?? 0) + ir);
  }
  return { total, byName };
}

/** Runs every variant (`--jobs` at a time); resolves with what `count` found for each. */
async function measure(opts) {
  if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('valgrind is missing (apt-get install -y valgrind)');
  opts.out ??= fs.mkdtempSync(path.join(os.tmpdir(), 'otel-instructions-'));
  const sinkProc = start(process.execPath, [path.join(__dirname, 'sink.js')], { env: cleanEnv() });
  const sink = sinkClient((await sinkProc.waitFor(/listening (\d+)/, 10_000))[1]);
  let downstream;
  const appEnv = {};
  try {
    if (opts.app === 'express-fetch') {
      downstream = start(process.execPath, [path.join(__dirname, 'apps', 'downstream.js')], { env: cleanEnv() });
      appEnv.DOWNSTREAM_URL = `http://127.0.0.1:${(await downstream.waitFor(/listening (\d+)/, 10_000))[1]}/`;
    }
    const results = [];
    const queue = [...opts.variants];
    const cores = Math.min(opts.jobs, os.cpus().length);
    await Promise.all(Array.from({ length: cores }, async (_, cpu) => {
      while (queue.length) {
        const v = queue.shift();
        console.error(`${v.name}: counting ${opts.app} (${opts.warmup} + ${opts.requests} requests) on core ${cpu}...`);
        results.push(await count(opts.app, v, { opts, sinkUrl: sink.tracesUrl, appEnv, cpu }));
      }
    }));
    return opts.variants.map((v) => results.find((r) => r.name === v.name));
  } finally {
    if (downstream) await stop(downstream, 2000);
    await stop(sinkProc, 2000);
  }
}

/** What an earlier run left in `dir` (one folder per variant). */
function earlier(opts) {
  return opts.variants.map((variant) => {
    let v = variant;
    const dir = path.join(opts.from, v.name);
    const info = path.join(dir, 'info.json');
    if (fs.existsSync(info)) v = { ...JSON.parse(fs.readFileSync(info, 'utf8')), ...v };
    const dump = fs.readdirSync(dir).filter((f) => /^cg\.out\.1-\d+$/.test(f)).sort();
    if (dump.length === 0) throw new Error(`no callgrind dump in ${dir}`);
    Object.assign(opts, { app: v.app ?? opts.app, warmup: v.warmup ?? opts.warmup, requests: v.requests ?? opts.requests, connections: v.connections ?? opts.connections });
    return { name: v.name, preload: v.preload, dir, main: path.join(dir, dump[0]) };
  });
}

function report(opts, order) {
  const per = (x) => x / opts.requests;
  const costs = order.map((r) => {
    const c = selfCosts(r.main, readPerfMap(path.join(r.dir, 'perf.map')));
    let compile = 0;
    let gc = 0;
    for (const [name, ir] of c.byName) {
      if (COMPILER.test(name)) compile += ir;
      else if (MAJOR_GC.test(name)) gc += ir;
    }
    return { ...r, ...c, compile, gc };
  });
  const base = costs.find((c) => c.name === opts.against) ?? costs[0];
  const out = [
    `# Instructions per request: ${opts.app}, node ${process.version}, ${opts.requests} requests counted after ${opts.warmup}, ${opts.connections} keep-alive connections${opts.nodeOptions.length ? `, node options ${opts.nodeOptions.join(' ')}` : ''}`,
    '',
    table(
      ['variant', 'preload', 'main thread Ir/request', `vs ${base.name}`, 'of which V8 compilers', 'of which mark-compact GC', 'without either'],
      costs.map((c) => [c.name, c.preload ? path.relative(REPO, c.preload) : '–', fmt(per(c.total)),
        c === base ? '' : `${signed(per(c.total - base.total))} (${signed((100 * (c.total - base.total)) / base.total, 1)}%)`,
        fmt(per(c.compile)), fmt(per(c.gc)), fmt(per(c.total - c.compile - c.gc))]),
    ),
    '',
    'A mark-compact collection or recompilation inside the counted requests varies between runs of the same build; ' +
      'compare the last column then, or count again.',
  ];
  for (const c of costs) {
    if (c === base) continue;
    const names = new Set([...c.byName.keys(), ...base.byName.keys()]);
    const rows = [...names].map((n) => [n, (c.byName.get(n) ?? 0) - (base.byName.get(n) ?? 0), c.byName.get(n) ?? 0]);
    rows.sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]));
    out.push('', `## Self cost, ${c.name} against ${base.name} (Ir per request, largest differences)`, '',
      table(['function', c.name, 'difference'], rows.slice(0, opts.top).map(([n, d, v]) => [n.replace(/\|/g, '\\|').slice(0, 110), fmt(per(v)), signed(per(d))]), 1));
  }
  out.push('', `Callgrind files and perf maps: ${opts.from ?? opts.out}`);
  return out.join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const results = opts.from ? earlier(opts) : await measure(opts);
  console.log(report(opts, results));
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
