import * as net from 'node:net';
import { staticTokenResolver } from '../../gateway/api/auth';
import { errorCodesOf } from '../../gateway/base/error-codes';
import { ROUTES } from '../../gateway/api/routes';
import { startApiServer, type ApiServerHandle } from '../../gateway/api/server';
import { silentLogger } from '../../gateway/base/log';
import { ADMIN_TOKEN, BUYER_TOKEN, FakeBackend, request, samplePath, VOUCHER } from './api-fixtures';

const API_ERROR_CODES = errorCodesOf('api');

const tokens = staticTokenResolver([
  { token: ADMIN_TOKEN, principal: { kind: 'admin' } },
  { token: BUYER_TOKEN, principal: { kind: 'buyer', account: 'buyer-1', points: [{ devices: 'purifier-*', point: 'hardness' }] } },
]);

let backend: FakeBackend;
let api: ApiServerHandle;

beforeAll(async () => {
  backend = new FakeBackend();
  api = await startApiServer({ host: '127.0.0.1', port: 0, backend, tokens, logger: silentLogger(), version: '0.1.0-test' });
});

afterAll(async () => {
  await api.close();
});

const JSON_CT = 'application/json; charset=utf-8';
const jsonHeaders = { 'Content-Type': 'application/json' };

describe('authentication (table-driven over ROUTES)', () => {
  const guarded = ROUTES.filter((r) => r.access !== 'open');

  it('guards every route but /api/health', () => {
    expect(ROUTES.filter((r) => r.access === 'open').map((r) => r.path)).toEqual(['/api/health']);
    expect(guarded.length).toBe(ROUTES.length - 1);
  });

  for (const r of guarded) {
    const path = samplePath(r.path);
    const body = r.body === 'json' ? JSON.stringify(r.example) : undefined;
    const headers = r.body === 'json' ? jsonHeaders : {};

    it(`${r.method} ${r.path}: 401 without a token`, async () => {
      const res = await request(api.url, r.method, path, { headers, body });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
      expect(res.headers['content-type']).toBe(JSON_CT);
      expect(res.json).toEqual({ error: { code: 'GW_ERR_UNAUTHORIZED', message: expect.any(String) } });
    });

    it(`${r.method} ${r.path}: 401 with a wrong token`, async () => {
      const res = await request(api.url, r.method, path, { headers, body, token: `${ADMIN_TOKEN}x` });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer .*error="invalid_token"/);
      expect((res.json as { error: { code: string } }).error.code).toBe('GW_ERR_UNAUTHORIZED');
    });

    it(`${r.method} ${r.path}: 401 with a non-bearer Authorization`, async () => {
      const res = await request(api.url, r.method, path, {
        body,
        headers: { ...headers, Authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` },
      });
      expect(res.status).toBe(401);
    });

    it(`${r.method} ${r.path}: accepted with the admin token`, async () => {
      const res = await request(api.url, r.method, path, { headers, body, token: ADMIN_TOKEN });
      expect([200, 426]).toContain(res.status);
    });
  }

  it('buyer tokens are refused (403) on admin routes', async () => {
    const res = await request(api.url, 'GET', '/api/devices', { token: BUYER_TOKEN });
    expect(res.status).toBe(403);
    expect((res.json as { error: { code: string } }).error.code).toBe('GW_ERR_FORBIDDEN');
  });
});

describe('routes', () => {
  it('GET /api/health is open and has the §8 shape', async () => {
    const res = await request(api.url, 'GET', '/api/health');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(JSON_CT);
    expect(res.json).toEqual({ status: 'ok', version: '0.1.0-test', uptimeS: 12, links: [{ id: 'plant', state: 'up' }] });
  });

  it('HEAD /api/health answers headers only', async () => {
    const res = await request(api.url, 'HEAD', '/api/health');
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
  });

  it('GET /api/devices lists devices with states and decimal-string values', async () => {
    const res = await request(api.url, 'GET', '/api/devices', { token: ADMIN_TOKEN });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(JSON_CT);
    const [d] = res.json as Array<Record<string, unknown>>;
    expect(d).toEqual({
      id: 'purifier-1',
      link: 'plant',
      state: 'ok',
      lastReadAt: '2026-11-25T12:00:00.000Z',
      points: {
        water: { value: '1234.000000', unit: 'L', at: '2026-11-25T12:00:00.000Z' },
        valve: { value: true, unit: '', at: '2026-11-25T12:00:00.000Z' },
      },
    });
  });

  it('GET /api/ledger passes validated filters (ISO and epoch ms) and returns decimal strings', async () => {
    backend.calls.ledger.length = 0;
    const res = await request(
      api.url,
      'GET',
      '/api/ledger?device=purifier-1&point=water&from=2026-11-25T13:00:00%2B01:00&to=1795651200000',
      { token: ADMIN_TOKEN },
    );
    expect(res.status).toBe(200);
    expect(backend.calls.ledger).toEqual([{ device: 'purifier-1', point: 'water', from: Date.UTC(2026, 10, 25, 12), to: 1795651200000 }]);
    expect(res.json).toEqual([
      {
        device: 'purifier-1',
        point: 'water',
        account: 'purifier-1',
        payee: 'waterworks',
        quantity: '1234.000000',
        amount: '12.340000000',
        currency: 'NOK',
      },
    ]);
  });

  it('GET /api/ledger accepts an unencoded + offset (arrives as a space)', async () => {
    backend.calls.ledger.length = 0;
    const res = await request(api.url, 'GET', '/api/ledger?from=2026-11-25T13:00:00+01:00', { token: ADMIN_TOKEN });
    expect(res.status).toBe(200);
    expect(backend.calls.ledger[0]).toEqual({ from: Date.UTC(2026, 10, 25, 12) });
  });

  it('GET /api/accounts and /api/channels answer decimal strings', async () => {
    const a = await request(api.url, 'GET', '/api/accounts', { token: ADMIN_TOKEN });
    expect(a.json).toEqual([{ id: 'purifier-1', unsettled: '0.005000000', vouchered: '12.345000000', currency: 'NOK' }]);
    const c = await request(api.url, 'GET', '/api/channels', { token: ADMIN_TOKEN });
    expect(c.json).toEqual([
      {
        id: 'purifier-1>waterworks',
        payer: 'purifier-1',
        payee: 'waterworks',
        accrued: '12.350000000',
        vouchered: '12.345000000',
        lastSeq: 17,
      },
    ]);
  });

  it('GET /api/vouchers passes channel and since, and a page limit (default 1000)', async () => {
    backend.calls.vouchers.length = 0;
    const res = await request(api.url, 'GET', '/api/vouchers?channel=purifier-1%3Ewaterworks&since=2026-11-25', {
      token: ADMIN_TOKEN,
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual([VOUCHER]);
    expect(backend.calls.vouchers).toEqual([{ channel: 'purifier-1>waterworks', since: Date.UTC(2026, 10, 25), limit: 1000 }]);
    expect((await request(api.url, 'GET', '/api/vouchers?limit=5', { token: ADMIN_TOKEN })).status).toBe(200);
    expect(backend.calls.vouchers.at(-1)).toEqual({ limit: 5 });
    expect((await request(api.url, 'GET', '/api/vouchers?limit=5000', { token: ADMIN_TOKEN })).status).toBe(400);
  });

  it('GET /api/events defaults limit to 100 and passes kind/device/since', async () => {
    backend.calls.events.length = 0;
    await request(api.url, 'GET', '/api/events', { token: ADMIN_TOKEN });
    await request(api.url, 'GET', '/api/events?kind=alarm&device=purifier-1&since=0&limit=5', { token: ADMIN_TOKEN });
    expect(backend.calls.events).toEqual([{ limit: 100 }, { kind: 'alarm', device: 'purifier-1', since: 0, limit: 5 }]);
  });

  it('GET /api/orders defaults limit to 100 and passes state/device', async () => {
    backend.calls.orders.length = 0;
    expect((await request(api.url, 'GET', '/api/orders', { token: ADMIN_TOKEN })).json).toEqual([]);
    await request(api.url, 'GET', '/api/orders?state=acked&device=purifier-1&limit=5', { token: ADMIN_TOKEN });
    expect(backend.calls.orders).toEqual([{ limit: 100 }, { state: 'acked', device: 'purifier-1', limit: 5 }]);
  });

  it('POST a point: JSON number becomes a decimal string, confirmed value answered', async () => {
    backend.calls.writes.length = 0;
    const res = await request(api.url, 'POST', '/api/devices/purifier-1/points/cycle', {
      token: ADMIN_TOKEN,
      headers: jsonHeaders,
      body: '{"value": 42}',
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ value: '42' });
    const b = await request(api.url, 'POST', '/api/devices/purifier-1/points/valve', {
      token: ADMIN_TOKEN,
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
      body: '{"value": false}',
    });
    expect(b.json).toEqual({ value: false });
    expect(backend.calls.writes).toEqual([
      { device: 'purifier-1', point: 'cycle', value: '42' },
      { device: 'purifier-1', point: 'valve', value: false },
    ]);
  });

  it('path parameters are percent-decoded', async () => {
    backend.calls.writes.length = 0;
    const res = await request(api.url, 'POST', '/api/devices/pump%201/points/cycle', {
      token: ADMIN_TOKEN,
      headers: jsonHeaders,
      body: '{"value":"1"}',
    });
    expect(res.status).toBe(404);
    expect(backend.calls.writes[0]?.device).toBe('pump 1');
  });

  it('GET /api/stream without an upgrade answers 426', async () => {
    const res = await request(api.url, 'GET', '/api/stream', { token: ADMIN_TOKEN });
    expect(res.status).toBe(426);
    expect((res.json as { error: { code: string } }).error.code).toBe('GW_ERR_UPGRADE_REQUIRED');
  });

  it('mounted handlers get their prefix', async () => {
    api.mount('/admin', (_req, res) => res.end('node-red here'));
    const res = await request(api.url, 'GET', '/admin/flows');
    expect(res.text).toBe('node-red here');
    expect(() => api.mount('/api', () => undefined)).toThrow();
  });
});

type ErrJson = { error: { code: string; message: string; field?: string } };

describe('bad input', () => {
  const bad400: Array<[string, string]> = [
    ['/api/ledger?from=yesterday', 'from'],
    ['/api/ledger?to=2026-13-01', 'to'],
    ['/api/ledger?from=2026-02-30', 'from'],
    ['/api/ledger?from=2026-11-25T12:00:00', 'from'], // no zone
    ['/api/ledger?from=2026-11-25T25:00:00Z', 'from'],
    ['/api/ledger?from=-5', 'from'],
    ['/api/ledger?from=2026-11-26&to=2026-11-25', 'to'],
    ['/api/ledger?device=', 'device'],
    ['/api/ledger?device=a&device=b', 'device'],
    ['/api/ledger?devcie=purifier-1', 'devcie'],
    ['/api/events?limit=0', 'limit'],
    ['/api/events?limit=1001', 'limit'],
    ['/api/events?limit=ten', 'limit'],
    ['/api/orders?state=done', 'state'],
    ['/api/orders?limit=0', 'limit'],
    ['/api/vouchers?since=soon', 'since'],
    ['/api/devices?x=1', 'x'],
  ];
  for (const [path, field] of bad400) {
    it(`400 naming "${field}" for ${path}`, async () => {
      const res = await request(api.url, 'GET', path, { token: ADMIN_TOKEN });
      expect(res.status).toBe(400);
      const e = (res.json as ErrJson).error;
      expect(e.code).toBe('GW_ERR_BAD_REQUEST');
      expect(e.field).toBe(field);
      expect(e.message.startsWith(`${field}: `)).toBe(true);
    });
  }

  const post = (point: string, body: string | Buffer, headers: Record<string, string> = jsonHeaders) =>
    request(api.url, 'POST', `/api/devices/purifier-1/points/${point}`, { token: ADMIN_TOKEN, headers, body });

  it('400 for malformed JSON', async () => {
    const res = await post('cycle', '{"value": ');
    expect(res.status).toBe(400);
    expect((res.json as ErrJson).error.code).toBe('GW_ERR_MALFORMED_JSON');
  });

  it('400 for an empty body, a non-object, a missing value, an extra field, a float exponent', async () => {
    const cases: Array<[string, string]> = [
      ['', 'body'],
      ['[1]', 'body'],
      ['{}', 'value'],
      ['{"value":1,"force":true}', 'body.force'],
      ['{"value":1e300}', 'value'],
      ['{"value":null}', 'value'],
    ];
    for (const [body, field] of cases) {
      const res = await post('cycle', body);
      expect({ body, status: res.status, field: (res.json as ErrJson).error.field }).toEqual({ body, status: 400, field });
    }
  });

  it('400 from the backend for a value out of range, 409 not writable, 404 unknown device/point', async () => {
    expect((await post('cycle', '{"value":70000}')).status).toBe(400);
    const nw = await post('hardness', '{"value":1}');
    expect(nw.status).toBe(409);
    expect((nw.json as ErrJson).error.code).toBe('GW_ERR_POINT_NOT_WRITABLE');
    const up = await post('nope', '{"value":1}');
    expect(up.status).toBe(404);
    expect((up.json as ErrJson).error.code).toBe('GW_ERR_UNKNOWN_POINT');
    const ud = await request(api.url, 'POST', '/api/devices/nope/points/cycle', {
      token: ADMIN_TOKEN,
      headers: jsonHeaders,
      body: '{"value":1}',
    });
    expect((ud.json as ErrJson).error.code).toBe('GW_ERR_UNKNOWN_DEVICE');
  });

  it('404 for unknown routes', async () => {
    for (const path of ['/api/nope', '/api/devices/purifier-1', '/', '/api/devices/x/points/']) {
      const res = await request(api.url, 'GET', path, { token: ADMIN_TOKEN });
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect((res.json as ErrJson).error.code).toBe('GW_ERR_NOT_FOUND');
    }
  });

  it('405 with Allow for a wrong method', async () => {
    const res = await request(api.url, 'DELETE', '/api/devices', { token: ADMIN_TOKEN });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expect((res.json as ErrJson).error.code).toBe('GW_ERR_METHOD_NOT_ALLOWED');
    const g = await request(api.url, 'GET', '/api/devices/purifier-1/points/cycle', { token: ADMIN_TOKEN });
    expect(g.status).toBe(405);
    expect(g.headers.allow).toBe('POST');
  });

  it('415 for a non-JSON body', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1']) {
      const res = await post('cycle', '{"value":1}', { 'Content-Type': ct });
      expect({ ct, status: res.status }).toEqual({ ct, status: 415 });
      expect((res.json as ErrJson).error.code).toBe('GW_ERR_UNSUPPORTED_MEDIA_TYPE');
    }
    const none = await post('cycle', '{"value":1}', {});
    expect(none.status).toBe(415);
  });

  it('413 for a body over 64 KiB (declared length)', async () => {
    const big = JSON.stringify({ value: 'x'.repeat(70 * 1024) });
    const res = await post('cycle', big);
    expect(res.status).toBe(413);
    expect((res.json as ErrJson).error.code).toBe('GW_ERR_BODY_TOO_LARGE');
  });

  it('413 for a chunked body that grows over 64 KiB', async () => {
    const chunks = [Buffer.from('{"value":"'), ...Array.from({ length: 9 }, () => Buffer.alloc(8 * 1024, 0x61)), Buffer.from('"}')];
    const res = await request(api.url, 'POST', '/api/devices/purifier-1/points/cycle', {
      token: ADMIN_TOKEN,
      headers: jsonHeaders,
      chunks,
    });
    expect(res.status).toBe(413);
  });

  it('500 hides internals and names a request id', async () => {
    const res = await post('boom', '{"value":1}');
    expect(res.status).toBe(500);
    const e = (res.json as ErrJson).error;
    expect(e.code).toBe('GW_ERR_INTERNAL');
    expect(res.text).not.toContain('secret');
    expect(res.text).not.toContain('ENOENT');
    expect(e.message).toMatch(/request [0-9a-z]+/);
  });

  it('500 when the backend returns a bigint (money must be a decimal string)', async () => {
    const orig = backend.accounts;
    backend.accounts = () => [{ id: 'x', unsettled: 5n as unknown as string, vouchered: '0', currency: 'NOK' }];
    try {
      const res = await request(api.url, 'GET', '/api/accounts', { token: ADMIN_TOKEN });
      expect(res.status).toBe(500);
    } finally {
      backend.accounts = orig;
    }
  });

  it('counts requests per route and status in /metrics', async () => {
    const res = await request(api.url, 'GET', '/metrics', { token: ADMIN_TOKEN });
    expect(res.text).toMatch(/^m2m_api_http_requests_total\{method="GET",route="\/api\/health",status="200"\} \d+$/m);
    expect(res.text).toMatch(/^m2m_api_http_requests_total\{method="DELETE",route="unmatched",status="405"\} 1$/m);
  });

  it('error codes of the area are unique', () => {
    expect(new Set(API_ERROR_CODES).size).toBe(API_ERROR_CODES.length);
  });
});

describe('a body the route does not take', () => {
  /**
   * Raw HTTP/1.1 with `Connection: close`: headers first, then (after the server had time to
   * answer) the body. Gives what the server sent before the body, and the whole answer.
   */
  const sendLate = (head: string, body: Buffer[]): Promise<{ early: string; answer: string }> =>
    new Promise((resolve, reject) => {
      let data = '';
      let early: string | undefined;
      const sock = net.connect(api.port, '127.0.0.1', () => {
        sock.write(`${head}Host: 127.0.0.1\r\nConnection: close\r\n\r\n`);
        setTimeout(() => {
          early = data;
          if (!sock.destroyed) for (const b of body) sock.write(b);
        }, 150);
      });
      sock.on('data', (d) => (data += d.toString()));
      sock.on('error', reject); // a reset is a failure here
      sock.on('close', () => resolve({ early: early ?? data, answer: data }));
    });

  it('GET with a body: answered only after the whole body arrived, then closed cleanly', async () => {
    const res = await sendLate('GET /api/health HTTP/1.1\r\nContent-Length: 40000\r\n', [Buffer.alloc(40_000, 0x61)]);
    expect(res.early).toBe('');
    expect(res.answer).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('a refusal (404, 401) also waits for the body and keeps its status', async () => {
    const notFound = await sendLate('POST /api/nope HTTP/1.1\r\nContent-Length: 3000\r\n', [Buffer.alloc(3000, 0x61)]);
    expect(notFound.early).toBe('');
    expect(notFound.answer).toMatch(/^HTTP\/1\.1 404 /);
    const noToken = await sendLate('GET /api/devices HTTP/1.1\r\nTransfer-Encoding: chunked\r\n', [Buffer.from('5\r\nhello\r\n0\r\n\r\n')]);
    expect(noToken.early).toBe('');
    expect(noToken.answer).toMatch(/^HTTP\/1\.1 401 /);
  });

  it('GET with a body over 64 KiB: 413 (declared or streamed); a refusal with one keeps its status and closes', async () => {
    const declared = await request(api.url, 'GET', '/api/health', {
      headers: { 'Content-Length': String(70 * 1024) },
      body: 'x'.repeat(70 * 1024),
    });
    expect(declared.status).toBe(413);
    const chunks = Array.from({ length: 9 }, () => Buffer.alloc(8 * 1024, 0x61));
    const chunked = { 'Transfer-Encoding': 'chunked' }; // Node's client frames a GET body only when told
    const streamed = await request(api.url, 'GET', '/api/health', { headers: chunked, chunks });
    expect(streamed.status).toBe(413);
    expect((streamed.json as ErrJson).error.code).toBe('GW_ERR_BODY_TOO_LARGE');
    const refused = await request(api.url, 'GET', '/api/devices', { headers: chunked, chunks });
    expect(refused.status).toBe(401);
    expect(refused.headers.connection).toBe('close');
  });
});

describe('slow clients', () => {
  it('a client that never finishes its headers is cut off (headersTimeout)', async () => {
    const slow = await startApiServer({
      host: '127.0.0.1',
      port: 0,
      backend,
      tokens,
      logger: silentLogger(),
      version: 't',
      limits: { headersTimeoutMs: 200, requestTimeoutMs: 400, connectionsCheckingIntervalMs: 50 },
    });
    try {
      const received = await new Promise<string>((resolve, reject) => {
        const sock = net.connect(slow.port, '127.0.0.1', () => {
          sock.write('GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
        });
        let data = '';
        sock.on('data', (d) => (data += d.toString()));
        sock.on('error', reject);
        sock.on('close', () => resolve(data));
      });
      expect(received).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await slow.close();
    }
  });
});

describe('start-up', () => {
  it('rejects when the port is taken and leaves no listener on the backend', async () => {
    const b = new FakeBackend();
    const before = b.stream.listenerCount('reading');
    await expect(
      startApiServer({ host: '127.0.0.1', port: api.port, backend: b, tokens, logger: silentLogger(), version: 't' }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(b.stream.listenerCount('reading')).toBe(before);
  });
});
