/**
 * A naive metering core on JS Numbers, for comparison only: the same control
 * flow (baseline, delta with rollover/reset, flat and time-of-use lines,
 * account totals) in float64, without remainders, overflow checks or held
 * jumps. Inexact by design (amounts are rounded floats); outputs go to
 * preallocated typed arrays, as a well-written JS hot loop would do.
 */
import type { PolicyTables, SlotConfig } from '../gateway/core/types';

export class NumberCore {
  private readonly width: Uint8Array;
  private readonly mpc: Float64Array;
  private readonly hasBase: Uint8Array;
  private readonly last: Float64Array;
  private readonly lastTs: Float64Array;
  private readonly lineStart: Uint32Array;
  private readonly lineCount: Uint32Array;
  private readonly lineIdx: Uint32Array;
  private readonly price: Float64Array;
  private readonly account: Uint32Array;
  private readonly segStart: Uint32Array;
  private readonly segCount: Uint32Array;
  private readonly segFrom: Float64Array;
  private readonly segTo: Float64Array;
  private readonly segPrice: Float64Array;
  readonly unsettled: Float64Array;
  deltaCount = 0;
  accrualCount = 0;
  deltaSlot = new Uint32Array(1024);
  deltaQty = new Float64Array(1024);
  accrualLine = new Uint32Array(1024);
  accrualQty = new Float64Array(1024);
  accrualAmount = new Float64Array(1024);

  constructor(configs: SlotConfig[], tables: PolicyTables) {
    const n = configs.reduce((m, c) => Math.max(m, c.slot + 1), 0);
    this.width = new Uint8Array(n);
    this.mpc = new Float64Array(n);
    this.hasBase = new Uint8Array(n);
    this.last = new Float64Array(n);
    this.lastTs = new Float64Array(n);
    for (const c of configs) {
      this.width[c.slot] = c.widthBits;
      this.mpc[c.slot] = Number(c.microPerCount);
    }
    const lines = tables.lines;
    this.price = new Float64Array(lines.map((l) => Number(l.priceNano)));
    this.account = new Uint32Array(lines.map((l) => tables.channels[l.channel]!.account));
    this.lineStart = new Uint32Array(n);
    this.lineCount = new Uint32Array(n);
    const bySlot: number[][] = Array.from({ length: n }, () => []);
    for (const l of lines) bySlot[l.slot]?.push(l.line);
    const idx: number[] = [];
    bySlot.forEach((list, s) => {
      this.lineStart[s] = idx.length;
      this.lineCount[s] = list.length;
      idx.push(...list);
    });
    this.lineIdx = new Uint32Array(idx);
    this.segStart = new Uint32Array(lines.length);
    this.segCount = new Uint32Array(lines.length);
    const from: number[] = [];
    const to: number[] = [];
    const price: number[] = [];
    for (const l of lines) {
      this.segStart[l.line] = from.length;
      this.segCount[l.line] = l.segments.length;
      for (const s of l.segments) {
        from.push(s.fromMs);
        to.push(s.toMs);
        price.push(Number(s.priceNano));
      }
    }
    this.segFrom = new Float64Array(from);
    this.segTo = new Float64Array(to);
    this.segPrice = new Float64Array(price);
    this.unsettled = new Float64Array(tables.channels.reduce((m, c) => Math.max(m, c.account + 1), 0));
  }

  private ensure(n: number): void {
    if (this.deltaSlot.length < n) {
      this.deltaSlot = new Uint32Array(n);
      this.deltaQty = new Float64Array(n);
    }
  }

  private accrue(line: number, qty: number, price: number): void {
    if (this.accrualCount === this.accrualLine.length) {
      const grow = <T extends Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a as never);
        return b;
      };
      this.accrualLine = grow(this.accrualLine, (n) => new Uint32Array(n));
      this.accrualQty = grow(this.accrualQty, (n) => new Float64Array(n));
      this.accrualAmount = grow(this.accrualAmount, (n) => new Float64Array(n));
    }
    const amount = Math.floor((qty * price) / 1e6);
    const k = this.accrualCount++;
    this.accrualLine[k] = line;
    this.accrualQty[k] = qty;
    this.accrualAmount[k] = amount;
    this.unsettled[this.account[line]!]! += amount;
  }

  process(slots: Uint32Array, raws: Float64Array, ts: Float64Array, offset: number, n: number): void {
    this.ensure(n);
    this.deltaCount = 0;
    this.accrualCount = 0;
    for (let i = offset; i < offset + n; i++) {
      const s = slots[i]!;
      const raw = raws[i]!;
      const t = ts[i]!;
      if (this.hasBase[s] === 0) {
        this.hasBase[s] = 1;
        this.last[s] = raw;
        this.lastTs[s] = t;
        continue;
      }
      const from = this.lastTs[s]!;
      if (t <= from) continue;
      const w = this.width[s]!;
      const last = this.last[s]!;
      let d = raw - last;
      if (d < 0) {
        const wrapped = w === 0 ? -1 : d + 2 ** w;
        d = wrapped >= 0 && wrapped < 2 ** (w - 1) ? wrapped : raw;
      }
      const qty = d * this.mpc[s]!;
      this.last[s] = raw;
      this.lastTs[s] = t;
      const k = this.deltaCount++;
      this.deltaSlot[k] = s;
      this.deltaQty[k] = qty;
      const ls = this.lineStart[s]!;
      for (let j = ls; j < ls + this.lineCount[s]!; j++) {
        const line = this.lineIdx[j]!;
        const sc = this.segCount[line]!;
        if (sc === 0) {
          this.accrue(line, qty, this.price[line]!);
          continue;
        }
        // time-of-use: split in proportion to time, in floats
        let cur = from;
        let done = 0;
        for (let g = this.segStart[line]!; g < this.segStart[line]! + sc && cur < t; g++) {
          const sf = this.segFrom[g]!;
          const st = this.segTo[g]!;
          if (st <= cur) continue;
          if (sf >= t) break;
          if (sf > cur) {
            const q = (qty * (sf - cur)) / (t - from);
            this.accrue(line, q, this.price[line]!);
            done += q;
            cur = sf;
          }
          const end = Math.min(st, t);
          const q = (qty * (end - cur)) / (t - from);
          this.accrue(line, q, this.segPrice[g]!);
          done += q;
          cur = end;
        }
        if (cur < t) this.accrue(line, qty - done, this.price[line]!);
      }
    }
  }
}
