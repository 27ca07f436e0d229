/**
 * `m2m-service-order` at run time (docs/policies.md), an extension with
 * start(bus)/stop(). On every reading of a watched point it evaluates the
 * node's condition per device:
 *
 *   holds  = value < below  or  value > above  or  days to empty <= predictDays
 *   clears = value >= below + hysteresis  and  value <= above − hysteresis  and
 *            days to empty (of value − hysteresis) > predictDays   (each part only when given)
 *
 * While it holds and the device has no order of this node that is not
 * closed, one order is opened: stored first (ledger/order-store.ts, durable
 * across kill -9), then recorded as a `service-order` event, published on
 * the bus (MQTT `…/orders`) and delivered to the provider until acknowledged
 * (`service-order-ack`). When the condition clears the order is closed
 * (`service-order-closed`) and, if it was acknowledged and has a fee, the fee
 * is billed through the metering core (service-fees.ts). An unknown
 * prediction (not enough readings yet) opens and closes nothing.
 */
import { randomUUID } from 'node:crypto';
import { parseDecimal } from '../base/decimal';
import type { Logger } from '../base/log';
import type { EventBus, OrderView, ReadingMessage } from '../events';
import type { OrderListFilter, OrderRecord, OrderStore } from '../ledger/order-store';
import type { LedgerEvent } from '../ledger/store';
import type { CompiledServiceOrder } from './compile';
import { DEFAULT_RETRY_MAX_MS } from './compilers/service-order';
import { ConsumptionRate } from './consumption-rate';
import type { OrderDelivery } from './order-delivery';
import type { ServiceFees } from './service-fees';

export const ORDER_EVENT_KINDS = ['service-order', 'service-order-ack', 'service-order-closed'] as const;
const FRAC = 9;

export interface ServiceOrdersDeps {
  gatewayId: string;
  store: OrderStore;
  fees: Pick<ServiceFees, 'sync'>;
  delivery: Pick<OrderDelivery, 'deliver' | 'cancel' | 'attempts'>;
  record(events: LedgerEvent[]): void;
  log: Logger;
  now?: () => number;
}

interface Rule {
  order: CompiledServiceOrder;
  below: bigint | null;
  above: bigint | null;
  hyst: bigint;
  predictDays: number | null;
  billable: boolean;
  /** Per device: the recent rate of the point. */
  rates: Map<string, ConsumptionRate>;
}

export class ServiceOrders {
  private rules = new Map<string, Rule[]>(); // "device\0point" -> rules
  private watched = new Map<string, string[]>(); // device -> points some order watches
  private offReadings: (() => void) | null = null;
  private readonly byNode = new Map<string, CompiledServiceOrder>();
  /** "node\0device" -> id of its order that is not closed. */
  private readonly active = new Map<string, string>();
  private bus: EventBus | null = null;
  private readonly now: () => number;
  private readonly onReading = (m: ReadingMessage) => this.observe(m);

  constructor(private readonly d: ServiceOrdersDeps) {
    this.now = d.now ?? Date.now;
    for (const o of d.store.active()) this.active.set(`${o.policy}\0${o.device}`, o.id);
  }

  /** The service-order nodes of the active policy; the rate history of unchanged nodes is kept. */
  setOrders(orders: readonly CompiledServiceOrder[]): void {
    const old = new Map<string, Rule>();
    for (const list of this.rules.values()) for (const r of list) old.set(r.order.nodeId, r);
    this.rules = new Map();
    this.watched = new Map();
    this.byNode.clear();
    for (const o of orders) {
      this.byNode.set(o.nodeId, o);
      const prev = old.get(o.nodeId);
      const rule: Rule = {
        order: o,
        below: o.below !== undefined ? parseDecimal(o.below, FRAC) : null,
        above: o.above !== undefined ? parseDecimal(o.above, FRAC) : null,
        hyst: parseDecimal(o.hysteresis, FRAC),
        predictDays: o.predictDays !== undefined ? Number(o.predictDays) : null,
        billable: o.payee !== undefined && parseDecimal(o.fee, FRAC) > 0n,
        rates:
          prev && prev.order.point === o.point && prev.order.windowMs === o.windowMs && prev.order.hysteresis === o.hysteresis
            ? prev.rates
            : new Map(),
      };
      for (const device of o.matched) {
        const k = `${device}\0${o.point}`;
        this.rules.set(k, [...(this.rules.get(k) ?? []), rule]);
        const points = this.watched.get(device) ?? [];
        if (!points.includes(o.point)) this.watched.set(device, [...points, o.point]);
      }
    }
  }

  /** Listen to readings and resume delivering every order not yet acknowledged. */
  start(bus: EventBus): this {
    this.bus = bus;
    // only the devices and points some order watches (docs/architecture.md §4)
    this.offReadings = bus.onReadings(this.onReading, {
      devices: (device) => this.watched.has(device),
      points: (device) => this.watched.get(device) ?? [],
    });
    for (const o of this.d.store.active()) if (o.state === 'open') this.deliver(o);
    return this;
  }

  stop(): void {
    this.offReadings?.();
    this.offReadings = null;
    this.bus = null;
  }

  /**
   * Events the ledger lacks for orders the store has (the gateway died
   * between storing a change and committing its event): recorded now, with
   * the time of the change. Looks at the newest 1000 orders; `eventsSince`
   * answers the ledger's order events at or after a time.
   */
  restoreEvents(eventsSince: (sinceMs: number) => Iterable<{ kind: string; detail: Record<string, unknown> }>): number {
    const orders = this.d.store.list({ limit: 1000 }).reverse();
    if (orders.length === 0) return 0;
    const seen = new Set<string>();
    for (const e of eventsSince(orders[0]!.openedAtMs)) if (typeof e.detail.order === 'string') seen.add(`${e.kind}\0${e.detail.order}`);
    const missing: LedgerEvent[] = [];
    for (const o of orders) {
      if (!seen.has(`service-order\0${o.id}`)) missing.push(openedEvent(o));
      if (o.ackedAtMs !== null && !seen.has(`service-order-ack\0${o.id}`)) missing.push(ackEvent(o, 'restart'));
      if (o.state === 'closed' && !seen.has(`service-order-closed\0${o.id}`)) missing.push(closedEvent(o));
    }
    if (missing.length > 0) {
      this.d.record(missing);
      this.d.log.warn({ events: missing.length }, 'order events missing from the ledger recorded again');
    }
    return missing.length;
  }

  /** Feed one device's fresh values (the bus does this after start). */
  observe(m: ReadingMessage): void {
    const ts = Date.parse(m.at);
    for (const [point, pv] of Object.entries(m.points)) {
      const rules = this.rules.get(`${m.device}\0${point}`);
      if (!rules || typeof pv.value !== 'string') continue;
      let v: bigint;
      try {
        v = parseDecimal(pv.value, FRAC);
      } catch {
        continue;
      }
      for (const r of rules) this.evaluate(r, m.device, pv.value, v, ts);
    }
  }

  /** The provider acknowledged an order (over HTTP or MQTT). */
  acknowledge(id: string, via: string): void {
    const at = this.now();
    if (!this.d.store.acknowledge(id, at)) return; // unknown, already acknowledged, or closed
    const o = this.d.store.get(id)!;
    this.d.delivery.cancel(id);
    this.d.record([ackEvent(o, via, this.d.delivery.attempts(id))]);
    this.publish(o);
  }

  /**
   * A delivery attempt failed: a `service-order-undelivered` event on the
   * 1st, 2nd, 4th, 8th … attempt (bounded, never silent).
   */
  deliveryFailed(order: OrderView, attempt: number, retryInMs: number, error: string): void {
    if ((attempt & (attempt - 1)) !== 0) return;
    this.d.log.warn(
      { order: order.id, device: order.device, attempt, retryInMs, err: error },
      'service order not acknowledged yet; retrying',
    );
    this.d.record([
      {
        kind: 'service-order-undelivered',
        device: order.device,
        point: order.point,
        tsMs: this.now(),
        detail: { order: order.id, policy: order.policy, attempt, retryInMs, error: error.slice(0, 500) },
      },
    ]);
  }

  list(filter: OrderListFilter = {}): OrderView[] {
    return this.d.store.list(filter).map(view);
  }

  private evaluate(r: Rule, device: string, text: string, v: bigint, ts: number): void {
    let rate = r.rates.get(device);
    if (r.predictDays !== null && !rate) r.rates.set(device, (rate = new ConsumptionRate(r.order.windowMs, Number(r.order.hysteresis))));
    rate?.add(ts, Number(text));
    const days = rate?.daysToEmpty(Number(text));
    const key = `${r.order.nodeId}\0${device}`;
    const id = this.active.get(key);
    if (id === undefined) {
      const reason =
        r.below !== null && v < r.below
          ? 'below'
          : r.above !== null && v > r.above
            ? 'above'
            : r.predictDays !== null && days !== undefined && days <= r.predictDays
              ? 'predictDays'
              : null;
      if (reason) this.open(r, device, text, reason, reason === 'predictDays' ? days! : null, ts);
      return;
    }
    const clearBelow = r.below === null || v >= r.below + r.hyst;
    const clearAbove = r.above === null || v <= r.above - r.hyst;
    const hystDays = rate?.daysToEmpty(Number(text) - Number(r.order.hysteresis));
    const clearPredict = r.predictDays === null || (hystDays !== undefined && hystDays > r.predictDays);
    if (clearBelow && clearAbove && clearPredict) this.close(id, r, text);
  }

  private open(r: Rule, device: string, value: string, reason: string, days: number | null, ts: number): void {
    const o = r.order;
    const rec: OrderRecord = {
      id: randomUUID(),
      gatewayId: this.d.gatewayId,
      policy: o.nodeId,
      device,
      point: o.point,
      reason,
      value,
      predictedDays: days === null ? null : days.toFixed(6),
      provider: [...o.provider.urls, ...o.provider.topics],
      fee: o.fee,
      payee: o.payee ?? null,
      state: 'open',
      openedAtMs: ts,
      ackedAtMs: null,
      closedAtMs: null,
      billed: false,
    };
    this.d.store.open(rec);
    this.active.set(`${o.nodeId}\0${device}`, rec.id);
    this.d.log.info({ order: rec.id, device, point: o.point, reason, value }, 'service order opened');
    this.d.record([openedEvent(rec)]);
    this.publish(rec);
    this.deliver(rec);
  }

  private close(id: string, r: Rule, value: string): void {
    const before = this.d.store.get(id);
    if (!before) return;
    const billed = before.state === 'acked' && r.billable && before.payee !== null;
    if (!this.d.store.closeOrder(id, this.now(), billed)) return;
    this.active.delete(`${before.policy}\0${before.device}`);
    this.d.delivery.cancel(id);
    const o = this.d.store.get(id)!;
    this.d.log.info({ order: id, device: o.device, billed, value }, 'service order closed');
    this.d.record([closedEvent(o, value)]);
    if (billed) this.d.fees.sync(o.device, o.point, o.payee!);
    this.publish(o);
  }

  private deliver(o: OrderRecord): void {
    this.d.delivery.deliver(view(o), this.byNode.get(o.policy)?.retryMaxMs ?? DEFAULT_RETRY_MAX_MS);
  }

  private publish(o: OrderRecord): void {
    this.bus?.emit('order', view(o));
  }
}

export function view(o: OrderRecord): OrderView {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: o.id,
    gatewayId: o.gatewayId,
    device: o.device,
    point: o.point,
    reason: o.reason,
    value: o.value,
    predictedDays: o.predictedDays,
    state: o.state,
    openedAt: iso(o.openedAtMs)!,
    ackedAt: iso(o.ackedAtMs),
    closedAt: iso(o.closedAtMs),
    policy: o.policy,
    provider: o.provider,
    fee: o.fee,
    payee: o.payee,
    billed: o.billed,
  };
}

function openedEvent(o: OrderRecord): LedgerEvent {
  return {
    kind: 'service-order',
    device: o.device,
    point: o.point,
    tsMs: o.openedAtMs,
    detail: {
      order: o.id,
      policy: o.policy,
      reason: o.reason,
      value: o.value,
      predictedDays: o.predictedDays,
      provider: o.provider.join(' '),
    },
  };
}

function ackEvent(o: OrderRecord, via: string, attempts?: number): LedgerEvent {
  const detail: LedgerEvent['detail'] = { order: o.id, policy: o.policy, via };
  if (attempts) detail.attempts = attempts;
  return { kind: 'service-order-ack', device: o.device, point: o.point, tsMs: o.ackedAtMs ?? Date.now(), detail };
}

function closedEvent(o: OrderRecord, value?: string): LedgerEvent {
  const detail: LedgerEvent['detail'] = { order: o.id, policy: o.policy, billed: o.billed, fee: o.billed ? o.fee : '0', payee: o.payee };
  if (value !== undefined) detail.value = value;
  return { kind: 'service-order-closed', device: o.device, point: o.point, tsMs: o.closedAtMs ?? Date.now(), detail };
}
