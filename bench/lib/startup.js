'use strict';
// Start-up cost: `node -e 0` with and without a preload, and an express app's time to listen.
const path = require('node:path');
const { start, appNode } = require('./proc');
const { median } = require('./stats');

const EXPRESS_APP = path.join(__dirname, '..', 'apps', 'express.js');

/** Wall time (ms) from spawn to exit of `node <args>`, pinned to `cpu`. */
async function timeExit(args, env, cpu) {
  const t0 = performance.now();
  const p = start(appNode.path, args, { env, cpu });
  const { code } = await p.exited;
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited ${code}: ${p.err().slice(-1000)}`);
  return performance.now() - t0;
}

/** Wall time (ms) from spawn to the app's `listening` line; the app is then killed. */
async function timeListen(args, env, cpu) {
  const t0 = performance.now();
  const p = start(appNode.path, [...args, EXPRESS_APP], { env, cpu });
  await p.waitFor(/listening \d+/, 30_000);
  const t = performance.now() - t0;
  p.child.kill('SIGKILL');
  await p.exited;
  return t;
}

/**
 * Measures every case `runs` times, interleaved, and returns medians in ms.
 * @param variants [{name, preload, env}] agent variants; 'none' is added here
 */
async function measureStartup(variants, { runs, cpu, baseEnv }) {
  const cases = [{ name: 'none', args: [], env: baseEnv }];
  for (const v of variants) {
    cases.push({ name: v.name, args: ['--require', v.preload], env: v.env });
    if (v.name === 'ours') {
      cases.push({ name: 'ours (OTEL_SDK_DISABLED=true)', args: ['--require', v.preload], env: { ...v.env, OTEL_SDK_DISABLED: 'true' } });
    }
  }
  const exit = new Map(cases.map((c) => [c.name, []]));
  const listen = new Map(cases.map((c) => [c.name, []]));
  // One untimed pass first: the first spawn pays for a cold file cache.
  for (const c of cases) await timeExit([...c.args, '-e', '0'], c.env, cpu);
  for (let i = 0; i < runs; i++) {
    for (const c of cases) {
      exit.get(c.name).push(await timeExit([...c.args, '-e', '0'], c.env, cpu));
      listen.get(c.name).push(await timeListen(c.args, c.env, cpu));
    }
  }
  const base = { exit: median(exit.get('none')), listen: median(listen.get('none')) };
  return cases.map((c) => {
    const e = median(exit.get(c.name));
    const l = median(listen.get(c.name));
    return { name: c.name, exitMs: e, addedExitMs: e - base.exit, listenMs: l, addedListenMs: l - base.listen };
  });
}

module.exports = { measureStartup };
