'use strict';
// Benchmark app: express + one global `fetch` per request to a local service (upstream makes 5 spans).
// DOWNSTREAM_URL is the plain `http` service of downstream.js, which runs without any agent.
const express = require('express');

const DOWNSTREAM = process.env.DOWNSTREAM_URL || 'http://127.0.0.1:3001/';
let served = 0;

const app = express();
app.set('env', 'production');
app.set('etag', false);
app.get('/hello/:name', async (req, res, next) => {
  served++;
  try {
    const upstream = await fetch(DOWNSTREAM);
    const text = await upstream.text();
    res.send(`hello ${req.params.name} ${text}`);
  } catch (err) {
    next(err);
  }
});

const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});

process.once('SIGTERM', () => {
  console.log(`served ${served}`);
  server.close();
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 10_000).unref();
});
