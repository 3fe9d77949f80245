#!/usr/bin/env node
'use strict';
/**
 * Replaces dist/register.js (tsc's output) with one bundled file holding the
 * agent and its runtime libraries. Why: on a slow machine, Node spent most of
 * the agent's start-up resolving and reading ~170 small files; one file loads
 * in about half the time, and the ESM builds of the OpenTelemetry packages
 * let the bundler drop the unused semantic-conventions constants (~10 MB on
 * disk). The other dist/ files stay as tsc wrote them (the CLI, exit-send, and
 * the modules unit tests load one by one).
 */
const path = require('node:path');
const esbuild = require('esbuild');

const dist = path.join(__dirname, '..', 'dist');
esbuild.buildSync({
  entryPoints: [path.join(dist, 'register.js')],
  outfile: path.join(dist, 'register.js'),
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // The ESM builds of @opentelemetry/* can be tree-shaken; their CJS builds pull whole index files.
  mainFields: ['module', 'main'],
  // Spawned by path at exit, so it must stay a file of its own.
  external: ['./exit-send'],
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
});
