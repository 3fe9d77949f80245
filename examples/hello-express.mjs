// Hello world with express, as an ES module: GET /hello/:name answers "Hello, <name>!".
// There is no tracing code here: the agent adds it when you start the app under it.
//
//   npx otel-instrument --traces_exporter console --metrics_exporter none \
//       --service_name hello-express node examples/hello-express.mjs
//   curl http://localhost:3000/hello/world
import express from 'express';

const app = express();

app.get('/hello/:name', (req, res) => {
  res.type('text/plain').send(`Hello, ${req.params.name}!`);
});

const server = app.listen(process.env.PORT || 3000, () => {
  console.log(`listening on http://localhost:${server.address().port}`);
});
