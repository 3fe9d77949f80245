'use strict';
// Custom attributes and events: the handler adds its own facts to the server span the agent
// made, through the OpenTelemetry API (npm install @opentelemetry/api). It loads the user's
// profile from the user service (examples/user-service.js); start that first, then:
//
//   npx otel-instrument --traces_exporter console --metrics_exporter none \
//       --service_name custom-attributes node examples/custom-attributes.js
//   curl http://localhost:3000/hello/1
const express = require('express');
const { trace } = require('@opentelemetry/api');

const USER_SERVICE = process.env.USER_SERVICE_URL || 'http://localhost:3001';
const app = express();

app.get('/hello/:id', async (req, res) => {
  const id = req.params.id;
  const span = trace.getActiveSpan();
  span?.setAttribute('user.id', id);
  const response = await fetch(`${USER_SERVICE}/user/${encodeURIComponent(id)}`);
  const user = await response.json();
  span?.addEvent('the user profile has been loaded from the user service');
  res.type('text/plain').send(`Hello, ${user.name}!`);
});

const server = app.listen(process.env.PORT || 3000, () => {
  console.log(`listening on http://localhost:${server.address().port}`);
});
