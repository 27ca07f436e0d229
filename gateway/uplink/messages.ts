/**
 * Topics and payloads of the MQTT uplink (docs/architecture.md §8, docs/mqtt.md).
 *
 *   <prefix>/<gatewayId>/readings/<device>   {"seq","type":"reading","gateway","device","at","points"}
 *   <prefix>/<gatewayId>/events              {"seq","type":"event","gateway",...EventView}
 *   <prefix>/<gatewayId>/vouchers/<channel>  {"seq","type":"voucher","gateway","voucher":{...§6}}  (retained:
 *                                            the last voucher published per channel, read back after a restore)
 *   <prefix>/<gatewayId>/checkpoints         {"seq","type":"checkpoint","gateway","checkpoint":{…signed}}  (retained:
 *                                            the newest, so a late subscriber holds a checkpoint at once)
 *   <prefix>/<gatewayId>/orders              {"seq","type":"order","gateway",...OrderView} on every change of state
 *   <prefix>/<gatewayId>/status  (retained)  {"status":"online"|"offline","gateway","version","startedAt","at"}
 *
 * Data messages are queued without `seq`; `wirePayload` puts the outbox seq in
 * front when the message is sent. The voucher stays a nested object because it
 * has its own `seq` and a signature over its exact fields. Values are passed
 * through as the gateway made them: money and quantities are decimal strings.
 */
import type { CheckpointView, EventView, OrderView, ReadingMessage, Voucher } from '../events';
import type { OutboxEntry } from './outbox';

export interface QueuedMessage {
  topic: string;
  body: string;
}

export interface StatusPayload {
  status: 'online' | 'offline';
  gateway: string;
  version: string;
  startedAt: string;
  at?: string;
}

/** A topic level from an id: MQTT separators and wildcards (`/ + #`) cannot appear inside one level. */
export function topicLevel(id: string): string {
  // eslint-disable-next-line no-control-regex -- MQTT forbids NUL in topics
  return id.replace(/[/+#\u0000]/g, '_');
}

export class UplinkTopics {
  readonly base: string;
  constructor(prefix: string, gatewayId: string) {
    this.base = `${prefix}/${topicLevel(gatewayId)}`;
  }
  readings(device: string): string {
    return `${this.base}/readings/${topicLevel(device)}`;
  }
  get events(): string {
    return `${this.base}/events`;
  }
  /** Whether a topic is one of this gateway's voucher topics. */
  isVoucher(topic: string): boolean {
    return topic.startsWith(`${this.base}/vouchers/`);
  }
  /** Whether messages on a topic are published retained: vouchers (the last per channel) and checkpoints (the newest). */
  isRetained(topic: string): boolean {
    return this.isVoucher(topic) || topic === this.checkpoints;
  }
  vouchers(channel: string): string {
    return `${this.base}/vouchers/${topicLevel(channel)}`;
  }
  get checkpoints(): string {
    return `${this.base}/checkpoints`;
  }
  get orders(): string {
    return `${this.base}/orders`;
  }
  get status(): string {
    return `${this.base}/status`;
  }
}

export function readingMessage(t: UplinkTopics, gateway: string, m: ReadingMessage): QueuedMessage {
  return { topic: t.readings(m.device), body: JSON.stringify({ type: 'reading', gateway, device: m.device, at: m.at, points: m.points }) };
}

export function eventMessage(t: UplinkTopics, gateway: string, e: EventView): QueuedMessage {
  return { topic: t.events, body: JSON.stringify({ type: 'event', gateway, ...e }) };
}

export function voucherMessage(t: UplinkTopics, gateway: string, v: Voucher): QueuedMessage {
  return { topic: t.vouchers(v.channel), body: JSON.stringify({ type: 'voucher', gateway, voucher: v }) };
}

export function checkpointMessage(t: UplinkTopics, gateway: string, c: CheckpointView): QueuedMessage {
  return { topic: t.checkpoints, body: JSON.stringify({ type: 'checkpoint', gateway, checkpoint: c }) };
}

export function orderMessage(t: UplinkTopics, gateway: string, o: OrderView): QueuedMessage {
  return { topic: t.orders, body: JSON.stringify({ type: 'order', gateway, ...o }) };
}

/** The bytes sent for an outbox entry: its body with `"seq"` as the first field. */
export function wirePayload(e: OutboxEntry): string {
  const body = e.body.trim();
  if (/^\{\s*\}$/.test(body)) return `{"seq":${e.seq}}`;
  if (!body.startsWith('{')) return JSON.stringify({ seq: e.seq, body: JSON.parse(body) as unknown });
  return `{"seq":${e.seq},${body.slice(1)}`;
}

export function statusPayload(s: StatusPayload): string {
  return JSON.stringify(s);
}
