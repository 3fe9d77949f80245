'use strict';
// Install footprint: `npm pack` the repo, `npm install <tarball>` into an empty folder, count.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { run } = require('./proc');

/** Packages under a node_modules tree (each folder with a package.json; scoped ones one by one). */
function countPackages(nodeModules) {
  let count = 0;
  const visit = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      if (e.name.startsWith('@')) {
        visit(full);
        continue;
      }
      if (fs.existsSync(path.join(full, 'package.json'))) count++;
      visit(path.join(full, 'node_modules'));
    }
  };
  visit(nodeModules);
  return count;
}

/**
 * Size of `dir`: on disk (`du -sk`, allocated blocks, what `du -sh` shows and what the upstream
 * figure in the performance issue was measured with) and apparent (`du -sb`, sum of file sizes).
 */
async function diskBytes(dir) {
  const first = async (args) => Number((await run('du', [...args, dir])).stdout.split(/\s/)[0]);
  return { bytes: (await first(['-sk'])) * 1024, apparentBytes: await first(['-sb']) };
}

/** The `n` largest top-level packages under node_modules, as [name, bytes on disk]. */
async function largest(nodeModules, n = 8) {
  const dirs = [];
  for (const e of fs.readdirSync(nodeModules)) {
    if (e.startsWith('.')) continue;
    if (e.startsWith('@')) for (const s of fs.readdirSync(path.join(nodeModules, e))) dirs.push(`${e}/${s}`);
    else dirs.push(e);
  }
  const r = await run('du', ['-sk', ...dirs], { cwd: nodeModules });
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .map(([kb, name]) => [name, Number(kb) * 1024])
    .sort((a, b) => b[1] - a[1])
    .slice(0, n);
}

/** Packs `repo` and installs the tarball into an empty folder; returns {packages, bytes, apparentBytes, tarballBytes}. */
async function measureInstall(repo) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otel-agent-footprint-'));
  try {
    // --ignore-scripts: pack the dist/ that is there (build it first) instead of compiling a tree others may be editing.
    const pack = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', tmp], { cwd: repo });
    const tarball = path.join(tmp, pack.stdout.trim().split('\n').pop());
    if (pack.code !== 0 || !fs.existsSync(tarball)) throw new Error(`npm pack failed: ${pack.stderr}`);
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), '{"name":"footprint","version":"1.0.0","private":true}\n');
    const install = await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app });
    if (install.code !== 0) throw new Error(`npm install failed: ${install.stderr}`);
    const nm = path.join(app, 'node_modules');
    return { packages: countPackages(nm), ...(await diskBytes(nm)), tarballBytes: fs.statSync(tarball).size, largest: await largest(nm) };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The same counts for an existing install (e.g. the upstream folder given with --upstream). */
async function measureExisting(dir) {
  const nm = path.join(dir, 'node_modules');
  return { packages: countPackages(nm), ...(await diskBytes(nm)) };
}

module.exports = { measureInstall, measureExisting, countPackages };
