/**
 * Delivering service orders to their provider until it acknowledges
 * (docs/policies.md, "Delivery and acknowledgement"):
 *
 * - URL (http:// or https://): the order is POSTed as JSON with an
 *   `Idempotency-Key: <order id>` header. The answer is an acknowledgement
 *   when it is 2xx and, if its body is JSON with an `id`, that id is the
 *   order's. Anything else (a refused connection, a timeout, 5xx, 4xx) is a
 *   failed attempt.
 * - MQTT topic: the order is published (QoS 1, through the uplink's on-disk
 *   outbox) on the topic; the provider acknowledges by publishing
 *   `{"id": "<order id>"}` on `<topic>/ack`.
 *
 * Each attempt goes to every provider of the order; the first
 * acknowledgement from any of them ends the delivery. Until then attempts are
 * repeated with backoff (base/backoff.ts: 1 s doubling to the node's
 * `retryMaxMs`), for as long as it takes: across provider and broker outages
 * and, since open orders are durable, across restarts.
 */
import { Backoff } from '../base/backoff';
import type { Logger } from '../base/log';
import type { OrderView } from '../events';

/** The MQTT side, as the uplink offers it (daemon/gateway.ts wires it). */
export interface OrderMqtt {
  /** Queue a QoS-1 message on `topic` (through the outbox). */
  send(topic: string, body: string): void;
  /** Listen on `topic` (re-subscribed after every reconnect). */
  subscribe(topic: string, onMessage: (payload: Buffer) => void): void;
}

export interface OrderDeliveryDeps {
  /** Null without an MQTT uplink (set later with `setMqtt`). */
  mqtt?: OrderMqtt | null;
  /** An acknowledgement arrived (via "http" or "mqtt"). */
  onAck(id: string, via: string): void;
  /** An attempt failed (every attempt; the caller decides what to record). */
  onFailure(order: OrderView, attempt: number, retryInMs: number, error: string): void;
  log: Logger;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** First retry delay (default 1 s). */
  retryBaseMs?: number;
}

interface Pending {
  order: OrderView;
  backoff: Backoff;
  timer: NodeJS.Timeout | null;
  attempts: number;
}

export const ACK_SUFFIX = '/ack';

export class OrderDelivery {
  private readonly pending = new Map<string, Pending>();
  private readonly subscribed = new Set<string>();
  private stopped = false;

  private mqtt: OrderMqtt | null;

  constructor(private readonly d: OrderDeliveryDeps) {
    this.mqtt = d.mqtt ?? null;
  }

  /** The uplink, once it runs (before any order is delivered). */
  setMqtt(mqtt: OrderMqtt | null): void {
    this.mqtt = mqtt;
  }

  /** Start delivering `order` (no-op when it is already being delivered). */
  deliver(order: OrderView, retryMaxMs: number): void {
    if (this.stopped || this.pending.has(order.id)) return;
    const base = this.d.retryBaseMs ?? 1000;
    const p: Pending = {
      order,
      backoff: new Backoff({ baseMs: base, capMs: Math.max(base, retryMaxMs), minMs: Math.min(base, retryMaxMs) }),
      timer: null,
      attempts: 0,
    };
    this.pending.set(order.id, p);
    for (const t of this.topics(order)) this.listen(t);
    void this.attempt(p);
  }

  /** Stop delivering (acknowledged or closed). */
  cancel(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    if (p.timer) clearTimeout(p.timer);
    this.pending.delete(id);
  }

  /** How many attempts an order took so far (0 when not being delivered). */
  attempts(id: string): number {
    return this.pending.get(id)?.attempts ?? 0;
  }

  stop(): void {
    this.stopped = true;
    for (const p of this.pending.values()) if (p.timer) clearTimeout(p.timer);
    this.pending.clear();
  }

  private topics(o: OrderView): string[] {
    return o.provider.filter((p) => !/^https?:\/\//i.test(p));
  }

  private listen(topic: string): void {
    if (!this.mqtt || this.subscribed.has(topic)) return;
    this.subscribed.add(topic);
    this.mqtt.subscribe(topic + ACK_SUFFIX, (payload) => {
      const id = ackId(payload);
      if (id !== undefined && this.pending.has(id)) this.d.onAck(id, 'mqtt');
    });
  }

  private async attempt(p: Pending): Promise<void> {
    p.timer = null;
    p.attempts += 1;
    const errors: string[] = [];
    const body = JSON.stringify(p.order);
    for (const topic of this.topics(p.order)) {
      if (!this.mqtt) errors.push(`${topic}: no MQTT uplink configured`);
      else this.mqtt.send(topic, JSON.stringify({ ...p.order, ackTopic: topic + ACK_SUFFIX }));
    }
    for (const url of p.order.provider.filter((x) => /^https?:\/\//i.test(x))) {
      try {
        await this.post(url, p.order.id, body);
        if (this.pending.get(p.order.id) === p) this.d.onAck(p.order.id, 'http');
        return;
      } catch (err) {
        errors.push(`${url}: ${(err as Error).message}`);
      }
    }
    if (this.stopped || this.pending.get(p.order.id) !== p) return; // acknowledged (over MQTT) meanwhile
    const delay = p.backoff.next();
    // Topics alone are not a failure yet: the provider may be offline; they are published again on each attempt.
    this.d.onFailure(p.order, p.attempts, delay, errors.join('; ') || 'not acknowledged yet');
    p.timer = setTimeout(() => void this.attempt(p), delay);
    p.timer.unref();
  }

  private async post(url: string, id: string, body: string): Promise<void> {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': id },
      body,
      signal: AbortSignal.timeout(this.d.timeoutMs ?? 10_000),
    });
    const text = await res.text().catch(() => '');
    if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}`);
    const answered = jsonId(text);
    if (answered !== undefined && answered !== id) throw new Error(`answered for order ${answered.slice(0, 64)}, not ${id}`);
  }
}

/** The `id` of a JSON object body, if it has one. */
function jsonId(text: string): string | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string') return (v as { id: string }).id;
  } catch {
    // not JSON: fine, a 2xx is enough
  }
  return undefined;
}

/** `{"id": "…"}` or the bare id. */
function ackId(payload: Buffer): string | undefined {
  const text = payload.toString('utf8').trim();
  return jsonId(text) ?? (/^[\w.:-]{1,128}$/.test(text) ? text : undefined);
}
