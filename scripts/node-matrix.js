#!/usr/bin/env node
'use strict';
/**
 * Runs the test suite under other Node.js versions.
 *
 *   node scripts/node-matrix.js [--versions 22,24] [--install-only] [--fixtures-only] [mocha args...]
 *
 * Each version (a major like `22` or an exact `22.15.0`; default `NODE_MATRIX`
 * or `22,24`) is installed once from npm as the `node-<platform>-<arch>` package
 * (which ships the binary) into `.node-versions/<version>/`, then mocha itself
 * runs under that binary with `TEST_NODE` pointing at it, so in-process tests
 * and fixture children both use it (`--fixtures-only`: mocha stays on the
 * running Node.js and only fixture children use the version, for versions
 * mocha itself no longer supports, e.g. 20.6). dist/ and test/versions/ must be ready
 * (`npm run build && node scripts/install-test-versions.js`, as `npm test` does);
 * `npm run test:matrix` does that first. Extra arguments go to mocha; as mocha
 * adds spec files to those of .mocharc.json, a part of the suite is run with
 * `--no-config --require test/helpers/hooks.js --timeout 30000 test/esm.test.js ...`.
 * Exits non-zero if any version fails.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const DIR = path.join(ROOT, '.node-versions');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function parse(argv) {
  let versions = (process.env.NODE_MATRIX || '22,24').split(/[\s,]+/).filter(Boolean);
  let installOnly = false;
  let fixturesOnly = false;
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--versions') versions = String(argv[++i] ?? '').split(',').filter(Boolean);
    else if (argv[i].startsWith('--versions=')) versions = argv[i].slice(11).split(',').filter(Boolean);
    else if (argv[i] === '--install-only') installOnly = true;
    else if (argv[i] === '--fixtures-only') fixturesOnly = true;
    else rest.push(argv[i]);
  }
  return { versions, installOnly, fixturesOnly, mochaArgs: rest };
}

/** The npm package that ships the Node.js binary for this machine. */
function binaryPackage() {
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    throw new Error(`node-matrix: no Node.js binary package for ${process.platform}`);
  }
  return `node-${process.platform}-${process.arch}`;
}

/** Installs Node.js `version` if needed; returns the path of its binary. */
function install(version) {
  const prefix = path.join(DIR, version);
  const pkg = binaryPackage();
  const bin = path.join(prefix, 'node_modules', pkg, 'bin', 'node');
  if (!fs.existsSync(bin)) {
    process.stdout.write(`node-matrix: installing ${pkg}@${version} into ${path.relative(ROOT, prefix)}\n`);
    fs.mkdirSync(prefix, { recursive: true });
    const r = spawnSync(npm, ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund',
      '--loglevel=error', `${pkg}@${version}`], { stdio: 'inherit' });
    if (r.status !== 0 || !fs.existsSync(bin)) throw new Error(`node-matrix: could not install ${pkg}@${version}`);
  }
  return bin;
}

function main() {
  const { versions, installOnly, fixturesOnly, mochaArgs } = parse(process.argv.slice(2));
  const mocha = path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');
  const results = [];
  for (const version of versions) {
    const bin = install(version);
    const actual = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
    if (installOnly) {
      process.stdout.write(`node-matrix: ${version} -> ${actual} at ${path.relative(ROOT, bin)}\n`);
      continue;
    }
    process.stdout.write(`\nnode-matrix: running the suite on Node.js ${actual}${fixturesOnly ? ' (fixtures only)' : ''}\n`);
    const started = Date.now();
    const r = spawnSync(fixturesOnly ? process.execPath : bin, [mocha, ...mochaArgs], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, TEST_NODE: bin },
    });
    results.push({ version: actual, ok: r.status === 0, seconds: Math.round((Date.now() - started) / 1000) });
  }
  if (results.length > 0) {
    process.stdout.write('\nnode-matrix summary\n');
    for (const r of results) process.stdout.write(`  Node.js ${r.version}: ${r.ok ? 'passed' : 'FAILED'} in ${r.seconds}s\n`);
  }
  process.exitCode = results.every((r) => r.ok) ? 0 : 1;
}

try {
  main();
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
}
