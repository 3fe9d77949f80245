'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { render, README } = require('../scripts/options-table');
const { OPTIONS, flagFor } = require('../dist/options');

describe('README', () => {
  it('configuration reference matches the options table (run scripts/options-table.js --write)', () => {
    const readme = fs.readFileSync(README, 'utf8');
    assert.equal(render(readme), readme);
    for (const o of OPTIONS) assert.ok(readme.includes(`| \`${o.env}\` | \`--${flagFor(o.env)}\` |`), o.env);
  });

  it('documents the commands CI runs', () => {
    const readme = fs.readFileSync(README, 'utf8');
    const ci = fs.readFileSync(require.resolve('../.ci/run'), 'utf8');
    for (const cmd of ['npm ci', 'npm test']) {
      assert.ok(readme.includes(cmd), cmd);
      assert.ok(ci.includes(cmd), cmd);
    }
  });
});
