'use strict';
// Keeps PostgreSQL's server processes off the app's core while express-pg runs.
//
// The database is part of the load, like wrk and the sink, but the machine's scheduler puts its
// backends on either core. When one shares the app's core, the app's own CPU time a request
// doubles (the kernel's loopback delivery and the wake-ups run in the app's system calls, and the
// two processes evict each other's caches): on 2026-12-07 express-pg under the agent timed
// anywhere from 2.7k to 5.3k req/s in back-to-back runs of one build, and 4.9k–5.2k with the
// postmaster pinned to the load core (its backends inherit that at fork; the app's pool connects
// after). Only a server on this machine, whose processes this user may pin, is moved; the old
// affinity is put back at the end.
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

/** The PID of the postmaster serving `connection` (pg's client options), or undefined. */
async function postmasterPid(connection) {
  let Client;
  try {
    ({ Client } = require('pg'));
  } catch {
    return undefined;
  }
  const client = new Client(connection);
  try {
    await client.connect();
    const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so parse after its ')'.
    const stat = fs.readFileSync(`/proc/${rows[0].pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return fs.readFileSync(`/proc/${ppid}/comm`, 'utf8').trim().startsWith('postgres') ? ppid : undefined;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Pins the local PostgreSQL server to `cpu`. Resolves with `{ pid, restore(), note }`: `note`
 * says what was done, for the report; `restore()` puts the old affinity back.
 */
async function pinPostgres(cpu, connection) {
  const pid = await postmasterPid(connection);
  if (pid === undefined) return { restore() {}, note: 'PostgreSQL not pinned (no local server found): express-pg varies with where its backends run' };
  const before = spawnSync('taskset', ['-p', String(pid)], { encoding: 'utf8' }).stdout.match(/:\s*([0-9a-f]+)\s*$/i)?.[1];
  const r = spawnSync('taskset', ['-pc', String(cpu), String(pid)], { encoding: 'utf8' });
  if (r.status !== 0 || before === undefined) {
    return { restore() {}, note: `PostgreSQL not pinned (taskset on its postmaster, pid ${pid}, failed): express-pg varies with where its backends run` };
  }
  let pinned = true;
  const restore = () => {
    if (!pinned) return;
    pinned = false;
    spawnSync('taskset', ['-p', before, String(pid)]);
  };
  // An interrupted run puts it back too, then dies of the signal as it would have.
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      restore();
      process.kill(process.pid, sig);
    });
  }
  process.once('exit', restore);
  return { pid, note: `PostgreSQL (postmaster ${pid}, and the backends it forks for the app) on core ${cpu}`, restore };
}

module.exports = { pinPostgres };
