'use strict';

const { killAll } = require('./run');

/** Mocha root hooks, loaded through `require` in .mocharc.json. */
exports.mochaHooks = {
  /** No fixture child outlives the test run, even after a failed test. */
  afterAll() {
    return killAll();
  },
};
