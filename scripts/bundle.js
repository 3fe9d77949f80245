#!/usr/bin/env node
'use strict';
/**
 * Replaces dist/start.js (tsc's output) with one bundled file, built from src/, holding the
 * agent and its runtime libraries. dist/register.js, the preload, stays tiny:
 * it reads the config and requires start.js only when the agent is enabled,
 * so OTEL_SDK_DISABLED=true parses next to nothing. Why: on a slow machine, Node spent most of
 * the agent's start-up resolving and reading ~170 small files; one file loads
 * in about half the time, and the ESM builds of the OpenTelemetry packages
 * let the bundler drop the unused semantic-conventions constants (~10 MB on
 * disk). The other dist/ files stay as tsc wrote them (the entry, the CLI,
 * exit-send, and the modules unit tests load one by one).
 */
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
esbuild.buildSync({
  // From the TypeScript sources, not tsc's CommonJS output: as ES modules, imports are hoisted to
  // plain variables. Bundling CommonJS made every `api.trace`, `context_1.runIn` a property read
  // through an esbuild getter (`__toCommonJS`), 1.5% of a server's time in a profile.
  entryPoints: [path.join(root, 'src', 'start.ts')],
  tsconfig: path.join(root, 'tsconfig.json'),
  outfile: path.join(dist, 'start.js'),
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
  // No keepNames: it wraps every function expression in a __name() call, per closure created.
  legalComments: 'none',
  logLevel: 'warning',
});
