import { WebSocket } from 'ws';
import { chainResolvers, staticTokenResolver, type Principal, type TokenResolver } from '../../gateway/api/auth';
import type { ReadingMessage } from '../../gateway/events';
import { startApiServer, type ApiServerHandle, type ApiServerLimits } from '../../gateway/api/server';
import { CLOSE_SLOW_CONSUMER, CLOSE_UNAUTHORIZED } from '../../gateway/api/stream';
import { compileGlob } from '../../gateway/policy/glob';
import { silentLogger } from '../../gateway/base/log';
import { ADMIN_TOKEN, BUYER_TOKEN, FakeBackend, VOUCHER } from './api-fixtures';

const BUYER: Principal = {
  kind: 'buyer',
  account: 'buyer-1',
  points: [{ devices: 'purifier-*', point: 'hardness' }],
};
const syncTokens = staticTokenResolver([
  { token: ADMIN_TOKEN, principal: { kind: 'admin' } },
  { token: BUYER_TOKEN, principal: BUYER },
]);

const servers: ApiServerHandle[] = [];
const sockets: WebSocket[] = [];

async function start(backend: FakeBackend, limits: ApiServerLimits = {}, tokens: TokenResolver = syncTokens): Promise<ApiServerHandle> {
  const api = await startApiServer({ host: '127.0.0.1', port: 0, backend, tokens, logger: silentLogger(), version: '9.9.9', limits });
  servers.push(api);
  return api;
}

afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const s of servers.splice(0)) await s.close();
});

type Msg = Record<string, unknown> & { type: string };

/** A client that records every message and can wait for the next one of a type. */
class TestClient {
  readonly messages: Msg[] = [];
  private waiters: Array<{ type: string; resolve: (m: Msg) => void }> = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;

  constructor(readonly ws: WebSocket) {
    sockets.push(ws);
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Msg;
      this.messages.push(m);
      const i = this.waiters.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(m);
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.opened.catch(() => undefined); // awaited only by tests that expect success
  }

  static connect(api: ApiServerHandle, opts: { token?: string; query?: string } = {}): TestClient {
    const url = `${api.url.replace('http', 'ws')}/api/stream${opts.query ?? ''}`;
    const headers = opts.token ? { Authorization: `Bearer ${opts.token}` } : undefined;
    return new TestClient(new WebSocket(url, { headers }));
  }

  send(m: object): void {
    this.ws.send(JSON.stringify(m));
  }

  /** The next message of `type` not yet seen (or the first already received after `from`). */
  next(type: string, from = 0): Promise<Msg> {
    const seen = this.messages.slice(from).find((m) => m.type === type);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ type, resolve }));
  }

  /** Round-trip a ping so every message the server sent before it has arrived. */
  async sync(): Promise<void> {
    const n = this.messages.length;
    this.send({ type: 'ping' });
    await this.next('pong', n);
  }
}

interface Refusal {
  status: number;
  challenge?: string;
  body?: unknown;
}

function refusal(api: ApiServerHandle, opts: { token?: string; query?: string }): Promise<Refusal> {
  const c = TestClient.connect(api, opts);
  return new Promise((resolve) => {
    c.ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'], body: JSON.parse(text) }));
    });
    c.ws.once('open', () => resolve({ status: 101 }));
  });
}

const reading = (device: string): ReadingMessage => ({
  device,
  at: '2026-11-25T12:00:00.000Z',
  points: { hardness: { value: '7.4', unit: 'dH' }, water: { value: '1234.000000', unit: 'L' } },
});

describe('WS /api/stream authentication', () => {
  it('refuses the upgrade (401) for a wrong header or query token', async () => {
    const api = await start(new FakeBackend());
    for (const opts of [{ token: 'wrong-token-000000000000' }, { query: '?token=wrong-token-000000000000' }]) {
      expect(await refusal(api, opts)).toEqual({
        status: 401,
        challenge: expect.stringMatching(/^Bearer /),
        body: { error: { code: 'GW_ERR_UNAUTHORIZED', message: 'invalid bearer token' } },
      });
    }
    expect(api.streamClients()).toBe(0);
  });

  it('closes 4401 when the first message is not an auth message', async () => {
    const api = await start(new FakeBackend());
    const c = TestClient.connect(api);
    await c.opened;
    c.send({ type: 'subscribe', topics: ['readings'] });
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE_UNAUTHORIZED);
    expect(c.messages).toEqual([{ type: 'error', error: { code: 'GW_ERR_UNAUTHORIZED', message: expect.any(String) } }]);
  });

  it('closes 4401 for a wrong token in the auth message', async () => {
    const api = await start(new FakeBackend());
    const c = TestClient.connect(api);
    await c.opened;
    c.send({ type: 'auth', token: 'nope-nope-nope-nope' });
    expect((await c.closed).code).toBe(CLOSE_UNAUTHORIZED);
  });

  it('closes 4401 when no auth message comes in time', async () => {
    const api = await start(new FakeBackend(), { authTimeoutMs: 50 });
    const c = TestClient.connect(api);
    await c.opened;
    expect((await c.closed).code).toBe(CLOSE_UNAUTHORIZED);
  });

  it('accepts the token by header, by query and by first message', async () => {
    const api = await start(new FakeBackend());
    for (const c of [
      TestClient.connect(api, { token: ADMIN_TOKEN }),
      TestClient.connect(api, { query: `?token=${encodeURIComponent(ADMIN_TOKEN)}` }),
    ]) {
      expect(await c.next('ready')).toEqual({ type: 'ready', version: '9.9.9', principal: 'admin' });
    }
    const m = TestClient.connect(api);
    await m.opened;
    m.send({ type: 'auth', token: ADMIN_TOKEN });
    expect(await m.next('ready')).toEqual({ type: 'ready', version: '9.9.9', principal: 'admin' });
    expect(api.streamClients()).toBe(3);
  });

  it('replays messages pipelined behind an async token check', async () => {
    const asyncTokens = chainResolvers(syncTokens);
    const backend = new FakeBackend();
    const api = await start(backend, {}, asyncTokens);
    const c = TestClient.connect(api);
    await c.opened;
    c.send({ type: 'auth', token: ADMIN_TOKEN });
    c.send({ type: 'subscribe', topics: ['readings'] });
    await c.next('subscribed');
    expect(c.messages.map((m) => m.type)).toEqual(['ready', 'subscribed']);
  });

  it('refuses more than maxClients with 503', async () => {
    const api = await start(new FakeBackend(), { maxClients: 1 });
    const first = TestClient.connect(api, { token: ADMIN_TOKEN });
    await first.next('ready');
    expect((await refusal(api, { token: ADMIN_TOKEN })).status).toBe(503);
  });
});

describe('WS /api/stream subscriptions', () => {
  it('delivers readings only for subscribed devices, and events/vouchers only when subscribed', async () => {
    const backend = new FakeBackend();
    const api = await start(backend);
    const c = TestClient.connect(api, { token: ADMIN_TOKEN });
    await c.next('ready');
    backend.stream.emit('reading', reading('purifier-0')); // before subscribing: not delivered
    c.send({ type: 'subscribe', topics: ['readings'], devices: ['purifier-*'] });
    expect(await c.next('subscribed')).toEqual({
      type: 'subscribed',
      topics: ['readings'],
      devices: ['purifier-*'],
      channels: ['*'],
    });
    backend.stream.emit('reading', reading('meter-1'));
    backend.stream.emit('reading', reading('purifier-1'));
    backend.stream.emit('event', { id: '1', kind: 'alarm', at: '2026-11-25T12:00:00.000Z', device: 'purifier-1' });
    backend.stream.emit('voucher', VOUCHER);
    backend.stream.emit('reading', reading('purifier-2'));
    await c.sync();
    const data = c.messages.filter((m) => !['ready', 'subscribed', 'pong'].includes(m.type));
    expect(data).toEqual([
      { type: 'reading', ...reading('purifier-1') },
      { type: 'reading', ...reading('purifier-2') },
    ]);

    c.send({ type: 'subscribe', topics: ['events', 'vouchers'], devices: ['meter-*'], channels: ['purifier-1>*'] });
    await c.next('subscribed', c.messages.length);
    const from = c.messages.length;
    backend.stream.emit('reading', reading('meter-1')); // readings no longer subscribed
    backend.stream.emit('event', { id: '2', kind: 'alarm', at: '2026-11-25T12:00:01.000Z', device: 'purifier-1' });
    backend.stream.emit('event', { id: '3', kind: 'reset', at: '2026-11-25T12:00:02.000Z', device: 'meter-1' });
    backend.stream.emit('event', { id: '4', kind: 'policy', at: '2026-11-25T12:00:03.000Z' });
    backend.stream.emit('voucher', { ...VOUCHER, channel: 'other>waterworks' });
    backend.stream.emit('voucher', VOUCHER);
    await c.sync();
    expect(c.messages.slice(from).filter((m) => m.type !== 'pong')).toEqual([
      { type: 'event', id: '3', kind: 'reset', at: '2026-11-25T12:00:02.000Z', device: 'meter-1' },
      { type: 'event', id: '4', kind: 'policy', at: '2026-11-25T12:00:03.000Z' },
      { type: 'voucher', ...VOUCHER },
    ]);
  });

  it('answers bad client messages with an error and keeps the connection', async () => {
    const api = await start(new FakeBackend());
    const c = TestClient.connect(api, { token: ADMIN_TOKEN });
    await c.next('ready');
    const bad: Array<[object | string, string]> = [
      ['not json', 'message'],
      [{ type: 'dance' }, 'type'],
      [{ type: 'subscribe' }, 'topics'],
      [{ type: 'subscribe', topics: ['gossip'] }, 'topics'],
      [{ type: 'subscribe', topics: ['readings'], devices: 'purifier-*' }, 'devices'],
      [{ type: 'auth', token: ADMIN_TOKEN }, 'type'],
    ];
    for (const [m, field] of bad) {
      const n = c.messages.length;
      c.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
      const e = (await c.next('error', n)) as unknown as { error: { code: string; field: string } };
      expect({ m, code: e.error.code, field: e.error.field }).toEqual({ m, code: 'GW_ERR_BAD_REQUEST', field });
    }
    await c.sync();
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('buyers get readings only, cut to the points offered to them, and each delivery is metered', async () => {
    const backend = new FakeBackend();
    const api = await start(backend);
    const c = TestClient.connect(api, { token: BUYER_TOKEN });
    expect(await c.next('ready')).toEqual({ type: 'ready', version: '9.9.9', principal: 'buyer' });
    c.send({ type: 'subscribe', topics: ['readings', 'events'] });
    expect(((await c.next('error')) as unknown as { error: { code: string } }).error.code).toBe('GW_ERR_FORBIDDEN');
    c.send({ type: 'subscribe', topics: ['readings'] });
    await c.next('subscribed');
    backend.stream.emit('reading', reading('meter-1')); // not offered
    backend.stream.emit('reading', reading('purifier-1'));
    backend.stream.emit('reading', { device: 'purifier-1', at: '2026-11-25T12:00:05.000Z', points: { water: { value: '1', unit: 'L' } } });
    await c.sync();
    expect(c.messages.filter((m) => m.type === 'reading')).toEqual([
      { type: 'reading', device: 'purifier-1', at: '2026-11-25T12:00:00.000Z', points: { hardness: { value: '7.4', unit: 'dH' } } },
    ]);
    expect(backend.deliveries).toEqual([
      { account: 'buyer-1', device: 'purifier-1', points: ['hardness'], at: '2026-11-25T12:00:00.000Z' },
    ]);
  });
});

describe('WS /api/stream resources', () => {
  it('drops a client that does not read (close 1013) instead of buffering without bound', async () => {
    const backend = new FakeBackend();
    const api = await start(backend, { maxBufferedBytes: 64 * 1024, dropGraceMs: 60_000 });
    const slow = TestClient.connect(api, { token: ADMIN_TOKEN });
    const fast = TestClient.connect(api, { token: ADMIN_TOKEN });
    for (const c of [slow, fast]) {
      await c.next('ready');
      c.send({ type: 'subscribe', topics: ['readings'] });
      await c.next('subscribed');
    }
    slow.ws.pause();
    const big: ReadingMessage = {
      device: 'purifier-1',
      at: '2026-11-25T12:00:00.000Z',
      points: { blob: { value: 'x'.repeat(32 * 1024), unit: '' } },
    };
    let emitted = 0;
    while (api.streamClients() === 2 && emitted < 20_000) {
      backend.stream.emit('reading', big);
      emitted++;
      await new Promise((r) => setImmediate(r));
    }
    expect(api.streamClients()).toBe(1);
    const dropped = api.metrics.get('m2m_api_ws_dropped_total');
    expect(dropped?.get({ reason: 'slow' })).toBe(1);
    // the fast client keeps going
    await fast.sync();
    expect(fast.messages.filter((m) => m.type === 'reading').length).toBe(emitted);
    // the slow one, once it reads again, finds the close frame after its backlog
    slow.ws.resume();
    expect((await slow.closed).code).toBe(CLOSE_SLOW_CONSUMER);
  });

  it('counts replies (subscribed, pong, errors) against the send cap: a client asking without reading is dropped', async () => {
    const api = await start(new FakeBackend(), { maxBufferedBytes: 16 * 1024, maxMessagesPerSecond: 1e9, dropGraceMs: 60_000 });
    const c = TestClient.connect(api, { token: ADMIN_TOKEN });
    await c.next('ready');
    c.ws.pause();
    // Each subscribe is answered by an 8 KiB echo; the kernel's socket buffers take the first few MB.
    const ask = JSON.stringify({
      type: 'subscribe',
      topics: ['readings'],
      devices: Array.from({ length: 64 }, (_, i) => `${'d'.repeat(120)}-${i}`),
    });
    for (let i = 0; i < 10_000 && api.streamClients() === 1; i++) {
      c.ws.send(ask);
      c.ws.send('{"type":"ping"}');
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 1));
    }
    for (let t = 0; t < 200 && api.streamClients() > 0; t++) await new Promise((r) => setTimeout(r, 25));
    expect(api.streamClients()).toBe(0);
    expect(api.metrics.get('m2m_api_ws_dropped_total')?.get({ reason: 'slow' })).toBe(1);
    c.ws.resume();
    expect((await c.closed).code).toBe(CLOSE_SLOW_CONSUMER);
  });

  it('drops a client sending more messages than its rate allows (1008)', async () => {
    const api = await start(new FakeBackend(), { maxMessagesPerSecond: 5, dropGraceMs: 50 });
    const c = TestClient.connect(api, { token: ADMIN_TOKEN });
    await c.next('ready');
    for (let i = 0; i < 30; i++) c.send({ type: 'ping' });
    expect((await c.closed).code).toBe(1008);
    expect(c.messages.filter((m) => m.type === 'pong').length).toBeLessThanOrEqual(10);
    expect(api.metrics.get('m2m_api_ws_dropped_total')?.get({ reason: 'flood' })).toBe(1);
  });

  it('unauthenticated sockets have their own small pool per address; they never take an authenticated slot', async () => {
    const api = await start(new FakeBackend(), { maxClients: 2, adminReserve: 1, maxPending: 3, maxPendingPerAddress: 2 });
    const anon: TestClient[] = [];
    for (let i = 0; i < 6; i++) {
      const a = TestClient.connect(api, {});
      anon.push(a);
      await Promise.race([a.opened, a.closed]); // one after the other: the age order is known
    }
    // Only the two newest of this address stay; the older ones were closed (4401) to make room.
    const codes = await Promise.all(anon.slice(0, 4).map((a) => a.closed));
    expect(codes.map((c) => c.code)).toEqual([4401, 4401, 4401, 4401]);
    expect(anon.slice(4).map((a) => a.ws.readyState)).toEqual([WebSocket.OPEN, WebSocket.OPEN]);
    const admin = TestClient.connect(api, { token: ADMIN_TOKEN });
    expect(await admin.next('ready')).toMatchObject({ principal: 'admin' });
    // The last slot is kept for admin tokens: a buyer is refused (503), a second admin is not.
    await expect(TestClient.connect(api, { token: BUYER_TOKEN }).opened).rejects.toThrow('HTTP 503');
    expect(await TestClient.connect(api, { token: ADMIN_TOKEN }).next('ready')).toMatchObject({ principal: 'admin' });
    await expect(TestClient.connect(api, { token: ADMIN_TOKEN }).opened).rejects.toThrow('HTTP 503');
  });

  it('pings clients for the heartbeat', async () => {
    const api = await start(new FakeBackend(), { heartbeatMs: 20 });
    const c = TestClient.connect(api, { token: ADMIN_TOKEN });
    await c.next('ready');
    await new Promise<void>((resolve) => c.ws.once('ping', () => resolve()));
    await c.sync();
    expect(api.streamClients()).toBe(1);
  });

  it('closes clients with 1001 when the server stops', async () => {
    const api = await start(new FakeBackend());
    const c = TestClient.connect(api, { token: ADMIN_TOKEN });
    await c.next('ready');
    await api.close();
    servers.splice(servers.indexOf(api), 1);
    expect((await c.closed).code).toBe(1001);
  });

  it('a broadcast failure never throws back into the backend', async () => {
    const backend = new FakeBackend();
    const api = await start(backend);
    const c = TestClient.connect(api, { token: ADMIN_TOKEN });
    await c.next('ready');
    c.send({ type: 'subscribe', topics: ['readings'] });
    await c.next('subscribed');
    const bad = { device: 'purifier-1', at: 'x', points: { water: { value: 5n, unit: 'L' } } } as unknown as ReadingMessage;
    expect(() => backend.stream.emit('reading', bad)).not.toThrow();
    backend.stream.emit('reading', reading('purifier-1'));
    await c.sync();
    expect(c.messages.filter((m) => m.type === 'reading').length).toBe(1);
  });

  it('upgrades on other paths: 404 alone, left to other listeners (Node-RED) when present', async () => {
    const api = await start(new FakeBackend());
    const url = `${api.url.replace('http', 'ws')}/admin/comms`;
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url);
      sockets.push(ws);
      ws.on('error', () => undefined);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    });
    expect(status).toBe(404);
    const other = new WebSocket.Server({ noServer: true });
    api.server.on('upgrade', (req, socket, head) => {
      if (req.url === '/admin/comms') other.handleUpgrade(req, socket, head, (ws) => ws.send('comms'));
    });
    const ws = new WebSocket(url);
    sockets.push(ws);
    const first = await new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
    expect(first).toBe('comms');
    other.close();
  });

  it('globs match whole names', () => {
    expect(compileGlob('purifier-*')('purifier-12')).toBe(true);
    expect(compileGlob('purifier-*')('xpurifier-1')).toBe(false);
    expect(compileGlob('a.b?')('a.bc')).toBe(true);
    expect(compileGlob('a.b?')('axbc')).toBe(false);
  });
});
