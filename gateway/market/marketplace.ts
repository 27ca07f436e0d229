/**
 * The data marketplace (docs/architecture.md §7), as a daemon extension:
 *
 *  - `prepare(flows)` runs before every policy compile: for each `m2m-offer`
 *    (devices glob × point × buyers) whose device has that point, it adds a
 *    width-0 counter slot `data:<point>@<buyer>` to the slot map and the
 *    core. The compiler then puts a tariff line on it for the channel
 *    buyer → device account at the offer price (compile.ts).
 *  - `grants(account)` is what a buyer token may see: the (device, point)
 *    pairs of the active offers naming the account — only those with a line,
 *    so nothing is delivered that could not be billed.
 *  - `meter(delivery)` is called by the WebSocket stream for every reading
 *    sent to a buyer: each delivered point adds 1 unit (1 000 000 micro) to
 *    its slot's counter. Deliveries are coalesced per event-loop turn into one
 *    counter reading per slot, which goes through the metering service like
 *    any meter reading: same core, same ledger batch, same exact accrual.
 *
 * A slot's counter is the cumulative number of deliveries (in micro-units),
 * continued from the core's restored state after a restart. A slot seen for
 * the first time gets a 0 baseline just before its first count, so the first
 * delivery is billed too.
 */
import type { DataDelivery } from '../events';
import type { Counter, MetricsRegistry } from '../base/metrics';
import type { MeterInput, MeteringService } from '../meter/metering-service';
import type { SlotMap } from '../meter/slot-map';
import type { MeteringCore } from '../core/types';
import type { Logger } from '../base/log';
import type { CompiledPolicy, PolicySlot } from '../policy/compile';
import { extractPolicyNodes } from '../policy/flows';
import { matchDevices } from '../policy/glob';
import { parsePolicyNodes } from '../policy/nodes';
import { dataPoint, dataSlotPoint, MICRO_PER_DELIVERY } from '../policy/data-points';

/** Data a buyer may receive: points named `point` of devices matching the `devices` glob (as in m2m-offer). */
export interface BuyerGrant {
  devices: string;
  point: string;
}

export interface MarketDevice {
  id: string;
  account: string;
  points: ReadonlyArray<{ name: string }>;
}

export interface MarketplaceDeps {
  devices: readonly MarketDevice[];
  slots: SlotMap;
  core: MeteringCore;
  metering: MeteringService;
  /** The list the policy compiler reads; data slots are appended to it. */
  policySlots: PolicySlot[];
  activePolicy: () => CompiledPolicy | null;
  metrics: MetricsRegistry;
  log: Logger;
  now?: () => number;
}

interface SlotCounter {
  slot: number;
  device: string;
  point: string;
  /** Cumulative deliveries in micro-units, as last handed to the metering service. */
  raw: bigint;
  lastTsMs: number;
  /** A baseline reading must precede the first count (the core never saw this slot). */
  needsBaseline: boolean;
  /** Deliveries not yet handed over. */
  pending: bigint;
}

export class Marketplace {
  private readonly counters = new Map<number, SlotCounter>();
  private readonly dirty = new Set<SlotCounter>();
  private flushScheduled: NodeJS.Immediate | null = null;
  private stopped = false;
  private readonly delivered: Counter;
  private readonly unmetered: Counter;
  private readonly now: () => number;
  private readonly warnedUnmetered = new Set<string>();

  constructor(private readonly d: MarketplaceDeps) {
    this.now = d.now ?? Date.now;
    this.delivered = d.metrics.counter({
      name: 'm2m_market_deliveries_total',
      help: 'Data points delivered to buyers over the stream and metered, by buyer account.',
      labelNames: ['buyer'],
    });
    this.unmetered = d.metrics.counter({
      name: 'm2m_market_unmetered_total',
      help: 'Data points delivered to a buyer without a metering slot (should stay 0).',
    });
    this.unmetered.inc({}, 0);
  }

  /** Before a compile: make sure every offered (device, point, buyer) has its data slot. */
  prepare(flows: unknown): void {
    let offers;
    try {
      const { nodes } = extractPolicyNodes(flows ?? []);
      offers = parsePolicyNodes(nodes).policies.offers; // invalid nodes are the compiler's to report
    } catch {
      return; // the compile that follows rejects the flows
    }
    const ids = this.d.devices.map((x) => x.id);
    let added = 0;
    for (const o of offers) {
      for (const id of matchDevices(o.devices, ids)) {
        const dev = this.d.devices.find((x) => x.id === id);
        if (!dev || !dev.points.some((p) => p.name === o.point)) continue; // the compiler warns
        for (const buyer of o.buyers) {
          const key = dataSlotPoint(o.point, buyer);
          if (this.d.slots.get(id, key)) continue;
          // Deltas are the buyer's (the payer); the line's payee is the device account.
          const info = this.d.slots.addCounterSlot(id, key, buyer, dataPoint(o.point));
          this.d.policySlots.push({ slot: info.slot, device: id, point: key, account: dev.account, kind: 'counter' });
          added += 1;
        }
      }
    }
    if (added > 0) {
      this.d.core.configureSlots(this.d.slots.configs());
      this.d.log.info({ added, slots: this.d.slots.slots.length }, 'data marketplace slots added');
    }
  }

  /** What `account` bought under the active policies: one grant per offered (device, point) with a billing line. */
  grants(account: string): BuyerGrant[] {
    const out: BuyerGrant[] = [];
    for (const o of this.d.activePolicy()?.offers ?? []) {
      for (const l of o.lines) if (l.buyer === account) out.push({ devices: l.device, point: o.point });
    }
    return out;
  }

  /** One reading delivered to a buyer: +1 on the data slot of every point in it. */
  meter(delivery: DataDelivery): void {
    if (this.stopped) return;
    for (const point of delivery.points) {
      const info = this.d.slots.get(delivery.device, dataSlotPoint(point, delivery.account));
      if (!info) {
        this.unmetered.inc();
        const k = `${delivery.account}\0${delivery.device}\0${point}`;
        if (!this.warnedUnmetered.has(k)) {
          this.warnedUnmetered.add(k);
          this.d.log.warn({ buyer: delivery.account, device: delivery.device, point }, 'delivery without a data slot: not metered');
        }
        continue;
      }
      const c = this.counter(info.slot, info.device, info.point);
      c.pending += MICRO_PER_DELIVERY;
      this.dirty.add(c);
      this.delivered.inc({ buyer: delivery.account });
    }
    if (this.dirty.size > 0 && !this.flushScheduled) this.flushScheduled = setImmediate(() => this.flush());
  }

  /** Hand the coalesced counts to the metering service (also called by stop()). */
  flush(): void {
    if (this.flushScheduled) clearImmediate(this.flushScheduled);
    this.flushScheduled = null;
    if (this.dirty.size === 0) return;
    const inputs: MeterInput[] = [];
    for (const c of this.dirty) {
      // Strictly increasing per slot (the core ignores a repeated timestamp).
      let ts = Math.max(this.now(), c.lastTsMs + 1);
      if (c.needsBaseline) {
        inputs.push({ device: c.device, point: c.point, tsMs: ts, value: formatCount(c.raw), counterRaw: c.raw });
        c.needsBaseline = false;
        ts += 1;
      }
      c.raw += c.pending;
      c.pending = 0n;
      c.lastTsMs = ts;
      inputs.push({ device: c.device, point: c.point, tsMs: ts, value: formatCount(c.raw), counterRaw: c.raw });
    }
    this.dirty.clear();
    this.d.metering.ingest(inputs);
  }

  stop(): void {
    this.flush();
    this.stopped = true;
  }

  private counter(slot: number, device: string, point: string): SlotCounter {
    let c = this.counters.get(slot);
    if (!c) {
      // First use since start: continue from the core's (restored) state of the slot.
      const st = this.d.core.snapshot({ slots: [slot], lines: [], accounts: [] }).slots.find((s) => s.slot === slot);
      const has = st?.hasBaseline === true;
      const raw = has ? (st.heldRaw ?? st.lastRaw) : 0n;
      c = { slot, device, point, raw, lastTsMs: has ? Math.max(st.lastTsMs, st.heldTsMs) : 0, needsBaseline: !has, pending: 0n };
      this.counters.set(slot, c);
    }
    return c;
  }
}

/** Deliveries as a decimal count for the raw reading ("3"). */
function formatCount(micro: bigint): string {
  return (micro / MICRO_PER_DELIVERY).toString();
}
