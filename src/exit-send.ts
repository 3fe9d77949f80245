/**
 * Child-process half of the exit-time flush (see `sendSync` in exporter.ts):
 * reads one OTLP request body from stdin and POSTs it. Exit code 0 means the
 * receiver accepted it.
 */
import * as http from 'node:http';
import * as https from 'node:https';

function main(): void {
  const { url, headers, timeoutMs } = JSON.parse(process.env.ACME_OTEL_EXIT_SEND ?? '{}') as {
    url: string;
    headers: Record<string, string>;
    timeoutMs: number;
  };
  const chunks: Buffer[] = [];
  process.stdin.on('data', (c: Buffer) => chunks.push(c));
  process.stdin.on('end', () => {
    const body = Buffer.concat(chunks);
    const target = new URL(url);
    const req = (target.protocol === 'https:' ? https : http).request(
      target,
      { method: 'POST', headers: { ...headers, 'Content-Length': String(body.length) }, timeout: timeoutMs },
      (res) => {
        res.resume();
        res.on('end', () => process.exit(res.statusCode !== undefined && res.statusCode < 300 ? 0 : 1));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => process.exit(1));
    req.end(body);
  });
}

main();
