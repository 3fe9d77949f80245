'use strict';
// Benchmark app: express + one cheap query on a `pg.Pool` per request (upstream makes 6 spans).
// Connection: PGHOST/PGPORT/PGUSER/PGDATABASE if set, else 127.0.0.1:5432 user postgres db test.
const express = require('express');
const { Pool } = require('pg');

let served = 0;
const pool = new Pool({
  host: process.env.PGHOST || '127.0.0.1',
  port: Number(process.env.PGPORT || 5432),
  user: process.env.PGUSER || 'postgres',
  database: process.env.PGDATABASE || 'test',
  max: 10,
});

const app = express();
app.set('env', 'production');
app.set('etag', false);
app.get('/hello/:name', async (req, res, next) => {
  served++;
  try {
    const { rows } = await pool.query('SELECT $1::text AS name', [req.params.name]);
    res.send(`hello ${rows[0].name}`);
  } catch (err) {
    next(err);
  }
});

const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});

process.once('SIGTERM', () => {
  console.log(`served ${served}`);
  server.close();
  server.closeAllConnections();
  pool.end().catch(() => {});
  setTimeout(() => process.exit(0), 10_000).unref();
});
