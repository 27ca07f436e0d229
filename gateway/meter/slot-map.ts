/**
 * Dense core slot indices for the counter points of the configured devices,
 * and the way back from an index to (device, point). Built once per start from
 * the config; the ledger keys everything by names, so indices never need to
 * survive a restart.
 */
import type { ResolvedPoint } from '../devices/point';
import type { CounterWidth, SlotConfig } from '../core/types';
import { parseDecimal, QTY_FRAC } from '../base/decimal';

export interface SlotInfo {
  slot: number;
  device: string;
  point: string;
  account: string;
  config: SlotConfig;
  /** The point deltas and accruals are recorded under, when not `point` (data slots: `data:hardness`). */
  ledgerPoint?: string;
}

export interface CounterDevice {
  id: string;
  account: string;
  points: ResolvedPoint[];
}

/** How a counter point's raw value maps into the core: width and micro-units per count. */
export interface CounterEncoding {
  widthBits: CounterWidth;
  microPerCount: bigint;
}

export class SlotMap {
  private readonly byKey = new Map<string, SlotInfo>();
  readonly slots: SlotInfo[] = [];

  constructor(devices: CounterDevice[], encoding: (p: ResolvedPoint) => CounterEncoding) {
    for (const d of devices) {
      for (const p of d.points) {
        if (p.kind !== 'counter') continue;
        const slot = this.slots.length;
        const enc = encoding(p);
        const maxRate = p.maxRate ? parseDecimal(p.maxRate, QTY_FRAC) : 0n;
        const info: SlotInfo = {
          slot,
          device: d.id,
          point: p.name,
          account: d.account,
          config: { slot, widthBits: enc.widthBits, microPerCount: enc.microPerCount, maxRateMicroPerS: maxRate },
        };
        this.slots.push(info);
        this.byKey.set(key(d.id, p.name), info);
      }
    }
  }

  get(device: string, point: string): SlotInfo | undefined {
    return this.byKey.get(key(device, point));
  }

  at(slot: number): SlotInfo {
    const s = this.slots[slot];
    if (!s) throw new RangeError(`no core slot ${slot}`);
    return s;
  }

  /**
   * Append a width-0 counter slot that is not a configured point (a data
   * marketplace delivery counter): raw values are micro-units. Returns the
   * existing slot when (device, point) is already mapped. Existing indices
   * never move, so the core keeps their state on `configureSlots`.
   */
  addCounterSlot(device: string, point: string, account: string, ledgerPoint?: string): SlotInfo {
    const existing = this.get(device, point);
    if (existing) return existing;
    const slot = this.slots.length;
    const info: SlotInfo = { slot, device, point, account, config: { slot, widthBits: 0, microPerCount: 1n, maxRateMicroPerS: 0n } };
    if (ledgerPoint !== undefined) info.ledgerPoint = ledgerPoint;
    this.slots.push(info);
    this.byKey.set(key(device, point), info);
    return info;
  }

  configs(): SlotConfig[] {
    return this.slots.map((s) => s.config);
  }
}

function key(device: string, point: string): string {
  return `${device}\u0000${point}`;
}
