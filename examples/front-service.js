'use strict';
// HTTP calls and context propagation: the front service asks the user service
// (examples/user-service.js) for a name, with fetch on GET /hello/:id and with http.get on
// GET /hello-http/:id. The agent adds a CLIENT span for each call and a traceparent header to
// it, so the user service's spans join the same trace. Start the user service first, then:
//
//   npx otel-instrument --traces_exporter console --metrics_exporter none \
//       --service_name front-service node examples/front-service.js
//   curl http://localhost:3000/hello/1
//   curl http://localhost:3000/hello-http/1
const http = require('node:http');
const express = require('express');

const USER_SERVICE = process.env.USER_SERVICE_URL || 'http://localhost:3001';
const app = express();

/** GET a JSON document with Node's http module (the callback API many libraries still use). */
function getJson(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body));
          } catch (err) {
            reject(err);
          }
        });
      })
      .on('error', reject);
  });
}

app.get('/hello/:id', async (req, res) => {
  const response = await fetch(`${USER_SERVICE}/user/${encodeURIComponent(req.params.id)}`);
  const user = await response.json();
  res.type('text/plain').send(`Hello, ${user.name}!`);
});

app.get('/hello-http/:id', async (req, res) => {
  const user = await getJson(`${USER_SERVICE}/user/${encodeURIComponent(req.params.id)}`);
  res.type('text/plain').send(`Hello, ${user.name}!`);
});

const server = app.listen(process.env.PORT || 3000, () => {
  console.log(`listening on http://localhost:${server.address().port}`);
});
