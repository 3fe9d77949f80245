// Hello world with fastify, as an ES module: GET /hello/:name answers { "message": "Hello, <name>!" }.
// There is no tracing code here: the agent adds it when you start the app under it.
//
//   npx otel-instrument --traces_exporter console --metrics_exporter none \
//       --service_name hello-fastify node examples/hello-fastify.mjs
//   curl http://localhost:3000/hello/world
import Fastify from 'fastify';

const fastify = Fastify();

fastify.get('/hello/:name', async (request) => {
  return { message: `Hello, ${request.params.name}!` };
});

await fastify.listen({ port: Number(process.env.PORT || 3000) });
console.log(`listening on http://localhost:${fastify.server.address().port}`);
