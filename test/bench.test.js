'use strict';
// The benchmark's own parts (sink counter, wrk parser, open-loop generator), so that they do not
// rot between benchmark runs. No timing is asserted: a benchmark is a script, not a test.
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');

describe('bench', () => {
  it('passes its self-test (node bench/selftest.js)', async () => {
    const { code, out } = await new Promise((resolve) => {
      execFile(process.execPath, [path.join(__dirname, '..', 'bench', 'selftest.js')], (err, stdout, stderr) =>
        resolve({ code: err ? err.code : 0, out: stdout + stderr }),
      );
    });
    assert.equal(code, 0, out);
    assert.match(out, /passed, 0 failed/);
  });
});
