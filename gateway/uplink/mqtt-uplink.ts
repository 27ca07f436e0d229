/**
 * The northbound MQTT uplink (docs/architecture.md §8), an extension with start()/stop():
 * readings, events and vouchers from the gateway's stream are put into the
 * outbox first (durable, bounded, numbered by `seq`), then sent from it in seq
 * order with QoS 1, at most `window` unacknowledged at a time. An entry leaves
 * the outbox only on its PUBACK. When the connection drops, whatever was in
 * flight is sent again from the oldest unacknowledged entry on the next
 * connection, so after any outage the backlog goes out in order before newer
 * messages (a subscriber may see a message twice: QoS-1 redelivery, same seq).
 *
 * Each connection attempt is a fresh mqtt.js client with its own reconnect
 * switched off: the outbox, not mqtt.js's in-memory store, is the one queue,
 * and reconnects back off exponentially with jitter (base/backoff.ts).
 * On connect the retained status topic gets "online"; the last will (retained)
 * says "offline" when the connection dies without a clean stop; a clean stop
 * publishes "offline" itself.
 *
 * Putting a message never waits for the network: the metering path only pays
 * for one SQLite insert. A full outbox drops its oldest entries (counted in
 * `m2m_mqtt_dropped_total` and logged), never blocks.
 */
import { connect, type MqttClient } from 'mqtt';
import type { CheckpointView, EventBus, EventView, OrderView, ReadingMessage, Voucher } from '../events';
import type { Counter, MetricsRegistry } from '../base/metrics';
import type { MqttConfig } from '../config/schema';
import type { Logger } from '../base/log';
import { Backoff } from '../base/backoff';
import { readPasswordFile } from './credentials';
import {
  type QueuedMessage,
  UplinkTopics,
  checkpointMessage,
  eventMessage,
  orderMessage,
  readingMessage,
  statusPayload,
  voucherMessage,
  wirePayload,
  type StatusPayload,
} from './messages';
import type { Outbox } from './outbox';
import { SqliteOutbox } from './sqlite-outbox';

export const DEFAULT_WINDOW = 16;
const LOG_DROPS_EVERY = 10_000;

export interface MqttUplinkOptions {
  url: string;
  topicPrefix: string;
  gatewayId: string;
  clientId: string;
  username?: string;
  password?: string;
  outbox: Outbox;
  version: string;
  /** ISO time the gateway started (in the status payload). */
  startedAt: string;
  log: Logger;
  /** Registers m2m_mqtt_* metrics here when given. */
  metrics?: MetricsRegistry;
  /** Unacknowledged publishes at most (default 16). */
  window?: number;
  /** Reconnect backoff: first ceiling and cap in ms (defaults 500 and 30 000). */
  reconnect?: { baseMs?: number; capMs?: number };
  keepaliveS?: number;
  connectTimeoutMs?: number;
  /** How long stop() waits for the queue to drain while connected (default 2000 ms). */
  drainMs?: number;
}

/** What the controller passes: the resolved `mqtt` section and the gateway's facts. */
export interface UplinkContext {
  gatewayId: string;
  dataDir: string;
  version: string;
  startedAtMs: number;
  log: Logger;
  metrics?: MetricsRegistry;
  reconnect?: MqttUplinkOptions['reconnect'];
}

export class MqttUplink {
  readonly topics: UplinkTopics;
  private client: MqttClient | null = null;
  private ready = false;
  private stopped = false;
  private readonly inFlight = new Set<number>();
  /** Highest seq sent on the current connection. */
  private cursor = 0;
  private pumpQueued = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly backoff: Backoff;
  private readonly window: number;
  private stream: EventBus | null = null;
  private droppedTotal = 0;
  private publishedTotal = 0;
  private connectedOnce = false;
  private readonly listeners = {
    reading: (m: ReadingMessage) => this.publishReading(m),
    event: (e: EventView) => this.publishEvent(e),
    voucher: (v: Voucher) => this.publishVoucher(v),
    order: (o: OrderView) => this.enqueue(orderMessage(this.topics, this.opts.gatewayId, o)),
    checkpoint: (c: CheckpointView) => this.enqueue(checkpointMessage(this.topics, this.opts.gatewayId, c)),
  };
  /** Topics listened on (service-order acknowledgements), subscribed again on every connection. */
  private readonly subscriptions = new Map<string, (payload: Buffer) => void>();
  private readonly m: { published?: Counter; dropped?: Counter } = {};
  private idleWaiters: Array<() => void> = [];

  /** Open `<dataDir>/outbox.db` and read the password file (refusing one others can read). */
  static open(cfg: MqttConfig & { clientId: string }, ctx: UplinkContext): MqttUplink {
    const password = cfg.passwordFile !== undefined ? readPasswordFile(cfg.passwordFile) : undefined;
    const outbox = SqliteOutbox.open(ctx.dataDir, { maxQueued: cfg.maxQueued });
    return new MqttUplink({
      url: cfg.url,
      topicPrefix: cfg.topicPrefix,
      gatewayId: ctx.gatewayId,
      clientId: cfg.clientId,
      username: cfg.username,
      password,
      outbox,
      version: ctx.version,
      startedAt: new Date(ctx.startedAtMs).toISOString(),
      log: ctx.log,
      metrics: ctx.metrics,
      reconnect: ctx.reconnect,
    });
  }

  constructor(private readonly opts: MqttUplinkOptions) {
    this.topics = new UplinkTopics(opts.topicPrefix, opts.gatewayId);
    this.window = Math.max(1, opts.window ?? DEFAULT_WINDOW);
    this.backoff = new Backoff({ baseMs: opts.reconnect?.baseMs ?? 500, capMs: opts.reconnect?.capMs ?? 30_000, minMs: 100 });
    const reg = opts.metrics;
    if (reg) {
      reg.gauge({
        name: 'm2m_mqtt_connected',
        help: '1 while the MQTT uplink is connected to its broker',
        collect: (g) => g.set(undefined, this.ready ? 1 : 0),
      });
      reg.gauge({
        name: 'm2m_mqtt_queued',
        help: 'Messages in the MQTT outbox (not yet acknowledged by the broker)',
        collect: (g) => g.set(undefined, this.safeCount()),
      });
      reg.gauge({
        name: 'm2m_mqtt_last_seq',
        help: 'Last seq assigned to an uplink message',
        collect: (g) => g.set(undefined, this.safeLastSeq()),
      });
      this.m.published = reg.counter({ name: 'm2m_mqtt_published_total', help: 'Uplink messages acknowledged by the broker (PUBACK)' });
      this.m.dropped = reg.counter({
        name: 'm2m_mqtt_dropped_total',
        help: 'Uplink messages dropped because the outbox was full (oldest first)',
      });
    }
  }

  /** Listen to the gateway's stream (when given) and connect in the background. */
  start(stream?: EventBus): this {
    if (stream) {
      this.stream = stream;
      stream.on('reading', this.listeners.reading);
      stream.on('event', this.listeners.event);
      stream.on('voucher', this.listeners.voucher);
      stream.on('order', this.listeners.order);
      stream.on('checkpoint', this.listeners.checkpoint);
    }
    this.connect();
    return this;
  }

  /**
   * Stop listening; while connected, wait (at most `drainMs`) for the queue to
   * drain, then publish "offline" and disconnect cleanly. What is not
   * acknowledged stays in the outbox for the next start.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.stream) {
      this.stream.off('reading', this.listeners.reading);
      this.stream.off('event', this.listeners.event);
      this.stream.off('voucher', this.listeners.voucher);
      this.stream.off('order', this.listeners.order);
      this.stream.off('checkpoint', this.listeners.checkpoint);
      this.stream = null;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    if (client && this.ready) {
      await this.drained(this.opts.drainMs ?? 2000);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        client.publish(this.topics.status, this.status('offline'), { qos: 1, retain: true }, () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.client = null;
    this.ready = false;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      // A clean DISCONNECT when connected (the broker then discards the will).
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000); // never let a stuck socket hold up the gateway's stop
        client.end(!client.connected, {}, () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    for (const w of this.idleWaiters.splice(0)) w();
    const queued = this.safeCount();
    this.opts.outbox.close();
    this.opts.log.info({ queued }, queued > 0 ? 'MQTT uplink stopped; messages stay queued for the next start' : 'MQTT uplink stopped');
  }

  publishReading(m: ReadingMessage): void {
    this.enqueue(readingMessage(this.topics, this.opts.gatewayId, m));
  }

  publishEvent(e: EventView): void {
    this.enqueue(eventMessage(this.topics, this.opts.gatewayId, e));
  }

  publishVoucher(v: Voucher): void {
    this.enqueue(voucherMessage(this.topics, this.opts.gatewayId, v));
  }

  /** Queue a message on any topic (service orders to a provider); sent in seq order like the rest. */
  send(topic: string, body: string): void {
    this.enqueue({ topic, body });
  }

  /** Listen on `topic` (QoS 1) now and after every reconnect; one handler per topic. */
  subscribe(topic: string, onMessage: (payload: Buffer) => void): void {
    this.subscriptions.set(topic, onMessage);
    if (this.client && this.ready) this.client.subscribe(topic, { qos: 1 });
  }

  get connected(): boolean {
    return this.ready;
  }

  /** Messages waiting in the outbox (sent or not, not yet acknowledged). */
  queued(): number {
    return this.safeCount();
  }

  lastSeq(): number {
    return this.safeLastSeq();
  }

  get stats(): { published: number; dropped: number } {
    return { published: this.publishedTotal, dropped: this.droppedTotal };
  }

  private enqueue(msg: QueuedMessage): void {
    if (this.stopped) return;
    try {
      const r = this.opts.outbox.put(msg.topic, msg.body);
      if (r.dropped > 0) this.countDrops(r.dropped);
    } catch (err) {
      // Never let the uplink break the metering path: the message is lost, say so.
      this.countDrops(1);
      this.opts.log.error({ err: (err as Error).message, topic: msg.topic }, 'MQTT outbox write failed; message dropped');
      return;
    }
    this.pumpSoon();
  }

  private countDrops(n: number): void {
    const before = this.droppedTotal;
    this.droppedTotal += n;
    this.m.dropped?.inc(undefined, n);
    if (before === 0 || Math.floor(before / LOG_DROPS_EVERY) !== Math.floor(this.droppedTotal / LOG_DROPS_EVERY)) {
      this.opts.log.warn(
        { dropped: this.droppedTotal, maxQueued: this.opts.outbox.maxQueued },
        'MQTT outbox full: dropping the oldest messages',
      );
    }
  }

  private connect(): void {
    if (this.stopped) return;
    this.timer = null;
    const o = this.opts;
    const client = connect(o.url, {
      clientId: o.clientId,
      username: o.username,
      password: o.password,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: o.keepaliveS ?? 30,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      queueQoSZero: false,
      will: { topic: this.topics.status, payload: Buffer.from(this.status('offline')), qos: 1, retain: true },
    });
    this.client = client;
    let lastError: string | undefined;
    client.on('connect', () => this.onConnect(client));
    client.on('message', (topic, payload) => this.subscriptions.get(topic)?.(payload));
    client.on('error', (err) => {
      lastError = err.message;
    });
    client.on('close', () => this.onClose(client, lastError));
  }

  private onConnect(client: MqttClient): void {
    if (client !== this.client || this.stopped) return;
    this.ready = true;
    this.connectedOnce = true;
    this.backoff.reset();
    this.cursor = 0;
    this.inFlight.clear();
    this.opts.log.info({ url: this.opts.url, queued: this.safeCount() }, 'MQTT uplink connected');
    // First on the connection, so it precedes the backlog.
    client.publish(this.topics.status, this.status('online'), { qos: 1, retain: true }, () => undefined);
    if (this.subscriptions.size > 0) client.subscribe([...this.subscriptions.keys()], { qos: 1 });
    this.readPublished(client);
    this.pump();
  }

  private publishedWatch: { onVoucher: (v: unknown) => void; onDone: () => void } | null = null;

  /**
   * Read this gateway's own retained vouchers back once (restore safety,
   * docs/settlement.md): subscribe to `…/vouchers/+`, then to a barrier
   * topic; the broker sends the retained messages of the first subscription
   * before it acknowledges the second, so at that SUBACK every published
   * channel has been seen. Then both are unsubscribed.
   */
  watchPublishedVouchers(onVoucher: (v: unknown) => void, onDone: () => void): void {
    this.publishedWatch = { onVoucher, onDone };
    if (this.client && this.ready) this.readPublished(this.client);
  }

  private readPublished(client: MqttClient): void {
    const w = this.publishedWatch;
    if (!w) return;
    const filter = `${this.topics.base}/vouchers/+`;
    const barrier = `${this.topics.base}/sync/${Math.random().toString(36).slice(2)}`;
    const onMessage = (topic: string, payload: Buffer): void => {
      if (!this.topics.isVoucher(topic)) return;
      try {
        w.onVoucher((JSON.parse(payload.toString('utf8')) as { voucher?: unknown }).voucher);
      } catch {
        // not ours to judge: the settle layer checks what it gets
      }
    };
    client.on('message', onMessage);
    client.subscribe(filter, { qos: 1 }, (err) => {
      if (err || client !== this.client) return;
      client.subscribe(barrier, { qos: 0 }, (err2) => {
        if (err2 || client !== this.client || this.publishedWatch !== w) return;
        client.removeListener('message', onMessage);
        client.unsubscribe([filter, barrier]);
        this.publishedWatch = null;
        w.onDone();
      });
    });
  }

  private onClose(client: MqttClient, lastError: string | undefined): void {
    if (client !== this.client) return;
    const wasReady = this.ready;
    this.client = null;
    this.ready = false;
    this.inFlight.clear();
    this.cursor = 0;
    client.removeAllListeners();
    client.on('error', () => undefined);
    client.end(true);
    for (const w of this.idleWaiters.splice(0)) w();
    if (this.stopped) return;
    const delay = this.backoff.next();
    const info = { url: this.opts.url, err: lastError, queued: this.safeCount(), retryInMs: delay };
    if (wasReady) this.opts.log.warn(info, 'MQTT broker connection lost; queueing in the outbox');
    else if (this.backoff.attempt === 1)
      this.opts.log.warn(info, this.connectedOnce ? 'MQTT broker unreachable; retrying' : 'cannot reach the MQTT broker yet; retrying');
    else this.opts.log.debug(info, 'MQTT reconnect failed');
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private pumpSoon(): void {
    if (this.pumpQueued || !this.ready) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Send the next entries after the cursor, in seq order, keeping at most `window` in flight. */
  private pump(): void {
    const client = this.client;
    if (!client || !this.ready) return;
    while (this.inFlight.size < this.window) {
      let batch;
      try {
        batch = this.opts.outbox.peek(this.window - this.inFlight.size, this.cursor);
      } catch (err) {
        this.opts.log.error({ err: (err as Error).message }, 'MQTT outbox read failed');
        return;
      }
      if (batch.length === 0) break;
      for (const e of batch) {
        this.cursor = e.seq;
        this.inFlight.add(e.seq);
        client.publish(e.topic, wirePayload(e), { qos: 1, retain: this.topics.isRetained(e.topic) }, (err) =>
          this.onAck(client, e.seq, err),
        );
      }
    }
    this.checkIdle();
  }

  private onAck(client: MqttClient, seq: number, err: Error | undefined): void {
    if (client !== this.client || !this.inFlight.has(seq)) return;
    this.inFlight.delete(seq);
    if (err) return; // the connection is going down: sent again from the outbox on the next one
    try {
      this.opts.outbox.del(seq);
    } catch {
      return; // closed while stopping
    }
    this.publishedTotal++;
    this.m.published?.inc();
    this.pump();
  }

  private checkIdle(): void {
    if (this.inFlight.size > 0 || this.idleWaiters.length === 0) return;
    if (this.safeCount() > 0 && this.ready) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when nothing is queued or in flight, the connection is lost, or after `ms`. */
  private drained(ms: number): Promise<void> {
    if (this.safeCount() === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.idleWaiters.push(done);
      this.pump();
    });
  }

  private status(status: StatusPayload['status']): string {
    const s: StatusPayload = { status, gateway: this.opts.gatewayId, version: this.opts.version, startedAt: this.opts.startedAt };
    if (status === 'online') s.at = new Date().toISOString();
    return statusPayload(s);
  }

  private safeCount(): number {
    try {
      return this.opts.outbox.count();
    } catch {
      return 0;
    }
  }

  private safeLastSeq(): number {
    try {
      return this.opts.outbox.lastSeq();
    } catch {
      return 0;
    }
  }
}
