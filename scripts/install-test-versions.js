#!/usr/bin/env node
'use strict';
/**
 * Installs each test/versions/<name>/ folder (its own package.json and
 * package-lock.json), so tests can run the same cases against several majors
 * of a library, each installed under its real package name. Skips folders
 * whose node_modules is already up to date with their lock file.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', 'test', 'versions');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
for (const name of fs.existsSync(root) ? fs.readdirSync(root).sort() : []) {
  const dir = path.join(root, name);
  const lock = path.join(dir, 'package-lock.json');
  if (!fs.existsSync(path.join(dir, 'package.json'))) continue;
  const stamp = path.join(dir, 'node_modules', '.package-lock.json');
  if (fs.existsSync(stamp) && fs.existsSync(lock) && fs.statSync(stamp).mtimeMs >= fs.statSync(lock).mtimeMs) continue;
  process.stdout.write(`installing test/versions/${name}\n`);
  execFileSync(npm, [fs.existsSync(lock) ? 'ci' : 'install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: 'inherit' });
}
