'use strict';

const { spawn } = require('node:child_process');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
/** Absolute path of the compiled `--require` entry. */
const AGENT = path.join(REPO, 'dist', 'register.js');
/** Absolute path of the compiled `--import` entry. */
const AGENT_ESM = path.join(REPO, 'dist', 'register.mjs');
/** Absolute path of the `otel-instrument` launcher. */
const CLI = path.join(REPO, 'bin', 'otel-instrument');

const live = new Set();

/**
 * The child's environment: the test's own, minus anything that would load or
 * configure an agent in the child behind the test's back.
 */
function childEnv(extra) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('OTEL_') && key !== 'NODE_OPTIONS') env[key] = value;
  }
  return { ...env, OTEL_BSP_SCHEDULE_DELAY: '50', ...extra };
}

/** The Node.js that runs fixtures: `TEST_NODE` (set by scripts/node-matrix.js), else the one running the tests. */
const DEFAULT_NODE = process.env.TEST_NODE || process.execPath;

function commandFor({ script, args = [], mode, cliFlags = [], nodePath = DEFAULT_NODE }) {
  switch (mode) {
    case 'require':
      return [nodePath, ['--require', AGENT, script, ...args]];
    case 'import':
      return [nodePath, ['--import', AGENT_ESM, script, ...args]];
    case 'cli':
      return [process.execPath, [CLI, ...cliFlags, nodePath, script, ...args]];
    case 'none':
      return [nodePath, [script, ...args]];
    default:
      throw new Error(`runFixture: unknown mode ${JSON.stringify(mode)}`);
  }
}

/**
 * Starts a fixture app in a child process the way users start theirs.
 *
 * - `require`: `node --require <repo>/dist/register.js script ...args`
 * - `import`:  `node --import <repo>/dist/register.mjs script ...args`
 * - `cli`:     `node <repo>/bin/otel-instrument ...cliFlags <nodePath> script ...args`
 * - `none`:    `node script ...args`
 *
 * The child gets the test's environment without `OTEL_*` and `NODE_OPTIONS`,
 * plus `OTEL_BSP_SCHEDULE_DELAY=50`, then `options.env` on top. It is killed with
 * SIGKILL after `timeoutMs`.
 *
 * @param {object} options
 * @param {string} options.script absolute path of the fixture
 * @param {string[]} [options.args]
 * @param {'require' | 'import' | 'cli' | 'none'} options.mode
 * @param {Record<string, string>} [options.env]
 * @param {string[]} [options.cliFlags] flags for `otel-instrument` (mode `cli`)
 * @param {string} [options.cwd]
 * @param {number} [options.timeoutMs=20000]
 * @param {string} [options.nodePath=process.env.TEST_NODE || process.execPath]
 * @returns {{
 *   child: import('node:child_process').ChildProcess,
 *   readonly stdout: string, readonly stderr: string,
 *   waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<RegExpMatchArray>,
 *   waitForPort(timeoutMs?: number): Promise<number>,
 *   exited: Promise<{ code: number | null, signal: string | null, stdout: string, stderr: string, timedOut: boolean }>,
 *   kill(signal?: NodeJS.Signals): Promise<object>
 * }}
 */
function runFixture(options) {
  const { cwd, env, timeoutMs = 20000 } = options;
  const [command, argv] = commandFor(options);
  // Its own process group, so that a forced kill also reaches what it started (otel-instrument's app),
  // which would otherwise keep our stdout pipe open forever.
  const child = spawn(command, argv, { cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);

  let stdout = '';
  let stderr = '';
  let closed = false;
  let timedOut = false;
  const listeners = new Set();
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    for (const listener of listeners) listener();
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });

  const killTimer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, timeoutMs);

  const exited = new Promise((resolve) => {
    // 'error' (e.g. a missing executable) is followed by 'close' in this case.
    child.on('error', (err) => {
      stderr += `\n[runFixture] ${err.message}\n`;
    });
    child.on('close', (code, signal) => {
      closed = true;
      clearTimeout(killTimer);
      live.delete(child);
      for (const listener of listeners) listener();
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });

  const describeOutput = () => `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;

  const waitForOutput = (pattern, waitMs = 10000) => {
    const regex = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = stdout.match(regex);
        if (match) {
          finish();
          resolve(match);
        } else if (closed) {
          finish();
          reject(new Error(`waitForOutput(${regex}): the child exited first${describeOutput()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`waitForOutput(${regex}): timed out after ${waitMs} ms${describeOutput()}`));
      }, waitMs);
      const finish = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  };

  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    waitForOutput,
    /** Resolves the port from the fixture's `listening <port>` line. */
    waitForPort: (waitMs) => waitForOutput(/listening (\d+)/, waitMs).then((m) => Number(m[1])),
    exited,
    /** Sends `signal` if the child still runs; resolves like `exited`. */
    kill(signal = 'SIGTERM') {
      if (!closed) child.kill(signal);
      return exited;
    },
  };
}

/**
 * SIGKILLs every fixture child still running and waits for them to close.
 * Called from the root hook in hooks.js so a failed test never leaves one behind.
 * @returns {Promise<void>}
 */
function killAll() {
  const waits = [];
  for (const child of live) {
    waits.push(new Promise((resolve) => child.once('close', resolve)));
    killGroup(child);
  }
  return Promise.all(waits).then(() => undefined);
}

// Last resort if mocha dies without running its hooks.
process.on('exit', () => {
  for (const child of live) killGroup(child);
});

/** SIGKILLs a fixture child and everything in its process group. */
function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/**
 * A small `fetch` wrapper for the test process (which never loads the agent).
 * @param {string} url
 * @param {{ method?: string, headers?: Record<string, string>, body?: string | Buffer }} [init]
 * @returns {Promise<{ status: number, headers: Record<string, string>, body: string }>}
 */
async function request(url, { method = 'GET', headers, body } = {}) {
  const res = await fetch(url, { method, headers, body });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

module.exports = { runFixture, killAll, request, AGENT, AGENT_ESM, CLI, REPO, DEFAULT_NODE };
