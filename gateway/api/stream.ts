/**
 * WS /api/stream: readings, events and vouchers pushed as JSON text messages.
 *
 * Protocol (client → server):
 *   {"type":"auth","token":"…"}             only when no token came with the upgrade
 *   {"type":"subscribe","topics":["readings","events","vouchers"],
 *    "devices":["purifier-*"],"channels":["purifier-1>*"]}   replaces the subscription;
 *                                           devices/channels default to everything
 *   {"type":"ping"}                         answered by {"type":"pong"} (browsers cannot send WS pings)
 *   buyers only (docs/marketplace.md):
 *   {"type":"deposit","channel":"lab-1>purifier-1","deposit":"5.000000000"}   sets the channel's cap
 *   {"type":"voucher","voucher":{…§6},"deposit"?:"…"}   a voucher signed by the buyer's own key
 *     answered by {"type":"voucher-accepted",…,"bill"} or {"type":"voucher-refused","field","reason","bill"}
 * Server → client:
 *   {"type":"ready","version":"…","principal":"admin"|"buyer"}   after authentication
 *   {"type":"subscribed","topics":[…],"devices":[…],"channels":[…]}
 *   {"type":"reading","device","at","points":{name:{value,unit}}}
 *   {"type":"event", …EventView}   {"type":"voucher", …Voucher}
 *   {"type":"bill", …BillView}     to a buyer: what its channel accrued, paid, owes, paused
 *   {"type":"error","error":{"code","message","field"?}}
 *
 * Authentication: `Authorization: Bearer` or `?token=` on the upgrade (a bad
 * token is refused with HTTP 401 before the upgrade), or the first message.
 * Without a valid token within `authTimeoutMs`, or with a bad one in the
 * first message, the socket is closed with 4401.
 * Buyer principals (§7) get readings only, cut down to the points they were
 * granted; each delivery is reported to `backend.meterDelivery`. Readings are
 * withheld from a buyer while `backend.deliveryPaused` says so (unpaid beyond
 * the offer's credit window, or a refused voucher).
 * `revalidate()` checks every buyer's token again: a revoked buyer is closed
 * at once (4403), the others keep only what they are granted now.
 *
 * Budgets (docs/api.md "Limits"): unauthenticated sockets (no token yet) sit
 * in a small pool per address (`maxPending`, `maxPendingPerAddress`; the
 * oldest makes room) and never take one of the `maxClients` authenticated
 * slots; a buyer account holds at most `maxClientsPerBuyer` of those, and
 * buyers together leave `adminReserve` for admin tokens.
 *
 * Memory stays bounded: every message to a client, replies (pong, error)
 * included, counts against `maxBufferedBytes` of unsent data; past it the
 * client is dropped (close 1013, terminated after `dropGraceMs`) and what it
 * sends after is ignored. A client sending more than `maxMessagesPerSecond`
 * (burst: twice that) is dropped too (1008). A client that misses a
 * heartbeat ping is terminated.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Logger } from '../base/log';
import { authenticate, bearerToken, type Principal, type TokenResolver } from './auth';
import type { BillView, EventView, ReadingMessage, Voucher } from '../events';
import type { ApiBackend } from './backend';
import { ApiError, BadRequestError, errorBody, ForbiddenError, UnavailableError } from './errors';
import type { Counter, Gauge } from '../base/metrics';
import { rejectUpgrade } from './reply';
import { AddressPool } from './address-pool';
import { MessageRate, slotRefusal, streamLimits, type StreamLimits } from './stream-budget';
import {
  compileGrants,
  type CompiledGrants,
  matchesAny,
  NO_GRANTS,
  NO_SUBSCRIPTION,
  parseSubscribe,
  readingForBuyer,
  type Subscription,
  type Topic,
} from './subscription';

export const STREAM_PATH = '/api/stream';
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_REVOKED = 4403;
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_SLOW_CONSUMER = 1013;
export const CLOSE_GOING_AWAY = 1001;

export type { StreamLimits };

type DropReason = 'slow' | 'heartbeat' | 'flood' | 'revoked';

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
  address: string;
  /** The token it authenticated with (kept to check it again on revalidate()). */
  token: string | null;
  principal: Principal | null;
  grants: CompiledGrants;
  sub: Subscription;
  alive: boolean;
  authTimer: NodeJS.Timeout | null;
  /** Messages that arrived while an async token check was running (bounded). */
  pending: Array<{ data: RawData; isBinary: boolean }> | null;
  dropped: boolean;
  /** Incoming message allowance. */
  rate: MessageRate;
}

export class StreamHub {
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  /** Sockets (upgrading or upgraded) without a principal yet: bounded per address, oldest out first. */
  private readonly pending: AddressPool<Client | Duplex>;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly offReadings: () => void;
  private readonly lim: Required<StreamLimits>;
  private readonly listeners: {
    reading: (m: ReadingMessage) => void;
    event: (e: EventView) => void;
    voucher: (v: Voucher) => void;
    bill: (b: BillView) => void;
  };

  constructor(private readonly opts: StreamHubOptions) {
    this.lim = streamLimits(opts.limits);
    this.pending = new AddressPool(this.lim.maxPending, this.lim.maxPendingPerAddress);
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
      bill: guard('readings', (b: BillView) => this.onBill(b)),
    };
    opts.backend.stream.on('bill', this.listeners.bill);
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
    const address = req.socket.remoteAddress ?? '?';
    const url = new URL(req.url ?? '/', 'http://gateway');
    let token = bearerToken(req.headers);
    if (token === undefined && url.searchParams.has('token')) token = url.searchParams.get('token') ?? '';
    // Until its token is checked, the socket holds a pending slot (of its address); it cannot take an authenticated one.
    this.evict(this.pending.admit(socket, address));
    socket.once('close', () => this.pending.remove(socket));
    let principal: Principal | null = null;
    if (token !== undefined) {
      try {
        principal = await authenticate(this.opts.tokens, token);
      } catch (e) {
        this.pending.remove(socket);
        if (e instanceof ApiError) return rejectUpgrade(socket, e);
        throw e;
      }
      this.pending.remove(socket);
      const full = this.fullFor(principal);
      if (full) return rejectUpgrade(socket, new UnavailableError(full));
    }
    if (socket.destroyed) return;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.pending.remove(socket);
      this.attach(ws, address, principal, principal ? (token as string) : null);
    });
  }

  /** Why `principal` may not have another authenticated slot now, or null when it may. */
  private fullFor(principal: Principal): string | null {
    return slotRefusal(
      [...this.clients].map((c) => c.principal),
      principal,
      this.lim,
    );
  }

  /** Close what a pool displaced (sockets still upgrading, or clients that never authenticated). */
  private evict(items: Array<Client | Duplex>): void {
    for (const it of items) {
      if ('ws' in it) this.refuse(it, 'displaced by newer unauthenticated connections');
      else it.destroy();
    }
  }

  private attach(ws: WebSocket, address: string, principal: Principal | null, token: string | null): void {
    const client: Client = {
      ws,
      address,
      token: null,
      principal: null,
      grants: NO_GRANTS,
      sub: NO_SUBSCRIPTION,
      alive: true,
      authTimer: null,
      pending: null,
      dropped: false,
      rate: new MessageRate(this.lim.maxMessagesPerSecond),
    };
    this.clients.add(client);
    this.opts.metrics.clients.set({}, this.clients.size);
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      if (client.dropped) return;
      if (!client.rate.take()) return this.drop(client, 'flood', CLOSE_POLICY_VIOLATION, 'too many messages');
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
      this.pending.remove(client);
      this.clients.delete(client);
      this.opts.metrics.clients.set({}, this.clients.size);
    });
    if (principal) {
      this.accept(client, principal, token as string);
    } else {
      this.evict(this.pending.admit(client, address));
      client.authTimer = setTimeout(() => {
        this.refuse(client, 'no auth message in time');
      }, this.lim.authTimeoutMs);
      client.authTimer.unref();
    }
  }

  private accept(client: Client, principal: Principal, token: string): void {
    if (principal.kind === 'metrics') {
      this.refuse(client, 'a metrics token reads /metrics only');
      return;
    }
    if (client.authTimer) clearTimeout(client.authTimer);
    client.authTimer = null;
    this.pending.remove(client);
    const full = this.fullFor(principal);
    if (full) {
      this.sendError(client, new UnavailableError(full));
      client.ws.close(CLOSE_SLOW_CONSUMER, 'try again later');
      this.clients.delete(client);
      this.opts.metrics.clients.set({}, this.clients.size);
      return;
    }
    client.token = token;
    client.principal = principal;
    client.grants = principal.kind === 'buyer' ? compileGrants(principal.points) : NO_GRANTS;
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
    this.pending.remove(client);
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
        case 'voucher':
        case 'deposit':
          return this.payment(client, type, msg as Record<string, unknown>);
        case 'auth':
          throw new BadRequestError('type', 'already authenticated');
        default:
          throw new BadRequestError('type', 'expected "subscribe", "ping", "voucher" or "deposit"');
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
      this.accept(client, p, token);
      if (!client.principal) return; // no slot
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

  /** A buyer's voucher or deposit (docs/marketplace.md): answered on the same socket. */
  private payment(client: Client, type: 'voucher' | 'deposit', msg: Record<string, unknown>): void {
    const p = client.principal;
    if (p?.kind !== 'buyer') throw new ForbiddenError('only buyer tokens pay with vouchers here');
    const b = this.opts.backend;
    const answer = type === 'voucher' ? b.receiveVoucher?.(p.account, msg) : b.setDeposit?.(p.account, msg);
    if (!answer) throw new BadRequestError('type', 'this gateway takes no buyer payments');
    this.sendControl(client, answer);
  }

  private onBill(bill: BillView): void {
    for (const c of this.clients) {
      if (c.principal?.kind === 'buyer' && c.principal.account === bill.payer) this.sendControl(c, { type: 'bill', ...bill });
    }
  }

  private onReading(m: ReadingMessage): void {
    let adminText: string | null = null;
    for (const c of this.clients) {
      if (!c.principal || !c.sub.topics.has('readings')) continue;
      if (c.principal.kind === 'admin') {
        if (!matchesAny(c.sub.devices, m.device)) continue;
        adminText ??= JSON.stringify({ type: 'reading', ...m });
        this.send(c, adminText, 'readings');
        continue;
      }
      if (c.principal.kind !== 'buyer') continue;
      // Grants first: a buyer's own globs are only ever matched against devices it bought points of.
      const cut = readingForBuyer(m, c.grants);
      if (!cut || !matchesAny(c.sub.devices, m.device)) continue;
      if (this.opts.backend.deliveryPaused?.(c.principal.account, m.device)) continue;
      if (!this.send(c, JSON.stringify({ type: 'reading', ...cut }), 'readings')) continue;
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
      const p = c.principal;
      if (!p || !c.sub.topics.has('vouchers') || !matchesAny(c.sub.channels, v.channel)) continue;
      if (p.kind !== 'admin' && !(p.kind === 'payee' && v.payee === p.account)) continue;
      text ??= JSON.stringify({ type: 'voucher', ...v });
      this.send(c, text, 'vouchers');
    }
  }

  /** Send a data message, or drop the client when its unsent backlog would pass the limit. */
  private send(c: Client, text: string, topic: Topic): boolean {
    if (!this.fits(c, text)) return false;
    c.ws.send(text);
    this.opts.metrics.sent.inc({ topic });
    return true;
  }

  /** Replies (ready, subscribed, pong, errors) count against the same send cap as data. */
  private sendControl(c: Client, msg: object): void {
    const text = JSON.stringify(msg);
    if (this.fits(c, text)) c.ws.send(text);
  }

  /** True when `text` may be queued for `c`; drops the client (slow consumer) when it would pass the cap. */
  private fits(c: Client, text: string): boolean {
    if (c.dropped || c.ws.readyState !== WebSocket.OPEN) return false;
    if (c.ws.bufferedAmount + Buffer.byteLength(text) > this.lim.maxBufferedBytes) {
      this.drop(c, 'slow', CLOSE_SLOW_CONSUMER, 'slow consumer: send buffer full');
      return false;
    }
    return true;
  }

  private sendError(c: Client, e: ApiError): void {
    this.sendControl(c, { type: 'error', ...errorBody(e) });
  }

  private drop(c: Client, reason: DropReason, code: number, text: string): void {
    if (c.dropped) return;
    c.dropped = true;
    if (c.authTimer) clearTimeout(c.authTimer);
    c.authTimer = null;
    this.pending.remove(c);
    this.clients.delete(c);
    this.opts.metrics.clients.set({}, this.clients.size);
    this.opts.metrics.dropped.inc({ reason });
    this.opts.logger.warn({ reason, buffered: c.ws.bufferedAmount }, 'dropping stream client');
    if (code === 0) {
      c.ws.terminate();
      return;
    }
    c.ws.close(code, text);
    // A flooding client gets none of our time any more: stop reading it (a slow one may still read its close frame).
    if (reason === 'flood') (c.ws as unknown as { _socket?: { pause(): void } })._socket?.pause();
    setTimeout(() => c.ws.terminate(), this.lim.dropGraceMs).unref();
  }

  /**
   * Check every buyer client's token again (buyers.json or the offers
   * changed): a token that no longer resolves closes its stream at once
   * (4403); the others get the grants they have now.
   */
  async revalidate(): Promise<void> {
    for (const c of [...this.clients]) {
      if (c.dropped || c.principal?.kind !== 'buyer' || c.token === null) continue;
      let p: Principal | null;
      try {
        p = await this.opts.tokens.resolve(c.token);
      } catch (err) {
        this.opts.logger.error({ err }, 'token resolver failed while revalidating stream clients');
        continue;
      }
      if (c.dropped) continue;
      if (!p || p.kind !== 'buyer' || p.account !== c.principal.account) {
        this.sendControl(c, { type: 'error', error: { code: 'GW_ERR_UNAUTHORIZED', message: 'unauthorized: token revoked' } });
        this.drop(c, 'revoked', CLOSE_REVOKED, 'token revoked');
        continue;
      }
      c.principal = p;
      c.grants = compileGrants(p.points);
    }
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
    this.opts.backend.stream.off('bill', this.listeners.bill);
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
