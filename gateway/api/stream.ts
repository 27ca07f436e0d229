/**
 * WS /api/stream: readings, events and vouchers pushed as JSON text messages.
 *
 * Protocol (client → server):
 *   {"type":"auth","token":"…"}             only when no token came with the upgrade
 *   {"type":"subscribe","topics":["readings","events","vouchers"],
 *    "devices":["purifier-*"],"channels":["purifier-1>*"]}   replaces the subscription;
 *                                           devices/channels default to everything
 *   {"type":"ping"}                         answered by {"type":"pong"} (browsers cannot send WS pings)
 * Server → client:
 *   {"type":"ready","version":"…","principal":"admin"|"buyer"}   after authentication
 *   {"type":"subscribed","topics":[…],"devices":[…],"channels":[…]}
 *   {"type":"reading","device","at","points":{name:{value,unit}}}
 *   {"type":"event", …EventView}   {"type":"voucher", …Voucher}
 *   {"type":"error","error":{"code","message","field"?}}
 *
 * Authentication: `Authorization: Bearer` or `?token=` on the upgrade (a bad
 * token is refused with HTTP 401 before the upgrade), or the first message.
 * Without a valid token within `authTimeoutMs`, or with a bad one in the
 * first message, the socket is closed with 4401.
 * Buyer principals (§7) get readings only, cut down to the points they were
 * granted; each delivery is reported to `backend.meterDelivery`.
 *
 * Memory stays bounded: a client whose unsent data passes `maxBufferedBytes`
 * is dropped (close 1013, terminated after `dropGraceMs`), never buffered
 * further; a client that misses a heartbeat ping is terminated.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Logger } from '../base/log';
import { authenticate, bearerToken, type Principal, type TokenResolver } from './auth';
import type { EventView, ReadingMessage, Voucher } from '../events';
import type { ApiBackend } from './backend';
import { ApiError, BadRequestError, errorBody, UnavailableError } from './errors';
import type { Counter, Gauge } from '../base/metrics';
import { rejectUpgrade } from './reply';
import {
  compileGrants,
  type CompiledGrants,
  matchesAny,
  NO_SUBSCRIPTION,
  parseSubscribe,
  readingForBuyer,
  type Subscription,
  type Topic,
} from './subscription';

export const STREAM_PATH = '/api/stream';
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_SLOW_CONSUMER = 1013;
export const CLOSE_GOING_AWAY = 1001;

export interface StreamLimits {
  maxClients?: number; // default 64
  maxBufferedBytes?: number; // default 1 MiB of unsent data per client
  heartbeatMs?: number; // default 30 000
  authTimeoutMs?: number; // default 10 000
  dropGraceMs?: number; // default 5 000
  maxIncomingBytes?: number; // default 16 KiB per client message
}

export interface StreamMetrics {
  clients: Gauge; // m2m_api_ws_clients
  dropped: Counter; // m2m_api_ws_dropped_total{reason}
  sent: Counter; // m2m_api_ws_messages_sent_total{topic}
}

export interface StreamHubOptions {
  backend: ApiBackend;
  tokens: TokenResolver;
  logger: Logger;
  version: string;
  metrics: StreamMetrics;
  limits?: StreamLimits;
}

interface Client {
  ws: WebSocket;
  principal: Principal | null;
  grants: CompiledGrants;
  sub: Subscription;
  alive: boolean;
  authTimer: NodeJS.Timeout | null;
  /** Messages that arrived while an async token check was running (bounded). */
  pending: Array<{ data: RawData; isBinary: boolean }> | null;
  dropped: boolean;
}

export class StreamHub {
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly offReadings: () => void;
  private readonly lim: Required<StreamLimits>;
  private readonly listeners: {
    reading: (m: ReadingMessage) => void;
    event: (e: EventView) => void;
    voucher: (v: Voucher) => void;
  };

  constructor(private readonly opts: StreamHubOptions) {
    const l = opts.limits ?? {};
    this.lim = {
      maxClients: l.maxClients ?? 64,
      maxBufferedBytes: l.maxBufferedBytes ?? 1024 * 1024,
      heartbeatMs: l.heartbeatMs ?? 30_000,
      authTimeoutMs: l.authTimeoutMs ?? 10_000,
      dropGraceMs: l.dropGraceMs ?? 5_000,
      maxIncomingBytes: l.maxIncomingBytes ?? 16 * 1024,
    };
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: this.lim.maxIncomingBytes,
    });
    // The backend emits on its own hot path: a failure here is logged, never thrown back into it.
    const guard =
      <T>(topic: Topic, fn: (m: T) => void) =>
      (m: T): void => {
        try {
          fn(m);
        } catch (err) {
          this.opts.logger.error({ err, topic }, 'stream broadcast failed');
        }
      };
    this.listeners = {
      reading: guard('readings', (m: ReadingMessage) => this.onReading(m)),
      event: guard('events', (e: EventView) => this.onEvent(e)),
      voucher: guard('vouchers', (v: Voucher) => this.onVoucher(v)),
    };
    // Readings are built per device only while a client here subscribes to that device (events.ts).
    this.offReadings = opts.backend.stream.onReadings(this.listeners.reading, { devices: (device) => this.wantsReadings(device) });
    opts.backend.stream.on('event', this.listeners.event);
    opts.backend.stream.on('voucher', this.listeners.voucher);
    this.heartbeat = setInterval(() => this.beat(), this.lim.heartbeatMs);
    this.heartbeat.unref();
    opts.metrics.clients.set({}, 0);
  }

  clientCount(): number {
    return this.clients.size;
  }

  /** Take over an HTTP upgrade of STREAM_PATH (authenticates first). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    void this.upgrade(req, socket, head).catch((e: unknown) => {
      this.opts.logger.error({ err: e }, 'stream upgrade failed');
      socket.destroy();
    });
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (this.clients.size >= this.lim.maxClients) {
      return rejectUpgrade(socket, new UnavailableError('too many stream clients'));
    }
    const url = new URL(req.url ?? '/', 'http://gateway');
    let token = bearerToken(req.headers);
    if (token === undefined && url.searchParams.has('token')) token = url.searchParams.get('token') ?? '';
    let principal: Principal | null = null;
    if (token !== undefined) {
      try {
        principal = await authenticate(this.opts.tokens, token);
      } catch (e) {
        if (e instanceof ApiError) return rejectUpgrade(socket, e);
        throw e;
      }
    }
    if (socket.destroyed) return;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, principal));
  }

  private attach(ws: WebSocket, principal: Principal | null): void {
    const client: Client = {
      ws,
      principal: null,
      grants: [],
      sub: NO_SUBSCRIPTION,
      alive: true,
      authTimer: null,
      pending: null,
      dropped: false,
    };
    this.clients.add(client);
    this.opts.metrics.clients.set({}, this.clients.size);
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      try {
        this.onMessage(client, data, isBinary);
      } catch (err) {
        this.opts.logger.error({ err }, 'stream message handling failed');
        this.sendControl(client, { type: 'error', error: { code: 'GW_ERR_INTERNAL', message: 'internal error' } });
      }
    });
    ws.on('error', (err) => this.opts.logger.debug({ err }, 'stream client error'));
    ws.on('close', () => {
      if (client.authTimer) clearTimeout(client.authTimer);
      this.clients.delete(client);
      this.opts.metrics.clients.set({}, this.clients.size);
    });
    if (principal) {
      this.accept(client, principal);
    } else {
      client.authTimer = setTimeout(() => {
        this.refuse(client, 'no auth message in time');
      }, this.lim.authTimeoutMs);
      client.authTimer.unref();
    }
  }

  private accept(client: Client, principal: Principal): void {
    if (principal.kind === 'metrics') {
      this.refuse(client, 'a metrics token reads /metrics only');
      return;
    }
    if (client.authTimer) clearTimeout(client.authTimer);
    client.authTimer = null;
    client.principal = principal;
    client.grants = principal.kind === 'buyer' ? compileGrants(principal.points) : [];
    this.sendControl(client, { type: 'ready', version: this.opts.version, principal: principal.kind });
  }

  private refuse(client: Client, reason: string): void {
    if (client.authTimer) clearTimeout(client.authTimer);
    client.authTimer = null;
    this.sendControl(client, {
      type: 'error',
      error: { code: 'GW_ERR_UNAUTHORIZED', message: `unauthorized: ${reason}` },
    });
    client.ws.close(CLOSE_UNAUTHORIZED, 'unauthorized');
    this.clients.delete(client);
    this.opts.metrics.clients.set({}, this.clients.size);
  }

  private onMessage(client: Client, data: RawData, isBinary: boolean): void {
    if (client.pending) {
      // A pipelined message behind an auth still being checked: replay it after.
      if (client.pending.length >= 16) return this.refuse(client, 'too many messages before authentication');
      client.pending.push({ data, isBinary });
      return;
    }
    if (isBinary) return this.sendError(client, new BadRequestError('message', 'binary messages are not supported'));
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      if (!client.principal) return this.refuse(client, 'first message must be {"type":"auth","token":…}');
      return this.sendError(client, new BadRequestError('message', 'not valid JSON'));
    }
    const type = typeof msg === 'object' && msg !== null ? (msg as { type?: unknown }).type : undefined;
    if (!client.principal) {
      if (type !== 'auth') return this.refuse(client, 'first message must be {"type":"auth","token":…}');
      const token = (msg as { token?: unknown }).token;
      if (typeof token !== 'string') return this.refuse(client, 'auth message without a token');
      return this.authByMessage(client, token);
    }
    try {
      switch (type) {
        case 'subscribe':
          return this.subscribe(client, msg as Record<string, unknown>);
        case 'ping':
          return this.sendControl(client, { type: 'pong' });
        case 'auth':
          throw new BadRequestError('type', 'already authenticated');
        default:
          throw new BadRequestError('type', 'expected "subscribe" or "ping"');
      }
    } catch (e) {
      if (e instanceof ApiError) return this.sendError(client, e);
      throw e;
    }
  }

  private authByMessage(client: Client, token: string): void {
    const done = (p: Principal | null): void => {
      const queued = client.pending ?? [];
      client.pending = null;
      if (client.ws.readyState !== WebSocket.OPEN) return; // timed out or closed meanwhile
      if (!p) return this.refuse(client, 'invalid token');
      this.accept(client, p);
      for (const m of queued) this.onMessage(client, m.data, m.isBinary);
    };
    let result: Principal | null | Promise<Principal | null>;
    try {
      result = this.opts.tokens.resolve(token);
    } catch (err) {
      this.opts.logger.error({ err }, 'token resolver failed');
      return this.refuse(client, 'token check failed');
    }
    if (!(result instanceof Promise)) return done(result);
    client.pending = [];
    result.then(done, (err: unknown) => {
      client.pending = null;
      this.opts.logger.error({ err }, 'token resolver failed');
      this.refuse(client, 'token check failed');
    });
  }

  private subscribe(client: Client, msg: Record<string, unknown>): void {
    client.sub = parseSubscribe(msg, client.principal as Principal);
    this.sendControl(client, client.sub.echo);
  }

  /** True when some authenticated client subscribes to `device`'s readings. */
  private wantsReadings(device: string): boolean {
    for (const c of this.clients) if (c.principal && c.sub.topics.has('readings') && matchesAny(c.sub.devices, device)) return true;
    return false;
  }

  private onReading(m: ReadingMessage): void {
    let adminText: string | null = null;
    for (const c of this.clients) {
      if (!c.principal || !c.sub.topics.has('readings') || !matchesAny(c.sub.devices, m.device)) continue;
      if (c.principal.kind === 'admin') {
        adminText ??= JSON.stringify({ type: 'reading', ...m });
        this.send(c, adminText, 'readings');
        continue;
      }
      if (c.principal.kind !== 'buyer') continue;
      const cut = readingForBuyer(m, c.grants);
      if (!cut || !this.send(c, JSON.stringify({ type: 'reading', ...cut }), 'readings')) continue;
      this.opts.backend.meterDelivery?.({
        account: c.principal.account,
        device: m.device,
        points: Object.keys(cut.points),
        at: m.at,
      });
    }
  }

  private onEvent(e: EventView): void {
    let text: string | null = null;
    for (const c of this.clients) {
      if (c.principal?.kind !== 'admin' || !c.sub.topics.has('events')) continue;
      if (e.device !== undefined && !matchesAny(c.sub.devices, e.device)) continue;
      text ??= JSON.stringify({ type: 'event', ...e });
      this.send(c, text, 'events');
    }
  }

  private onVoucher(v: Voucher): void {
    let text: string | null = null;
    for (const c of this.clients) {
      if (c.principal?.kind !== 'admin' || !c.sub.topics.has('vouchers') || !matchesAny(c.sub.channels, v.channel)) {
        continue;
      }
      text ??= JSON.stringify({ type: 'voucher', ...v });
      this.send(c, text, 'vouchers');
    }
  }

  /** Send a data message, or drop the client when its unsent backlog would pass the limit. */
  private send(c: Client, text: string, topic: Topic): boolean {
    if (c.dropped || c.ws.readyState !== WebSocket.OPEN) return false;
    if (c.ws.bufferedAmount + Buffer.byteLength(text) > this.lim.maxBufferedBytes) {
      this.drop(c, 'slow', CLOSE_SLOW_CONSUMER, 'slow consumer: send buffer full');
      return false;
    }
    c.ws.send(text);
    this.opts.metrics.sent.inc({ topic });
    return true;
  }

  private sendControl(c: Client, msg: object): void {
    if (c.ws.readyState === WebSocket.OPEN) c.ws.send(JSON.stringify(msg));
  }

  private sendError(c: Client, e: ApiError): void {
    this.sendControl(c, { type: 'error', ...errorBody(e) });
  }

  private drop(c: Client, reason: 'slow' | 'heartbeat', code: number, text: string): void {
    c.dropped = true;
    this.clients.delete(c);
    this.opts.metrics.clients.set({}, this.clients.size);
    this.opts.metrics.dropped.inc({ reason });
    this.opts.logger.warn({ reason, buffered: c.ws.bufferedAmount }, 'dropping stream client');
    if (code === 0) {
      c.ws.terminate();
      return;
    }
    c.ws.close(code, text);
    setTimeout(() => c.ws.terminate(), this.lim.dropGraceMs).unref();
  }

  private beat(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        this.drop(c, 'heartbeat', 0, '');
        continue;
      }
      c.alive = false;
      if (c.ws.readyState === WebSocket.OPEN) c.ws.ping();
    }
  }

  /** Stop listening to the backend and close every client (1001). */
  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.offReadings();
    this.opts.backend.stream.off('event', this.listeners.event);
    this.opts.backend.stream.off('voucher', this.listeners.voucher);
    const closing = [...this.clients].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === WebSocket.CLOSED) return resolve();
          c.ws.once('close', () => resolve());
          c.ws.close(CLOSE_GOING_AWAY, 'gateway stopping');
          setTimeout(() => c.ws.terminate(), 1000).unref();
        }),
    );
    this.clients.clear();
    await Promise.all(closing);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
