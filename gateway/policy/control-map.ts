/**
 * The mapping of an `m2m-control` (docs/policies.md): input value -> setpoint,
 * exact decimals (9 fraction digits), with hysteresis so a value hovering at
 * a band edge does not make the setpoint chatter.
 *
 * Table: the row whose `from` is the largest at or below the input applies
 * (below the first row, the first row). Once a row applies, the input must
 * leave that row's band by at least `hysteresis` (reach the next `from` +
 * hysteresis, or fall below this `from` − hysteresis) before another row
 * is chosen.
 * Linear: inMin..inMax maps onto outMin..outMax (clamped at the ends), the
 * result rounded to the nearest multiple of `step` (halves away from zero);
 * a new value is computed only when the input has moved more than
 * `hysteresis` from the input the current value was computed from.
 */
import { formatDecimal, parseDecimal } from '../base/decimal';
import type { ControlRow, LinearMap } from './compile';

const FRAC = 9;

/** Where a loop stands for one device: which row, or which input the setpoint was computed from. */
export interface MapState {
  row?: number;
  input?: bigint;
  target?: string;
}

export class ControlMap {
  private readonly rows: Array<{ from: bigint; set: string }>;
  private readonly linear: { inMin: bigint; inMax: bigint; outMin: bigint; outMax: bigint; step: bigint } | null;
  private readonly hyst: bigint;

  constructor(p: { table: readonly ControlRow[]; linear?: LinearMap; hysteresis: string }) {
    this.rows = p.table.map((r) => ({ from: dec(r.from), set: canonical(r.set) }));
    const l = p.linear;
    this.linear = l ? { inMin: dec(l.inMin), inMax: dec(l.inMax), outMin: dec(l.outMin), outMax: dec(l.outMax), step: dec(l.step) } : null;
    this.hyst = dec(p.hysteresis);
  }

  /** The setpoint for `input` given where the loop stood; updates `st`. */
  next(input: bigint, st: MapState): string {
    if (this.linear) {
      if (st.target === undefined || st.input === undefined || abs(input - st.input) > this.hyst) {
        st.input = input;
        st.target = this.linearValue(input);
      }
      return st.target;
    }
    const cur = st.row;
    if (cur === undefined || st.target === undefined || this.leaves(cur, input)) {
      st.row = this.rowOf(input);
      st.target = this.rows[st.row]!.set;
    }
    return st.target;
  }

  private rowOf(x: bigint): number {
    let i = 0;
    while (i + 1 < this.rows.length && this.rows[i + 1]!.from <= x) i++;
    return i;
  }

  private leaves(row: number, x: bigint): boolean {
    const next = this.rows[row + 1];
    if (next && x >= next.from + this.hyst) return true;
    return row > 0 && x < this.rows[row]!.from - this.hyst;
  }

  private linearValue(x: bigint): string {
    const l = this.linear!;
    const lo = l.inMin < l.inMax ? l.inMin : l.inMax;
    const hi = l.inMin < l.inMax ? l.inMax : l.inMin;
    const cx = x < lo ? lo : x > hi ? hi : x;
    // y = outMin + (x − inMin)(outMax − outMin)/(inMax − inMin), then to a multiple of step
    const num = (cx - l.inMin) * (l.outMax - l.outMin);
    const den = l.inMax - l.inMin;
    const y = l.outMin + divRound(num, den);
    return canonical(formatDecimal(divRound(y, l.step) * l.step, FRAC));
  }
}

/** A value as an exact scaled integer (throws on anything not a decimal). */
export function dec(s: string): bigint {
  return parseDecimal(s, FRAC);
}

/** "3.000000000" -> "3", "2.50" -> "2.5": the form written to the device and shown in events. */
export function canonical(s: string): string {
  const v = formatDecimal(dec(s), FRAC);
  return v.includes('.') ? v.replace(/\.?0+$/, '') : v;
}

function abs(v: bigint): bigint {
  return v < 0n ? -v : v;
}

/** a / b rounded to the nearest integer, halves away from zero. */
function divRound(a: bigint, b: bigint): bigint {
  const neg = a < 0n !== b < 0n;
  const q = (abs(a) * 2n + abs(b)) / (abs(b) * 2n);
  return neg ? -q : q;
}
