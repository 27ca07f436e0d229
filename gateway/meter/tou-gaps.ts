/**
 * Time-of-use across long reading gaps (docs/policies.md, "Time of use").
 * The core's tariff tables carry time-of-use segments for a window around
 * the compile time (by default 7 days back, 35 ahead); outside it a line
 * bills its flat price. A counter read again after a longer gap (the gateway
 * or the device was down for weeks) meters one delta over the whole gap, and
 * that must be split across the bands exactly as if the segments had covered
 * it. So before each batch this guard looks where every reading's delta will
 * start (the slot's last metered time) and end; when that leaves the compiled
 * window it asks the policy side for tables whose segments cover it (same
 * version, same lines), and the core meters the batch with those.
 *
 * The guard's start times never run ahead of the core's (it learns them from
 * the core's deltas and baselines), so it may widen once too often, never
 * once too few.
 */
import type { PolicyTables } from '../core/types';
import type { MeteredColumns } from './reading-columns';

export interface TariffHorizon {
  /** The window the active tables' time-of-use segments cover: [fromMs, toMs). */
  fromMs: number;
  toMs: number;
  /** Tables whose segments also cover [fromMs, toMs) (same version), or null when no tariff has time-of-use bands. */
  widen(fromMs: number, toMs: number): PolicyTables | null;
}

export class TouGapGuard {
  /** Per slot: where the slot's next delta starts (NaN: not known / no baseline). */
  private starts = new Float64Array(0);
  private horizon: TariffHorizon | null = null;

  setHorizon(h: TariffHorizon | null): void {
    this.horizon = h;
  }

  /** Forget all start times (before a restore). */
  reset(slotCount: number): void {
    this.starts = new Float64Array(slotCount).fill(Number.NaN);
  }

  /** The core resumes `slot` from a reading at `tsMs`. */
  restored(slot: number, tsMs: number): void {
    this.grow(slot);
    this.starts[slot] = tsMs;
  }

  private grow(slot: number): void {
    if (slot < this.starts.length) return;
    const next = new Float64Array(Math.max(slot + 1, this.starts.length * 2)).fill(Number.NaN);
    next.set(this.starts);
    this.starts = next;
  }

  /** Tables to set before metering the first `n` readings of these columns, or null when the active ones cover every delta. */
  check(slots: Uint32Array, ts: Float64Array, n: number): PolicyTables | null {
    const h = this.horizon;
    if (!h) return null;
    let lo = h.fromMs;
    let hi = h.toMs;
    for (let i = 0; i < n; i++) {
      const slot = slots[i]!;
      const start = slot < this.starts.length ? this.starts[slot]! : Number.NaN;
      if (Number.isNaN(start)) continue; // a baseline bills nothing
      if (start < lo) lo = start;
      if (ts[i]! > hi) hi = ts[i]!;
    }
    if (lo >= h.fromMs && hi <= h.toMs) return null;
    const tables = h.widen(Math.floor(lo), Math.ceil(hi));
    if (tables) this.horizon = { ...h, fromMs: lo, toMs: hi };
    return tables;
  }

  /** Learn where each metered slot now stands. */
  metered(r: MeteredColumns): void {
    for (let k = 0; k < r.deltaCount; k++) {
      const slot = r.deltaSlot[k]!;
      this.grow(slot);
      this.starts[slot] = r.deltaToMs[k]!;
    }
    for (const e of r.events) {
      if (e.kind !== 'baseline' || e.slot === undefined) continue;
      this.grow(e.slot);
      this.starts[e.slot] = e.tsMs;
    }
  }
}
