'use strict';
// Closed-loop load with wrk (Debian package `wrk`): run it pinned and parse its report.
const { spawnSync } = require('node:child_process');
const { run } = require('./proc');

/** Whether wrk is installed; prints how to get it when not. */
function checkWrk() {
  if (spawnSync('wrk', ['--version']).error === undefined) return true;
  console.error(
    'bench: wrk not found. Install it:\n' +
      '  Debian/Ubuntu: apt-get update && apt-get install -y wrk\n' +
      '  macOS:         brew install wrk',
  );
  return false;
}

const UNIT_MS = { us: 1e-3, ms: 1, s: 1000, m: 60_000 };
const ms = (text) => {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
};

/** Parses wrk's text report (with --latency). */
function parseWrk(text) {
  const num = (re) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : 0;
  };
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(text);
    return m ? ms(m[1]) : NaN;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests: num(/(\d+) requests in/),
    seconds: num(/requests in ([\d.]+)s/),
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors: socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

/** Runs `wrk -t1 -c<connections> -d<seconds>s --latency <url>` on `cpu`. */
async function wrk(url, { seconds, connections, cpu }) {
  const r = await run('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url], { cpu });
  if (r.code !== 0) throw new Error(`wrk failed (${r.code}): ${r.stderr || r.stdout}`);
  return parseWrk(r.stdout);
}

module.exports = { checkWrk, parseWrk, wrk };
