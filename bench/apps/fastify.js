'use strict';
// Benchmark app: fastify `GET /hello/:name` (see http.js for the protocol).
const fastify = require('fastify');

let served = 0;
const app = fastify({ logger: false });
app.get('/hello/:name', async (req) => {
  served++;
  return `hello ${req.params.name}`;
});

app.listen({ port: Number(process.env.PORT || 0), host: '127.0.0.1' }).then(() => {
  console.log(`listening ${app.server.address().port}`);
});

process.once('SIGTERM', () => {
  console.log(`served ${served}`);
  app.close();
  app.server.closeAllConnections();
  setTimeout(() => process.exit(0), 10_000).unref();
});
