/**
 * A naive metering core on JS Numbers, for comparison only: the same work as
 * the WASM core's columnar path (baseline, duplicates, delta with rollover or
 * reset, the max-rate check, flat and time-of-use lines, account totals) and
 * the same output columns (WasmCore.processColumns), all in float64: no
 * remainders, no overflow checks, no held-jump bookkeeping. Inexact by design.
 * Outputs go to preallocated typed arrays, as a well-written JS hot loop would.
 */
import type { PolicyTables, SlotConfig } from '../gateway/core/types';

export class NumberCore {
  private readonly width: Uint8Array;
  private readonly mpc: Float64Array;
  private readonly hasBase: Uint8Array;
  private readonly last: Float64Array;
  private readonly lastTs: Float64Array;
  private readonly maxRate: Float64Array;
  private readonly lineStart: Uint32Array;
  private readonly lineCount: Uint32Array;
  private readonly lineIdx: Uint32Array;
  private readonly price: Float64Array;
  private readonly account: Uint32Array;
  private readonly channel: Uint32Array;
  private readonly segStart: Uint32Array;
  private readonly segCount: Uint32Array;
  private readonly segFrom: Float64Array;
  private readonly segTo: Float64Array;
  private readonly segPrice: Float64Array;
  readonly unsettled: Float64Array;
  deltaCount = 0;
  accrualCount = 0;
  eventCount = 0;
  deltaSlot = new Uint32Array(1024);
  deltaRec = new Uint32Array(1024);
  deltaQty = new Float64Array(1024);
  deltaFrom = new Float64Array(1024);
  deltaTo = new Float64Array(1024);
  accrualLine = new Uint32Array(1024);
  accrualSlot = new Uint32Array(1024);
  accrualChannel = new Uint32Array(1024);
  accrualRec = new Uint32Array(1024);
  accrualQty = new Float64Array(1024);
  accrualAmount = new Float64Array(1024);
  accrualPrice = new Float64Array(1024);
  accrualFrom = new Float64Array(1024);
  accrualTo = new Float64Array(1024);
  eventKind = new Uint32Array(1024);
  eventSlot = new Uint32Array(1024);
  eventRec = new Uint32Array(1024);

  constructor(configs: SlotConfig[], tables: PolicyTables) {
    const n = configs.reduce((m, c) => Math.max(m, c.slot + 1), 0);
    this.width = new Uint8Array(n);
    this.mpc = new Float64Array(n);
    this.hasBase = new Uint8Array(n);
    this.last = new Float64Array(n);
    this.lastTs = new Float64Array(n);
    this.maxRate = new Float64Array(n);
    for (const c of configs) {
      this.maxRate[c.slot] = Number(c.maxRateMicroPerS);
      this.width[c.slot] = c.widthBits;
      this.mpc[c.slot] = Number(c.microPerCount);
    }
    const lines = tables.lines;
    this.price = new Float64Array(lines.map((l) => Number(l.priceNano)));
    this.account = new Uint32Array(lines.map((l) => tables.channels[l.channel]!.account));
    this.channel = new Uint32Array(lines.map((l) => l.channel));
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
      this.deltaRec = new Uint32Array(n);
      this.deltaQty = new Float64Array(n);
      this.deltaFrom = new Float64Array(n);
      this.deltaTo = new Float64Array(n);
      this.eventKind = new Uint32Array(n);
      this.eventSlot = new Uint32Array(n);
      this.eventRec = new Uint32Array(n);
    }
  }

  private growAccruals(): void {
    const grow = <T extends Uint32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a as never);
      return b;
    };
    this.accrualLine = grow(this.accrualLine);
    this.accrualSlot = grow(this.accrualSlot);
    this.accrualChannel = grow(this.accrualChannel);
    this.accrualRec = grow(this.accrualRec);
    this.accrualQty = grow(this.accrualQty);
    this.accrualAmount = grow(this.accrualAmount);
    this.accrualPrice = grow(this.accrualPrice);
    this.accrualFrom = grow(this.accrualFrom);
    this.accrualTo = grow(this.accrualTo);
  }

  private accrue(line: number, slot: number, rec: number, qty: number, price: number, from: number, to: number): void {
    if (this.accrualCount === this.accrualLine.length) this.growAccruals();
    const amount = Math.floor((qty * price) / 1e6);
    const k = this.accrualCount++;
    this.accrualLine[k] = line;
    this.accrualSlot[k] = slot;
    this.accrualChannel[k] = this.channel[line]!;
    this.accrualRec[k] = rec;
    this.accrualQty[k] = qty;
    this.accrualAmount[k] = amount;
    this.accrualPrice[k] = price;
    this.accrualFrom[k] = from;
    this.accrualTo[k] = to;
    this.unsettled[this.account[line]!]! += amount;
  }

  private event(kind: number, slot: number, rec: number): void {
    const k = this.eventCount++;
    this.eventKind[k] = kind;
    this.eventSlot[k] = slot;
    this.eventRec[k] = rec;
  }

  process(slots: Uint32Array, raws: Float64Array, ts: Float64Array, offset: number, n: number): void {
    this.ensure(n * 2);
    this.deltaCount = 0;
    this.accrualCount = 0;
    this.eventCount = 0;
    for (let i = offset; i < offset + n; i++) {
      const s = slots[i]!;
      const raw = raws[i]!;
      const t = ts[i]!;
      const rec = i - offset;
      if (this.hasBase[s] === 0) {
        this.hasBase[s] = 1;
        this.last[s] = raw;
        this.lastTs[s] = t;
        this.event(0, s, rec);
        continue;
      }
      const from = this.lastTs[s]!;
      if (t <= from) {
        this.event(5, s, rec);
        continue;
      }
      const w = this.width[s]!;
      const last = this.last[s]!;
      let d = raw - last;
      if (d < 0) {
        const wrapped = w === 0 ? -1 : d + 2 ** w;
        d = wrapped >= 0 && wrapped < 2 ** (w - 1) ? wrapped : raw;
        this.event(d === raw ? 2 : 1, s, rec);
      }
      const qty = d * this.mpc[s]!;
      const rate = this.maxRate[s]!;
      if (rate > 0 && qty * 1000 > rate * (t - from)) {
        this.event(3, s, rec); // naive: no held state kept
        continue;
      }
      this.last[s] = raw;
      this.lastTs[s] = t;
      const k = this.deltaCount++;
      this.deltaSlot[k] = s;
      this.deltaRec[k] = rec;
      this.deltaQty[k] = qty;
      this.deltaFrom[k] = from;
      this.deltaTo[k] = t;
      const ls = this.lineStart[s]!;
      for (let j = ls; j < ls + this.lineCount[s]!; j++) {
        const line = this.lineIdx[j]!;
        const sc = this.segCount[line]!;
        if (sc === 0) {
          this.accrue(line, s, rec, qty, this.price[line]!, from, t);
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
            this.accrue(line, s, rec, q, this.price[line]!, cur, sf);
            done += q;
            cur = sf;
          }
          const end = Math.min(st, t);
          const q = (qty * (end - cur)) / (t - from);
          this.accrue(line, s, rec, q, this.segPrice[g]!, cur, end);
          done += q;
          cur = end;
        }
        if (cur < t) this.accrue(line, s, rec, qty - done, this.price[line]!, cur, t);
      }
    }
  }
}
