/**
 * Counter readings on their way into the metering core, as columns
 * (docs/architecture.md, "The reading path"): slot (u32), raw (u64 bits),
 * time (f64 epoch ms) and a flag for a raw that does not fit u64. A reading
 * is pushed as two u32 halves into a Uint32Array view of the raw column, so
 * no BigInt is made on the way in. The buffer has a fixed capacity: the
 * metering service meters it when full, it never grows.
 *
 * `meterColumns` hands the columns to the core in one call: WasmCore copies
 * them into its linear memory (processColumns); another core (the BigInt
 * reference of the tests) gets Reading objects built from them.
 */
import os from 'node:os';
import type { ColumnarBatch } from '../core/wasm-core';
import type { Accrual, BatchResult, CoreEvent, Delta, MeteringCore, Reading } from '../core/types';
import { EVENT_KINDS } from '../core/validate';
import { EV_CREDIT_OVER } from '../core/wasm-layout';

const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** A core that meters columns without Reading objects (WasmCore). */
export interface ColumnCore extends MeteringCore {
  processColumns(slots: Uint32Array, raws: BigInt64Array, ts: Float64Array, n: number, flags?: Uint8Array): ColumnarBatch;
}

export const isColumnCore = (core: MeteringCore): core is ColumnCore => typeof (core as Partial<ColumnCore>).processColumns === 'function';

export class ReadingColumns {
  readonly capacity: number;
  readonly slot: Uint32Array;
  /** u64 raw bits (a BigInt64Array holds the same bits the core reads as u64). */
  readonly raw: BigInt64Array;
  readonly ts: Float64Array;
  /** 1: the raw did not fit u64 (the core ignores the reading, as it does for the reference). */
  readonly bad: Uint8Array;
  /** Original out-of-range raws by row, for the events that name them. */
  private readonly badRaw = new Map<number, bigint>();
  private readonly words: Uint32Array;
  length = 0;

  constructor(capacity: number) {
    if (os.endianness() !== 'LE') throw new Error('the metering columns assume a little-endian machine (as WebAssembly memory is)');
    this.capacity = Math.max(1, Math.floor(capacity));
    this.slot = new Uint32Array(this.capacity);
    this.raw = new BigInt64Array(this.capacity);
    this.words = new Uint32Array(this.raw.buffer);
    this.ts = new Float64Array(this.capacity);
    this.bad = new Uint8Array(this.capacity);
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  get hasBad(): boolean {
    return this.badRaw.size > 0;
  }

  /** Append one reading (the caller meters the columns first when `full`). */
  push(slot: number, lo: number, hi: number, tsMs: number): void {
    const i = this.length++;
    this.slot[i] = slot;
    this.words[2 * i] = lo;
    this.words[2 * i + 1] = hi;
    this.ts[i] = tsMs;
    this.bad[i] = 0;
  }

  /** Append one reading given as a bigint (any value: one outside u64 is flagged). */
  pushBig(slot: number, raw: bigint, tsMs: number): void {
    const fits = raw >= 0n && raw <= U64_MAX;
    const i = this.length;
    this.push(slot, fits ? Number(raw & 0xffff_ffffn) : 0, fits ? Number(raw >> 32n) : 0, tsMs);
    if (!fits) {
      this.bad[i] = 1;
      this.badRaw.set(i, raw);
    }
  }

  /** The raw of row i as the reference core would have seen it. */
  rawAt(i: number): bigint {
    return this.badRaw.get(i) ?? BigInt.asUintN(64, this.raw[i]!);
  }

  clear(): void {
    this.length = 0;
    this.badRaw.clear();
  }

  /** Row i as a Reading object (the reference path). */
  reading(i: number): Reading {
    return { slot: this.slot[i]!, raw: this.rawAt(i), tsMs: this.ts[i]! };
  }
}

/**
 * What one core call metered, as columns (docs/architecture.md, "The reading
 * path"): WasmCore's output views as they are (valid until its next call),
 * or a BatchResult of another core turned into columns. Events are rare and
 * come as objects. Nothing here is made per reading on the WASM path.
 */
export type MeteredColumns = Pick<
  ColumnarBatch,
  | 'deltaCount'
  | 'deltaSlot'
  | 'deltaQty'
  | 'deltaFromMs'
  | 'deltaToMs'
  | 'accrualCount'
  | 'accrualLine'
  | 'accrualSlot'
  | 'accrualChannel'
  | 'accrualQty'
  | 'accrualAmount'
  | 'accrualFromMs'
  | 'accrualToMs'
> & { events: CoreEvent[] };

/** Meter the columns in one core call; what it metered, as columns. */
export function meterToColumns(core: MeteringCore, c: ReadingColumns): MeteredColumns {
  if (c.length === 0 || !isColumnCore(core)) return columnsOf(meterColumns(core, c));
  const o = core.processColumns(c.slot, c.raw, c.ts, c.length, c.hasBad ? c.bad : undefined);
  return { ...o, events: eventsOf(o, c) };
}

/** A BatchResult (the reference core's) as columns. */
export function columnsOf(r: BatchResult): MeteredColumns {
  const d = r.deltas;
  const a = r.accruals;
  return {
    deltaCount: d.length,
    deltaSlot: Uint32Array.from(d, (x) => x.slot),
    deltaQty: BigInt64Array.from(d, (x) => x.qtyMicro),
    deltaFromMs: Float64Array.from(d, (x) => x.fromMs),
    deltaToMs: Float64Array.from(d, (x) => x.toMs),
    accrualCount: a.length,
    accrualLine: Uint32Array.from(a, (x) => x.line),
    accrualSlot: Uint32Array.from(a, (x) => x.slot),
    accrualChannel: Uint32Array.from(a, (x) => x.channel),
    accrualQty: BigInt64Array.from(a, (x) => x.qtyMicro),
    accrualAmount: BigInt64Array.from(a, (x) => x.amountNano),
    accrualFromMs: Float64Array.from(a, (x) => x.fromMs),
    accrualToMs: Float64Array.from(a, (x) => x.toMs),
    events: r.events,
  };
}

/** Meter the columns in one core call; the result as Delta/Accrual/CoreEvent objects (the reference's shape). */
export function meterColumns(core: MeteringCore, c: ReadingColumns): BatchResult {
  const n = c.length;
  if (n === 0) return { deltas: [], accruals: [], events: [] };
  if (!isColumnCore(core)) {
    const readings: Reading[] = new Array<Reading>(n);
    for (let i = 0; i < n; i++) readings[i] = c.reading(i);
    return core.process(readings);
  }
  return resultOf(core.processColumns(c.slot, c.raw, c.ts, n, c.hasBad ? c.bad : undefined), c);
}

/**
 * The core's output columns as Delta/Accrual/CoreEvent objects. Same values,
 * same order as WasmCore.process() gives for the same readings.
 */
function resultOf(o: ColumnarBatch, c: ReadingColumns): BatchResult {
  const deltas: Delta[] = new Array<Delta>(o.deltaCount);
  for (let k = 0; k < o.deltaCount; k++) {
    deltas[k] = { slot: o.deltaSlot[k]!, qtyMicro: o.deltaQty[k]!, fromMs: o.deltaFromMs[k]!, toMs: o.deltaToMs[k]! };
  }
  const accruals: Accrual[] = new Array<Accrual>(o.accrualCount);
  for (let k = 0; k < o.accrualCount; k++) {
    accruals[k] = {
      line: o.accrualLine[k]!,
      slot: o.accrualSlot[k]!,
      channel: o.accrualChannel[k]!,
      qtyMicro: o.accrualQty[k]!,
      amountNano: o.accrualAmount[k]!,
      priceNano: o.accrualPrice[k]!,
      fromMs: o.accrualFromMs[k]!,
      toMs: o.accrualToMs[k]!,
      policyVersion: o.policyVersion,
    };
  }
  return { deltas, accruals, events: eventsOf(o, c) };
}

function eventsOf(o: ColumnarBatch, c: ReadingColumns): CoreEvent[] {
  const events: CoreEvent[] = new Array<CoreEvent>(o.eventCount);
  for (let k = 0; k < o.eventCount; k++) {
    const code = o.eventKind[k]!;
    const rec = o.eventRec[k]!;
    events[k] =
      code === EV_CREDIT_OVER
        ? { kind: 'credit-over', account: o.eventAccount[k]!, tsMs: c.ts[rec]!, value: o.eventValue[k]! }
        : { kind: EVENT_KINDS[code]!, slot: c.slot[rec]!, tsMs: c.ts[rec]!, value: c.rawAt(rec) };
  }
  return events;
}
