'use strict';
// Exceptions: GET /hello/:name throws. express answers 500, and the agent marks the server
// span as an error and records the exception (type, message and stack trace) on it.
//
//   npx otel-instrument --traces_exporter console --metrics_exporter none \
//       --service_name exceptions node examples/exceptions.js
//   curl http://localhost:3000/hello/world
const express = require('express');

const app = express();

app.get('/hello/:name', () => {
  throw new Error('Failure injection');
});

const server = app.listen(process.env.PORT || 3000, () => {
  console.log(`listening on http://localhost:${server.address().port}`);
});
