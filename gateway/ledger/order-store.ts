/**
 * The durable store of service orders (docs/policies.md, "m2m-service-order"),
 * behind an interface like the ledger and the outbox: one contract suite
 * (test/unit/order-store.test.ts) runs against every implementation.
 *
 * An order moves open -> acked -> closed (or open -> closed); a transition
 * happens at most once and returns false when the order is not in the state
 * it leaves. A store keeps every order (they are rare: one per service
 * visit). `billedCount` is what the fee counter of (device, point, payee)
 * must read (policy/service-fees.ts), so billing can be reconciled after a
 * crash from the store alone.
 */

export type OrderState = 'open' | 'acked' | 'closed';

export interface OrderRecord {
  id: string;
  gatewayId: string;
  /** The m2m-service-order node that opened it. */
  policy: string;
  device: string;
  point: string;
  /** `below`, `above` or `predictDays`. */
  reason: string;
  /** The point's value when the order was opened (decimal string). */
  value: string;
  /** Days to empty when opened by `predictDays` (decimal string), else null. */
  predictedDays: string | null;
  /** MQTT topics and URLs the order is delivered to. */
  provider: string[];
  /** Fee (decimal string) and who it is owed to. */
  fee: string;
  payee: string | null;
  state: OrderState;
  openedAtMs: number;
  ackedAtMs: number | null;
  closedAtMs: number | null;
  /** The fee was billed on close (only acknowledged orders with a fee). */
  billed: boolean;
}

export interface OrderListFilter {
  state?: OrderState;
  device?: string;
  /** Newest first, at most this many (default 100). */
  limit?: number;
}

export interface OrderStore {
  /** Store a new order (state must be 'open'); throws if the id exists. */
  open(order: OrderRecord): void;
  /** open -> acked; false when the order is unknown or not open. */
  acknowledge(id: string, atMs: number): boolean;
  /** open|acked -> closed; false when the order is unknown or already closed. */
  closeOrder(id: string, atMs: number, billed: boolean): boolean;
  get(id: string): OrderRecord | undefined;
  /** Orders not closed, oldest first. */
  active(): OrderRecord[];
  /** Newest first (by openedAt, then id). */
  list(filter?: OrderListFilter): OrderRecord[];
  /** How many orders of (device, point) owed to `payee` were closed with their fee billed. */
  billedCount(device: string, point: string, payee: string): number;
  close(): void;
}

/** An in-memory store (tests, and a gateway that must not write to disk). */
export class MemoryOrderStore implements OrderStore {
  private readonly orders = new Map<string, OrderRecord>();

  open(order: OrderRecord): void {
    if (this.orders.has(order.id)) throw new RangeError(`order ${order.id} exists`);
    if (order.state !== 'open') throw new RangeError(`a new order is open, not ${order.state}`);
    this.orders.set(order.id, { ...order, provider: [...order.provider] });
  }

  acknowledge(id: string, atMs: number): boolean {
    const o = this.orders.get(id);
    if (!o || o.state !== 'open') return false;
    o.state = 'acked';
    o.ackedAtMs = atMs;
    return true;
  }

  closeOrder(id: string, atMs: number, billed: boolean): boolean {
    const o = this.orders.get(id);
    if (!o || o.state === 'closed') return false;
    o.state = 'closed';
    o.closedAtMs = atMs;
    o.billed = billed;
    return true;
  }

  get(id: string): OrderRecord | undefined {
    const o = this.orders.get(id);
    return o && { ...o, provider: [...o.provider] };
  }

  active(): OrderRecord[] {
    return [...this.orders.values()]
      .filter((o) => o.state !== 'closed')
      .sort(oldestFirst)
      .map((o) => ({ ...o }));
  }

  list(f: OrderListFilter = {}): OrderRecord[] {
    return [...this.orders.values()]
      .filter((o) => (f.state === undefined || o.state === f.state) && (f.device === undefined || o.device === f.device))
      .sort((a, b) => oldestFirst(b, a))
      .slice(0, f.limit ?? 100)
      .map((o) => ({ ...o }));
  }

  billedCount(device: string, point: string, payee: string): number {
    let n = 0;
    for (const o of this.orders.values()) if (o.billed && o.device === device && o.point === point && o.payee === payee) n++;
    return n;
  }

  close(): void {
    // nothing to release
  }
}

function oldestFirst(a: OrderRecord, b: OrderRecord): number {
  return a.openedAtMs - b.openedAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
