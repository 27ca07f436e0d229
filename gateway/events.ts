/**
 * The one typed bus of the gateway (docs/architecture.md, "The event bus").
 *
 * Readings, events and vouchers travel on it once they are committed; the
 * daemon publishes, and the adapters (HTTP stream, MQTT uplink, Node-RED
 * bridge, marketplace) subscribe in their `start()` and unsubscribe in their
 * `stop()`. It sits on the ground floor next to base/, so every room can name
 * these shapes without importing the room that produces or consumes them.
 *
 * Money and quantities inside are decimal strings, times ISO 8601 UTC.
 */
import { EventEmitter } from 'node:events';

/**
 * A value written to or read back from a point: a decimal string for numeric
 * points ("21.5"), a boolean for coils/bool, text for `string(N)` points.
 * The API turns a JSON number in the request into its decimal string.
 */
export type PointValue = string | boolean;

/** A fresh set of point values of one device (what the pollers just read). */
export interface ReadingMessage {
  device: string;
  /** ISO time of the read. */
  at: string;
  points: Record<string, { value: PointValue | null; unit: string }>;
}

/**
 * An event: alarm raised/cleared, counter reset/rollover, quarantine,
 * policy change, credit limit... `kind` is a short kebab-case name
 * ('alarm', 'alarm-clear', 'reset', 'rollover', 'quarantine', 'policy', ...).
 */
export interface EventView {
  id: string;
  kind: string;
  at: string;
  device?: string;
  point?: string;
  account?: string;
  message?: string;
  /** Kind-specific details; money/quantities inside are decimal strings. */
  data?: Record<string, unknown>;
}

/**
 * A signed cumulative voucher, exactly as it leaves the gateway: the
 * `{"v":1,"channel":"payer>payee",…,"sig"}` object of docs/settlement.md.
 * Made and checked in settle/voucher.ts.
 */
export interface SignedVoucher {
  v: 1;
  channel: string;
  payer: string;
  payee: string;
  payerKey: string;
  seq: number;
  amount: string;
  currency: string;
  ledgerHead: string;
  issuedAt: string;
  sig: string;
}

/** The voucher under the name the API and the uplink use. */
export type Voucher = SignedVoucher;

/** One reading delivered to a buyer over the stream: to be metered as quantity 1 of `data:<point>` per point (§7). */
export interface DataDelivery {
  account: string;
  device: string;
  points: string[];
  at: string;
}

/**
 * Where a buyer's channel stands (docs/marketplace.md): sent to the buyer
 * after each batch that billed it and with every answer to its vouchers.
 * `paused` is true while `owed` exceeds `credit`, or after a refused voucher.
 */
export interface BillView {
  channel: string;
  payer: string;
  payee: string;
  /** Billed for deliveries so far. */
  accrued: string;
  /** The amount of the buyer's latest accepted voucher. */
  paid: string;
  /** Its seq (0 before the first). */
  seq: number;
  owed: string;
  /** The offer's credit window; null when the offer has none. */
  credit: string | null;
  /** The channel's cap, set by the buyer; null until it sets one. */
  deposit: string | null;
  paused: boolean;
}

/** A signed ledger checkpoint (docs/settlement.md); made and checked in settle/checkpoints.ts. */
export interface CheckpointView {
  v: 1;
  gatewayId: string;
  seq: number;
  head: string;
  at: string;
  gatewayKey: string;
  sig: string;
}

/**
 * A service order (docs/policies.md, "m2m-service-order") as the API, the
 * uplink (`<prefix>/<gatewayId>/orders`) and the provider see it. Sent on
 * the bus after every change of state, once the order store has it.
 */
export interface OrderView {
  id: string;
  gatewayId: string;
  device: string;
  point: string;
  /** `below`, `above` or `predictDays`. */
  reason: string;
  /** The point's value when the order was opened (decimal string). */
  value: string;
  /** Days to empty when `reason` is `predictDays` (decimal string), else null. */
  predictedDays: string | null;
  state: 'open' | 'acked' | 'closed';
  openedAt: string;
  ackedAt: string | null;
  closedAt: string | null;
  /** The m2m-service-order node. */
  policy: string;
  provider: string[];
  fee: string;
  payee: string | null;
  /** The fee was billed on close. */
  billed: boolean;
}

/**
 * What a readings listener looks at (`EventBus.onReadings`): the devices (all
 * when absent) and, optionally, only some points of them. The daemon builds a
 * ReadingMessage only for a device someone looks at, with the points asked for.
 */
export interface ReadingInterest {
  devices?: (device: string) => boolean;
  /** Point names (or the point names of a device); absent = every point. */
  points?: readonly string[] | ((device: string) => readonly string[]);
}

/** Who looks at a device's readings: nobody (null), every point ('all'), or these points. */
export type DeviceInterest = null | 'all' | ReadonlySet<string>;

/** What travels on the bus, by topic. */
export interface StreamEvents {
  reading: [ReadingMessage];
  event: [EventView];
  voucher: [Voucher];
  bill: [BillView];
  checkpoint: [CheckpointView];
  order: [OrderView];
}

/**
 * The bus itself: a typed EventEmitter. A listener that throws is the
 * listener's bug; adapters catch their own errors so one cannot stop another.
 *
 * Readings are the one busy topic (every poll of every device), so a listener
 * says what it looks at (`onReadings` with a ReadingInterest) and the daemon
 * asks `readingInterest(device)` before it builds a message: with nobody
 * looking, a poll costs no message, no JSON and no decimal string. A plain
 * `on('reading')` listener counts as looking at everything.
 */
export class EventBus extends EventEmitter<StreamEvents> {
  private readonly interests = new Map<(m: ReadingMessage) => void, ReadingInterest>();

  constructor() {
    super();
    // every adapter and every stream client may listen; none is a leak
    this.setMaxListeners(0);
  }

  /** Listen to readings of the devices (and points) `interest` names; returns the unsubscribe. */
  onReadings(listener: (m: ReadingMessage) => void, interest: ReadingInterest = {}): () => void {
    this.interests.set(listener, interest);
    this.on('reading', listener);
    return () => {
      this.off('reading', listener);
      this.interests.delete(listener);
    };
  }

  /** Who looks at `device`'s readings right now. */
  readingInterest(device: string): DeviceInterest {
    const count = this.listenerCount('reading');
    if (count === 0) return null;
    let declared = 0;
    let points: Set<string> | null = null;
    for (const [listener, i] of this.interests) {
      if (this.listenerCount('reading', listener) === 0) continue; // taken off with off()
      declared += 1;
      if (i.devices && !i.devices(device)) continue;
      if (!i.points) return 'all';
      points ??= new Set();
      for (const p of typeof i.points === 'function' ? i.points(device) : i.points) points.add(p);
    }
    if (declared < count) return 'all'; // a listener that did not say
    return points && points.size > 0 ? points : null;
  }
}
