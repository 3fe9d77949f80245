'use strict';
// Benchmark app: express `GET /hello/:name` (upstream makes 4 spans per request; see http.js for the protocol).
const express = require('express');

let served = 0;
const app = express();
app.set('env', 'production');
app.set('etag', false);
app.get('/hello/:name', (req, res) => {
  served++;
  res.send(`hello ${req.params.name}`);
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
