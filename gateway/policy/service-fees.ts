/**
 * Service-order fees through the metering core (docs/policies.md,
 * "m2m-service-order"), modelled on the marketplace's data slots
 * (market/marketplace.ts): each (device, point, payee) with a fee gets a
 * width-0 counter slot `service:<point>@<payee>` whose payer is the device's
 * account; the compiler puts a tariff line on it at the fee price.
 *
 * The counter's value is not counted up in memory: it is the number of
 * billed orders in the order store (× 1 000 000 micro). Billing an order is
 * "close it as billed in the store, then hand the core that count": the core
 * bills the delta since its last committed value, exactly once. If the
 * gateway dies between the two, `reconcile()` at the next start hands the
 * core the count again and the missing fee is billed then; if it dies after
 * both, the count is already in the ledger and nothing is billed twice.
 */
import type { Logger } from '../base/log';
import type { MeteringCore } from '../core/types';
import type { OrderStore } from '../ledger/order-store';
import type { MeterInput, MeteringService } from '../meter/metering-service';
import type { SlotMap } from '../meter/slot-map';
import type { PolicySlot } from './compile';
import { extractPolicyNodes } from './flows';
import { matchDevices } from './glob';
import { parsePolicyNodes } from './nodes';
import { MICRO_PER_ORDER, servicePoint, serviceSlotPoint } from './service-points';

export interface ServiceFeesDeps {
  devices: ReadonlyArray<{ id: string; account: string; points: ReadonlyArray<{ name: string }> }>;
  slots: SlotMap;
  core: MeteringCore;
  metering: Pick<MeteringService, 'ingest'>;
  /** The list the policy compiler reads; fee slots are appended to it. */
  policySlots: PolicySlot[];
  store: OrderStore;
  log: Logger;
  now?: () => number;
}

interface FeeCounter {
  /** Micro-units last handed to the core. */
  raw: bigint;
  lastTsMs: number;
  hasBaseline: boolean;
}

export class ServiceFees {
  private readonly counters = new Map<number, FeeCounter>();
  private readonly now: () => number;

  constructor(private readonly d: ServiceFeesDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Before a compile: a fee slot for every (device, point, payee) a service order with a fee names. */
  prepare(flows: unknown): void {
    let orders;
    try {
      orders = parsePolicyNodes(extractPolicyNodes(flows ?? []).nodes).policies.serviceOrders;
    } catch {
      return; // the compile that follows rejects the flows
    }
    const ids = this.d.devices.map((x) => x.id);
    let added = 0;
    for (const o of orders) {
      if (o.feeNano === 0n || o.payee === undefined) continue;
      for (const id of matchDevices(o.devices, ids)) {
        const dev = this.d.devices.find((x) => x.id === id);
        const key = serviceSlotPoint(o.point, o.payee);
        if (!dev || !dev.points.some((p) => p.name === o.point) || this.d.slots.get(id, key)) continue;
        const info = this.d.slots.addCounterSlot(id, key, dev.account, servicePoint(o.point));
        this.d.policySlots.push({ slot: info.slot, device: id, point: key, account: dev.account, kind: 'counter' });
        added += 1;
      }
    }
    if (added > 0) {
      this.d.core.configureSlots(this.d.slots.configs());
      this.d.log.info({ added }, 'service fee slots added');
    }
  }

  /** After the core state was restored: bring every fee counter up to the store's count (bills what a crash left out). */
  reconcile(): void {
    for (const s of this.d.slots.slots) {
      const m = /^service:(.+)@([^@]+)$/.exec(s.point);
      if (m) this.sync(s.device, m[1]!, m[2]!);
    }
  }

  /** The store says one more order of (device, point, payee) is billed: hand the core the new count. */
  sync(device: string, point: string, payee: string): void {
    const info = this.d.slots.get(device, serviceSlotPoint(point, payee));
    if (!info) {
      this.d.log.warn({ device, point, payee }, 'service fee without a fee slot: not billed');
      return;
    }
    const c = this.counter(info.slot);
    const want = BigInt(this.d.store.billedCount(device, point, payee)) * MICRO_PER_ORDER;
    const inputs: MeterInput[] = [];
    let ts = Math.max(this.now(), c.lastTsMs + 1);
    if (!c.hasBaseline) {
      // The core never saw this slot: 0 is the baseline, so the first fee is billed too.
      inputs.push({ device, point: info.point, tsMs: ts, value: '0', counterRaw: 0n });
      c.hasBaseline = true;
      c.raw = 0n;
      c.lastTsMs = ts;
      ts += 1;
    }
    if (want !== c.raw) {
      inputs.push({ device, point: info.point, tsMs: ts, value: String(want / MICRO_PER_ORDER), counterRaw: want });
      c.raw = want;
      c.lastTsMs = ts;
    }
    if (inputs.length > 0) this.d.metering.ingest(inputs);
  }

  private counter(slot: number): FeeCounter {
    let c = this.counters.get(slot);
    if (!c) {
      const st = this.d.core.snapshot({ slots: [slot], lines: [], accounts: [] }).slots.find((x) => x.slot === slot);
      const has = st?.hasBaseline === true;
      c = { raw: has ? (st.heldRaw ?? st.lastRaw) : 0n, lastTsMs: has ? Math.max(st.lastTsMs, st.heldTsMs ?? 0) : 0, hasBaseline: has };
      this.counters.set(slot, c);
    }
    return c;
  }
}
