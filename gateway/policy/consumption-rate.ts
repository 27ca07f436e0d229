/**
 * Days to empty for `predictDays` (docs/policies.md, "Predictive ordering"):
 * the recent consumption rate is the least-squares slope of a point's
 * readings over the last `windowMs` (e.g. cartridge % per day, which is
 * litres per day against the cartridge capacity), and days to empty is the
 * current value divided by that rate.
 *
 * - A prediction needs readings spanning at least a quarter of the window, or
 *   (a fast fall) three readings over which the value fell by at least a
 *   tenth of its current value (and by more than `refillStep`); a one-unit
 *   flicker of a quantised level does not qualify. Until then (after a start,
 *   or after a refill) the rate measured before is used, and with none the
 *   prediction is unknown.
 * - A rise by more than `refillStep` (a new cartridge) starts the window
 *   afresh; the rate measured before it is kept until the new one is known.
 * - A value that is not falling never empties: Infinity days.
 * Floats are fine here: this is a forecast, not money.
 */

export const DAY_MS = 86_400_000;

export class ConsumptionRate {
  private samples: Array<{ t: number; v: number }> = [];
  /** Units per ms, from the last window that had enough span (positive = falling). */
  private lastRate: number | undefined;

  constructor(
    private readonly windowMs: number,
    private readonly refillStep = 0,
  ) {}

  add(tsMs: number, value: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && tsMs <= last.t) return;
    if (last && value - last.v > this.refillStep) {
      this.lastRate = this.rate() ?? this.lastRate;
      this.samples = [];
    }
    this.samples.push({ t: tsMs, v: value });
    const cut = tsMs - this.windowMs;
    while (this.samples.length > 2 && this.samples[0]!.t < cut) this.samples.shift();
  }

  /** Units per ms over the window (positive when falling), or undefined without enough span. */
  rate(): number | undefined {
    const s = this.samples;
    if (s.length < 2) return this.lastRate;
    const first = s[0]!;
    const last = s[s.length - 1]!;
    const fall = first.v - last.v;
    const fastFall = s.length >= 3 && fall > 0 && fall >= Math.max(0.1 * Math.abs(last.v), this.refillStep);
    if (last.t - first.t < this.windowMs / 4 && !fastFall) return this.lastRate;
    const t0 = s[0]!.t;
    let n = 0;
    let st = 0;
    let sv = 0;
    let stt = 0;
    let stv = 0;
    for (const p of s) {
      const t = p.t - t0;
      n++;
      st += t;
      sv += p.v;
      stt += t * t;
      stv += t * p.v;
    }
    const den = n * stt - st * st;
    if (den === 0) return this.lastRate;
    return -(n * stv - st * sv) / den;
  }

  /** Days until `value` reaches 0 at the recent rate; Infinity when not falling; undefined when unknown. */
  daysToEmpty(value: number): number | undefined {
    const r = this.rate();
    if (r === undefined) return undefined;
    if (r <= 0) return Infinity;
    return Math.max(0, value) / r / DAY_MS;
  }
}
