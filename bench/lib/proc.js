'use strict';
// Child processes for the benchmark: start (optionally pinned to a core), wait for a line, read
// CPU time and memory from /proc, stop gracefully.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');

const hasTaskset = spawnSync('taskset', ['-V']).status === 0;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** `[cmd, args]` run on `cpu` (a core number or list) when taskset exists. */
function pinned(cpu, cmd, args) {
  if (!hasTaskset || cpu === undefined || cpu === null) return [cmd, args];
  return ['taskset', ['-c', String(cpu), cmd, ...args]];
}

/** Pins this process (the harness) to `cpu`, so it stays off the app's core. */
function pinSelf(cpu) {
  if (hasTaskset) spawnSync('taskset', ['-pc', String(cpu), String(process.pid)]);
}

/**
 * Starts a process; `taskset` execs, so `child.pid` is the pinned program's own pid.
 * @returns {{child, out: () => string, err: () => string, waitFor: (re: RegExp, ms: number) => Promise<RegExpMatchArray>, exited: Promise<{code, signal}>}}
 */
function start(cmd, args, { env, cpu, cwd } = {}) {
  const [c, a] = pinned(cpu, cmd, args);
  const child = spawn(c, a, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const watchers = new Set();
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    out += d;
    for (const w of watchers) w();
  });
  child.stderr.on('data', (d) => {
    // Keep the tail only: a chatty agent must not grow the harness.
    err = (err + d).slice(-20_000);
  });
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  let hasExited = false;
  exited.then(() => {
    hasExited = true;
    for (const w of watchers) w();
  });
  const waitFor = (re, ms) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`timed out after ${ms} ms waiting for ${re}`)), ms);
      const check = () => {
        const m = re.exec(out);
        if (m) done(null, m);
        else if (hasExited) done(new Error(`exited before printing ${re}; stderr:\n${err.slice(-2000)}`));
      };
      function done(e, m) {
        clearTimeout(timer);
        watchers.delete(check);
        if (e) reject(e);
        else resolve(m);
      }
      watchers.add(check);
      check();
    });
  return { child, out: () => out, err: () => err, waitFor, exited, hasExited: () => hasExited };
}

/** Sends SIGTERM, then SIGKILL after `ms` if the process is still there. */
async function stop(proc, ms = 15_000) {
  if (proc.hasExited()) return proc.exited;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), ms);
  const r = await proc.exited;
  clearTimeout(timer);
  return r;
}

/** The process's user+system CPU time in ms (/proc/<pid>/stat utime + stime). */
function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm may contain spaces: fields count from after the closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** Resident memory in MB: current (VmRSS) and peak (VmHWM). */
function memory(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/** Runs a command to completion, pinned; resolves with its stdout, stderr and code. */
function run(cmd, args, opts = {}) {
  const p = start(cmd, args, opts);
  return p.exited.then(({ code, signal }) => ({ code, signal, stdout: p.out(), stderr: p.err() }));
}

/** The environment without the caller's OTEL_* settings and NODE_OPTIONS, so runs see defaults only. */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OTEL_') && k !== 'NODE_OPTIONS') env[k] = v;
  return env;
}

/** The Node.js binary the measured apps run on (`--node`); the runner, sink and generators stay on this one. */
const appNode = { path: process.execPath, version: process.version };

module.exports = { hasTaskset, pinned, pinSelf, start, stop, cpuMs, memory, run, appNode, cleanEnv };
