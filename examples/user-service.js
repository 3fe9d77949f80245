'use strict';
// The user service of the HTTP-calls example: GET /user/:id answers { "name": ... }.
// It prints the traceparent header each request arrives with: the agent in the calling
// service put it there, and the agent here continues that trace instead of starting one.
//
//   npx otel-instrument --traces_exporter console --metrics_exporter none \
//       --service_name user-service node examples/user-service.js
//   curl http://localhost:3001/user/1
const express = require('express');

const USERS = new Map([
  ['1', 'Alice'],
  ['2', 'Bob'],
]);
const app = express();

app.get('/user/:id', (req, res) => {
  const traceparent = req.get('traceparent');
  if (traceparent !== undefined) {
    const [version, traceId, parentId, flags] = traceparent.split('-');
    const bits = parseInt(flags, 16);
    console.log(`traceparent: ${traceparent}`);
    console.log(`  version ${version}; trace-id ${traceId}: the trace, shared by every service it crosses;`);
    console.log(`  parent-id ${parentId}: the caller's CLIENT span, parent of our SERVER span;`);
    console.log(`  trace-flags ${flags}: ${bits & 1 ? 'sampled' : 'not sampled'}${bits & 2 ? ', random trace-id' : ''}`);
  }
  const name = USERS.get(req.params.id);
  if (name === undefined) {
    res.status(404).json({ error: `no user ${req.params.id}` });
    return;
  }
  res.json({ name });
});

const server = app.listen(process.env.PORT || 3001, () => {
  console.log(`listening on http://localhost:${server.address().port}`);
});
