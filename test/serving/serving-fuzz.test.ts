// A seeded fuzz of the HTTP API (issue 14): random and structure-aware mutations of valid requests, sent as raw
// bytes to the real server on 127.0.0.1. Every request must get an answer within a deadline, every error must be a
// JSON {error, message} with a 4xx status (or 503), never a 500 or a dropped connection, and the server must still
// serve afterwards with its memory bounded.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Classifier } from '../../lib';
import { createClassifier } from '../../lib';
import { buildServer } from '../../examples/server/app';
import { TINY_MODEL } from '../helpers/paths';
import { mulberry32 } from '../../lib/data/split';
import { ensureCompiled, ROOT } from '../helpers/compiled';

const SEED = 14;
const CASES = 1500;
const CONCURRENCY = 8;
const ANSWER_WITHIN_MS = 6000; // the request timeout (1 s) plus Node's 1 s check period, with room for a busy machine
const TOKEN = 'fuzz-admin-token-0123456789';

/**
 * Sends raw bytes on a fresh connection and reads until the first response is complete (by its Content-Length),
 * the server closes the connection, or the deadline passes. (A request whose Connection header a mutation broke
 * is kept alive after its answer, as it should be.)
 */
function send(port: number, bytes: Buffer): Promise<Reply> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
      resolve({
        status: status ? Number(status[1]) : null,
        headers: split < 0 ? raw : raw.slice(0, split),
        body: split < 0 ? '' : Buffer.from(raw.slice(split + 4), 'latin1').toString('utf8'),
        ms: Date.now() - started,
      });
    };
    const timer = setTimeout(done, ANSWER_WITHIN_MS);
    socket.on('data', (d) => {
      chunks.push(d);
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf('\r\n\r\n');
      const length = split < 0 ? null : /\r\ncontent-length: *(\d+)/i.exec(raw.subarray(0, split).toString('latin1'));
      if (length && raw.length >= split + 4 + Number(length[1])) done();
    });
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.write(bytes);
  });
}

/**
 * The first response's body. Bytes a request sent without framing (no Content-Length) read as a second, garbage
 * request, which gets its own 400 after the first response: that one is not part of this body.
 */
function bodyOf(r: Reply): string {
  const length = /\r\ncontent-length: *(\d+)/i.exec(r.headers);
  if (length) return Buffer.from(r.body).subarray(0, Number(length[1])).toString('utf8');
  if (!/transfer-encoding: *chunked/i.test(r.headers)) return r.body;
  let out = '';
  let rest = r.body;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const n = parseInt(rest.slice(0, eol), 16);
    if (!(n > 0)) return out;
    out += rest.slice(eol + 2, eol + 2 + n);
    rest = rest.slice(eol + 2 + n + 2);
  }
}

function makeCase(rand: () => number, adapterRoot: string): Buffer {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const randomString = (n: number) =>
    Array.from({ length: n }, () => String.fromCharCode(Math.floor(rand() * 0x3000))).join('');
  const randomJson = (depth = 0): unknown => {
    switch (Math.floor(rand() * (depth > 3 ? 6 : 9))) {
      case 0:
        return null;
      case 1:
        return rand() < 0.5;
      case 2:
        return pick([0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, 1e-320]);
      case 3:
        return randomString(Math.floor(rand() * 40));
      case 4:
        return pick(['a', '', 'the movie was wonderful', 'x'.repeat(20_001), '\u0000\ud800', '../../etc/passwd']);
      case 5:
        return pick([adapterRoot, 'a', 'nope', '..', '/dev/zero', 'a/../../', '%2e%2e']);
      case 6:
        return Array.from({ length: Math.floor(rand() * 5) }, () => randomJson(depth + 1));
      case 7:
        return Object.fromEntries(
          Array.from({ length: Math.floor(rand() * 4) }, () => [
            pick(['texts', 'adapter', 'name', 'path', '__proto__', 'constructor', randomString(3)]),
            randomJson(depth + 1),
          ]),
        );
      default:
        return pick([[], {}, [[[[[]]]]]]);
    }
  };
  const valid = pick<unknown>([
    { texts: ['a wonderful film', 'a dull one'] },
    { texts: ['a wonderful film'], adapter: 'a' },
    { name: 'b', path: 'a' },
    { name: 'c', path: 'nope' },
  ]);
  let body: string;
  switch (Math.floor(rand() * 8)) {
    case 0:
      body = JSON.stringify(valid);
      break;
    case 1: {
      // one field replaced by a random value
      const o = { ...(valid as Record<string, unknown>) };
      o[pick(Object.keys(o))] = randomJson();
      body = JSON.stringify(o);
      break;
    }
    case 2:
      body = JSON.stringify(randomJson());
      break;
    case 3:
      body = '['.repeat(Math.floor(rand() * 5000)) + ']'.repeat(Math.floor(rand() * 5000));
      break; // deep nesting
    case 4: {
      // bytes flipped, dropped or inserted
      const b = Buffer.from(JSON.stringify(valid));
      for (let k = 0; k < 1 + rand() * 4; k++) {
        const at = Math.floor(rand() * b.length);
        b[at] = Math.floor(rand() * 256);
      }
      body = b.toString('latin1');
      break;
    }
    case 5:
      body = JSON.stringify(valid).slice(0, Math.floor(rand() * 20));
      break; // truncated
    case 6:
      body = JSON.stringify({
        texts: Array.from({ length: Math.floor(rand() * 300) }, () => randomString(Math.floor(rand() * 50))),
      });
      break;
    default:
      body = '';
      break;
  }
  const bodyBytes = Buffer.from(body, rand() < 0.2 ? 'latin1' : 'utf8');
  const method = pick([
    'GET',
    'POST',
    'POST',
    'POST',
    'DELETE',
    'PUT',
    'PATCH',
    'OPTIONS',
    'HEAD',
    'P\u00d8ST',
    'GET /x',
  ]);
  const url = pick([
    '/v1/classify',
    '/v1/classify',
    '/v1/adapters',
    '/v1/adapters/a',
    '/v1/adapters/b',
    `/v1/adapters/${encodeURIComponent(randomString(5))}`,
    '/health',
    '/metrics',
    '/',
    '/v1/classify?adapter=a',
    '/' + 'x'.repeat(5000),
    '/v1/adapters/%2e%2e',
    '*',
    'http://127.0.0.1/health',
  ]);
  const headers: string[] = ['Host: 127.0.0.1', 'Connection: close'];
  const contentType = pick([
    'application/json',
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/json; charset=latin1',
    '',
    'a/b/c',
    'application/json\u0000',
  ]);
  if (contentType) headers.push(`Content-Type: ${contentType}`);
  const auth = rand();
  if (auth < 0.3) headers.push(`Authorization: Bearer ${TOKEN}`);
  else if (auth < 0.5)
    headers.push(
      `Authorization: ${pick(['Bearer', 'Bearer ', `Basic ${TOKEN}`, `Bearer ${TOKEN}${TOKEN}`, 'Bearer \u00ff\u00fe', `bearer ${TOKEN}`])}`,
    );
  const framing = rand();
  if (framing < 0.7) headers.push(`Content-Length: ${bodyBytes.length}`);
  else if (framing < 0.75)
    headers.push(`Content-Length: ${bodyBytes.length + 10}`); // announces more than it sends
  else if (framing < 0.8) headers.push(`Content-Length: ${Math.max(0, bodyBytes.length - 3)}`);
  else if (framing < 0.85) headers.push('Content-Length: -1');
  else if (framing < 0.88) headers.push(`Content-Length: ${bodyBytes.length}`, 'Content-Length: 1');
  else if (framing < 0.93) headers.push('Transfer-Encoding: chunked');
  if (rand() < 0.1) headers.push(`${randomString(3)}: ${randomString(10)}`);
  if (rand() < 0.05) headers.push(`X-Big: ${'y'.repeat(20_000)}`);
  const payload =
    /chunked/.test(headers.join()) && rand() < 0.7
      ? Buffer.concat([
          Buffer.from(`${bodyBytes.length.toString(16)}\r\n`),
          bodyBytes,
          Buffer.from(pick(['\r\n0\r\n\r\n', '\r\nzz\r\n', ''])),
        ])
      : bodyBytes;
  let request = Buffer.concat([
    Buffer.from(`${method} ${url} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1'),
    payload,
  ]);
  if (rand() < 0.1) {
    // raw byte damage anywhere, request line and headers included
    request = Buffer.from(request);
    request[Math.floor(rand() * request.length)] = Math.floor(rand() * 256);
  }
  return request;
}

describe('HTTP API fuzz (seeded, 127.0.0.1 only)', () => {
  let c: Classifier;
  let app: ReturnType<typeof buildServer>;
  let port: number;
  let root: string;

  beforeAll(async () => {
    ensureCompiled(path.join(ROOT, 'dist', 'lib', 'serving', 'worker.js'));
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-adapters-'));
    c = await createClassifier({
      model: TINY_MODEL,
      workers: 1,
      maxLength: 32,
      onWorkerError: () => undefined,
      maxAdapters: 4,
    });
    app = buildServer(c, {
      admin: { token: TOKEN, adapterRoot: root },
      requestTimeoutMs: 1000,
      headersTimeoutMs: 1000,
      maxBatchTexts: 256,
      maxTextChars: 20_000,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as net.AddressInfo).port;
  }, 300_000);
  afterAll(async () => {
    await app?.close();
    await c?.close();
  });

  it(`answers ${CASES} mutated requests with 2xx/4xx (JSON errors), never 500, never hangs, and serves on`, async () => {
    const rand = mulberry32(SEED);
    const cases = Array.from({ length: CASES }, () => makeCase(rand, root));
    const rssBefore = process.memoryUsage().rss;
    const failures: string[] = [];
    const statuses = new Map<number | null, number>();
    let slowest = 0;
    let slowestCase = '';
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length) {
          const i = next++;
          const reply = await send(port, cases[i]);
          if (reply.ms > slowest)
            slowestCase = `${i}: ${JSON.stringify(cases[i].toString('latin1').slice(0, 300))} -> ${JSON.stringify(reply.headers.slice(0, 100))}`;
          slowest = Math.max(slowest, reply.ms);
          statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
          const what = `case ${i} (${JSON.stringify(cases[i].toString('latin1').slice(0, 120))})`;
          if (reply.status === null) {
            failures.push(`${what}: no answer within ${reply.ms} ms`);
            continue;
          }
          if (reply.status >= 500 && reply.status !== 503)
            failures.push(`${what}: status ${reply.status} ${bodyOf(reply).slice(0, 200)}`);
          if (reply.status >= 400 && !/^HEAD /.test(cases[i].toString('latin1'))) {
            let parsed: { error?: unknown; message?: unknown } | null = null;
            try {
              parsed = JSON.parse(bodyOf(reply));
            } catch {
              parsed = null;
            }
            if (!parsed || typeof parsed.error !== 'string' || typeof parsed.message !== 'string') {
              failures.push(
                `${what}: status ${reply.status} without a JSON {error, message}: ${bodyOf(reply).slice(0, 200)}`,
              );
            }
          }
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const rssGrowth = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    console.log(
      `HTTP fuzz: ${CASES} cases in ${seconds.toFixed(1)} s (${CONCURRENCY} at a time), slowest answer ${slowest} ms, ` +
        `RSS growth ${rssGrowth.toFixed(0)} MiB, statuses ${JSON.stringify(Object.fromEntries(statuses))}; slowest: case ${slowestCase}`,
    );
    expect(failures).toEqual([]);
    expect(rssGrowth).toBeLessThan(300);
    // Still serving, with the same model.
    const ok = await send(
      port,
      Buffer.from(
        'POST /v1/classify HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{"texts": ["a fine film"]}'.replace(
          '22',
          String('{"texts": ["a fine film"]}'.length),
        ),
      ),
    );
    expect(ok.status).toBe(200);
    expect(JSON.parse(bodyOf(ok)).results).toHaveLength(1);
    expect(c.stats().state).toBe('ready');
  }, 180_000);
});
