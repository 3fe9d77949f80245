// Hello world with Node's own http module, as an ES module: GET /hello/<name> answers "Hello, <name>!".
// There is no tracing code here: the agent adds it when you start the app under it.
//
//   npx otel-instrument --traces_exporter console --metrics_exporter none \
//       --service_name hello-http node examples/hello-http.mjs
//   curl http://localhost:3000/hello/world
import http from 'node:http';

const server = http.createServer((req, res) => {
  const match = /^\/hello\/([^/?]+)$/.exec(req.url);
  if (req.method !== 'GET' || match === null) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' }).end(`Hello, ${match[1]}!`);
});

server.listen(process.env.PORT || 3000, () => {
  console.log(`listening on http://localhost:${server.address().port}`);
});
