'use strict';
// Benchmark app: plain `http` hello world (1 server span per request with our agent).
// Every bench app listens on 127.0.0.1:$PORT (0 = any), prints `listening <port>`, counts the
// requests it answered and, on SIGTERM, prints `served <n>` and closes so the process exits by
// itself (the agent flushes on the way out, as it would in a graceful production shutdown).
const http = require('node:http');

let served = 0;
const BODY = Buffer.from('hello world');

const server = http.createServer((req, res) => {
  served++;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
  res.end(BODY);
});

server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});

process.once('SIGTERM', () => {
  console.log(`served ${served}`);
  server.close();
  server.closeAllConnections();
  // Only fires if something else still holds the loop open.
  setTimeout(() => process.exit(0), 10_000).unref();
});
