'use strict';
// The service express-fetch.js calls: plain `http`, run WITHOUT any agent, pinned to the load core.
const http = require('node:http');

const BODY = Buffer.from('{"ok":true}');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
  res.end(BODY);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
process.once('SIGTERM', () => process.exit(0));
