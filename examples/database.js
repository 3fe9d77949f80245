'use strict';
// Database calls: GET /hello/:id reads the person's name from PostgreSQL with pg and answers
// "Hello, <name>!". The agent adds a CLIENT span per query, as a child of the server span.
// The app creates and fills its own table at start-up. It needs a PostgreSQL server, e.g.
//   docker run --rm -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres
//
//   npx otel-instrument --traces_exporter console --metrics_exporter none \
//       --service_name database node examples/database.js
//   curl http://localhost:3000/hello/1
const express = require('express');
const { Pool } = require('pg');

const pool = new Pool({
  connectionString: process.env.DATABASE_URL || 'postgres://postgres@localhost:5432/postgres',
});
const app = express();

app.get('/hello/:id', async (req, res) => {
  const { rows } = await pool.query('SELECT name FROM people WHERE id = $1', [req.params.id]);
  if (rows.length === 0) {
    res.status(404).type('text/plain').send(`No person with id ${req.params.id}`);
    return;
  }
  res.type('text/plain').send(`Hello, ${rows[0].name}!`);
});

async function main() {
  await pool.query('CREATE TABLE IF NOT EXISTS people (id integer PRIMARY KEY, name text NOT NULL)');
  await pool.query("INSERT INTO people (id, name) VALUES (1, 'Alice'), (2, 'Bob') ON CONFLICT (id) DO NOTHING");
  const server = app.listen(process.env.PORT || 3000, () => {
    console.log(`listening on http://localhost:${server.address().port}`);
  });
}

main().catch((err) => {
  console.error(`cannot prepare the people table: ${err.message}`);
  process.exit(1);
});
