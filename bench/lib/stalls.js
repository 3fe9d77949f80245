'use strict';
/**
 * How much of the time a core is not ours: a busy loop reads the clock as fast as it can, and
 * every gap between two readings longer than 1 ms is time the vCPU did not run it (the hypervisor
 * ran something else, or the kernel did). On a shared VM these stalls reach tens of milliseconds
 * while nothing else runs, and a stall on the app's core holds every request due meanwhile: at
 * 20k requests/s, one 60 ms stall queues 1,200 requests, more than the 1% of a 10 s open-loop run
 * that its p99 is read from. The report prints the probe so that open-loop tails can be read
 * against it (bench/README, "Eighth session").
 *
 * As a script: `node bench/lib/stalls.js SECONDS` prints {seconds, gaps, over10ms, maxMs, stalledMs}.
 */
const { run } = require('./proc');

function probe(seconds) {
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let prev = process.hrtime.bigint();
  const gaps = [];
  for (;;) {
    const t = process.hrtime.bigint();
    const d = Number(t - prev) / 1e6;
    if (d > 1) gaps.push(d);
    prev = t;
    if (t > end) break;
  }
  return {
    seconds,
    gaps: gaps.length,
    over10ms: gaps.filter((g) => g > 10).length,
    maxMs: +Math.max(0, ...gaps).toFixed(1),
    stalledMs: +gaps.reduce((a, b) => a + b, 0).toFixed(1),
  };
}

/** Probes each of `cores` at once for `seconds`; resolves to {core: result}. */
async function measureStalls(cores, seconds) {
  const out = {};
  await Promise.all(
    cores.map(async (core) => {
      const { stdout } = await run(process.execPath, [__filename, String(seconds)], { cpu: core });
      out[core] = JSON.parse(stdout.trim().split('\n').pop());
    }),
  );
  return out;
}

/** One line for the report. */
function stallsNote(stalls) {
  const parts = Object.entries(stalls).map(
    ([core, s]) => `core ${core}: longest ${s.maxMs} ms, ${s.over10ms} over 10 ms, ${((100 * s.stalledMs) / (s.seconds * 1000)).toFixed(1)}% of the time`,
  );
  const secs = Object.values(stalls)[0]?.seconds;
  return `Stalls of the machine itself (a ${secs} s busy loop on each core at once, before the runs, gaps over 1 ms): ${parts.join('; ')}. An open-loop p99 near the longest stall is the machine's, not the app's.`;
}

module.exports = { measureStalls, stallsNote };

if (require.main === module) console.log(JSON.stringify(probe(Number(process.argv[2] || 5))));
