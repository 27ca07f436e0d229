/**
 * MeteringCore over build/core.wasm (assembly/). A batch crosses into WASM
 * through linear memory only: the readings are written into input columns,
 * processBatch(n) runs once, and deltas, accruals and events are read back from
 * output columns. Gives the same BatchResult as ReferenceCore for the same calls.
 *
 * processColumns() is the allocation-free fast path for callers that already
 * hold columns: it returns views into WASM memory (valid until the next call).
 */
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../base/package-root';
import { CoreLoadError } from './errors';
import type {
  Accrual,
  BatchResult,
  CoreEvent,
  CoreState,
  Delta,
  MeteringCore,
  PolicyTables,
  SnapshotFilter,
  Reading,
  SlotConfig,
} from './types';
import { checkSettle, EVENT_KINDS, U64_MAX } from './validate';
import {
  ACCT,
  C,
  CoreMemory,
  EV_CREDIT_OVER,
  EV_CREDIT_UNDER,
  LAYOUT_VERSION,
  wasmApi,
  type CoreExports,
  type WasmModule,
} from './wasm-layout';
import { CoreTables } from './wasm-tables';

/** Slot index written for readings whose slot is not a u32 (reported as 'unknown-slot' with the original value). */
const NO_SLOT = 0xffffffff;

/** Outputs of processColumns(): views into WASM memory, valid until the next call on the core. */
export interface ColumnarBatch {
  policyVersion: number;
  deltaCount: number;
  deltaSlot: Uint32Array;
  /** Index of the reading (in the batch) that closed the delta. */
  deltaRec: Uint32Array;
  deltaQty: BigInt64Array;
  deltaFromMs: Float64Array;
  deltaToMs: Float64Array;
  accrualCount: number;
  accrualLine: Uint32Array;
  accrualSlot: Uint32Array;
  accrualChannel: Uint32Array;
  accrualRec: Uint32Array;
  accrualQty: BigInt64Array;
  accrualAmount: BigInt64Array;
  accrualPrice: BigInt64Array;
  accrualFromMs: Float64Array;
  accrualToMs: Float64Array;
  eventCount: number;
  /** Index into EVENT_KINDS. */
  eventKind: Uint32Array;
  eventSlot: Uint32Array;
  eventAccount: Uint32Array;
  eventRec: Uint32Array;
  /** Raw bits of the reading (counter events) or unsettled amount (credit events). */
  eventValue: BigInt64Array;
}

export class WasmCore implements MeteringCore {
  private readonly m: CoreMemory;
  private readonly tables: CoreTables;

  constructor(module: WasmModule) {
    const ex = new wasmApi.Instance(module, {}).exports as unknown as CoreExports;
    this.m = new CoreMemory(ex);
    if (this.m.ctrl(C.LAYOUT) !== LAYOUT_VERSION) {
      throw new CoreLoadError(
        `core.wasm has memory layout ${this.m.ctrl(C.LAYOUT)}, this loader expects ${LAYOUT_VERSION}: run npm run build:core`,
      );
    }
    this.tables = new CoreTables(this.m);
  }

  configureSlots(slots: SlotConfig[]): void {
    this.tables.configureSlots(slots);
  }

  setPolicy(tables: PolicyTables): void {
    this.tables.setPolicy(tables);
  }

  snapshot(only?: SnapshotFilter): CoreState {
    return this.tables.snapshot(only);
  }

  restore(state: CoreState): void {
    this.tables.restore(state);
  }

  process(readings: Reading[]): BatchResult {
    const n = readings.length;
    this.m.ex.reserveInput(n);
    const { u8, u32, u64, f64 } = this.m.sync();
    const slotAt = this.m.ctrl(C.IN_SLOT) >> 2;
    const rawAt = this.m.ctrl(C.IN_RAW) >> 3;
    const tsAt = this.m.ctrl(C.IN_TS) >> 3;
    const flagAt = this.m.ctrl(C.IN_FLAG);
    for (let i = 0; i < n; i++) {
      const r = readings[i]!;
      const slot = r.slot;
      u32[slotAt + i] = Number.isInteger(slot) && slot >= 0 && slot < NO_SLOT ? slot : NO_SLOT;
      const raw = r.raw;
      const rawOk = typeof raw === 'bigint' && raw >= 0n && raw <= U64_MAX;
      u64[rawAt + i] = rawOk ? raw : 0n;
      u8[flagAt + i] = rawOk ? 0 : 1;
      f64[tsAt + i] = typeof r.tsMs === 'number' ? r.tsMs : NaN;
    }
    this.m.ex.processBatch(n, 1);
    return this.readResult(readings);
  }

  private readResult(readings: Reading[]): BatchResult {
    const { u32, i64, f64 } = this.m.sync();
    const m = this.m;
    const deltas: Delta[] = new Array<Delta>(m.ctrl(C.D_COUNT));
    {
      const [slot, qty, from, to] = [m.ctrl(C.D_SLOT) >> 2, m.ctrl(C.D_QTY) >> 3, m.ctrl(C.D_FROM) >> 3, m.ctrl(C.D_TO) >> 3];
      for (let k = 0; k < deltas.length; k++)
        deltas[k] = { slot: u32[slot + k]!, qtyMicro: i64[qty + k]!, fromMs: f64[from + k]!, toMs: f64[to + k]! };
    }
    const accruals: Accrual[] = new Array<Accrual>(m.ctrl(C.A_COUNT));
    {
      const line = m.ctrl(C.A_LINE) >> 2;
      const slot = m.ctrl(C.A_SLOT) >> 2;
      const channel = m.ctrl(C.A_CHANNEL) >> 2;
      const qty = m.ctrl(C.A_QTY) >> 3;
      const amount = m.ctrl(C.A_AMOUNT) >> 3;
      const price = m.ctrl(C.A_PRICE) >> 3;
      const from = m.ctrl(C.A_FROM) >> 3;
      const to = m.ctrl(C.A_TO) >> 3;
      const policyVersion = this.tables.version;
      for (let k = 0; k < accruals.length; k++) {
        accruals[k] = {
          line: u32[line + k]!,
          slot: u32[slot + k]!,
          channel: u32[channel + k]!,
          qtyMicro: i64[qty + k]!,
          amountNano: i64[amount + k]!,
          priceNano: i64[price + k]!,
          fromMs: f64[from + k]!,
          toMs: f64[to + k]!,
          policyVersion,
        };
      }
    }
    const events: CoreEvent[] = new Array<CoreEvent>(m.ctrl(C.E_COUNT));
    {
      const kind = m.ctrl(C.E_KIND) >> 2;
      const account = m.ctrl(C.E_ACCOUNT) >> 2;
      const rec = m.ctrl(C.E_REC) >> 2;
      const value = m.ctrl(C.E_VALUE) >> 3;
      for (let k = 0; k < events.length; k++) {
        const code = u32[kind + k]!;
        const r = readings[u32[rec + k]!]!;
        events[k] =
          code === EV_CREDIT_OVER
            ? { kind: 'credit-over', account: u32[account + k]!, tsMs: r.tsMs, value: i64[value + k]! }
            : { kind: EVENT_KINDS[code]!, slot: r.slot, tsMs: r.tsMs, value: r.raw };
      }
    }
    return { deltas, accruals, events };
  }

  /**
   * Fast path: meters n readings given as columns (slot, raw bits, tsMs), without
   * creating objects. Raw values are the u64 register value (a BigInt64Array holds
   * the same bits). With `flags`, a 1 marks a raw that did not fit u64 (the reading
   * is ignored, as process() does for it). Results are views into WASM memory,
   * valid until the next call.
   */
  processColumns(
    slots: Uint32Array,
    raws: BigInt64Array | BigUint64Array,
    ts: Float64Array | BigInt64Array,
    n = slots.length,
    flags?: Uint8Array,
  ): ColumnarBatch {
    if (raws.length < n || ts.length < n || slots.length < n || (flags && flags.length < n))
      throw new RangeError('processColumns: a column is shorter than n');
    this.m.ex.reserveInput(n);
    const { u8, u32, i64, u64, f64 } = this.m.sync();
    u32.set(slots.subarray(0, n), this.m.ctrl(C.IN_SLOT) >> 2);
    if (raws instanceof BigUint64Array) u64.set(raws.subarray(0, n), this.m.ctrl(C.IN_RAW) >> 3);
    else i64.set(raws.subarray(0, n), this.m.ctrl(C.IN_RAW) >> 3);
    const tsAt = this.m.ctrl(C.IN_TS) >> 3;
    if (ts instanceof Float64Array) f64.set(ts.subarray(0, n), tsAt);
    else for (let i = 0; i < n; i++) f64[tsAt + i] = Number(ts[i]);
    if (flags) u8.set(flags.subarray(0, n), this.m.ctrl(C.IN_FLAG));
    this.m.ex.processBatch(n, flags ? 1 : 0);
    return this.columns();
  }

  private columns(): ColumnarBatch {
    const m = this.m.sync();
    const u32 = (ptr: number, count: number): Uint32Array => m.u32.subarray(m.ctrl(ptr) >> 2, (m.ctrl(ptr) >> 2) + count);
    const i64 = (ptr: number, count: number): BigInt64Array => m.i64.subarray(m.ctrl(ptr) >> 3, (m.ctrl(ptr) >> 3) + count);
    const f64 = (ptr: number, count: number): Float64Array => m.f64.subarray(m.ctrl(ptr) >> 3, (m.ctrl(ptr) >> 3) + count);
    const d = m.ctrl(C.D_COUNT);
    const a = m.ctrl(C.A_COUNT);
    const e = m.ctrl(C.E_COUNT);
    return {
      policyVersion: this.tables.version,
      deltaCount: d,
      deltaSlot: u32(C.D_SLOT, d),
      deltaRec: u32(C.D_REC, d),
      deltaQty: i64(C.D_QTY, d),
      deltaFromMs: f64(C.D_FROM, d),
      deltaToMs: f64(C.D_TO, d),
      accrualCount: a,
      accrualLine: u32(C.A_LINE, a),
      accrualSlot: u32(C.A_SLOT, a),
      accrualChannel: u32(C.A_CHANNEL, a),
      accrualRec: u32(C.A_REC, a),
      accrualQty: i64(C.A_QTY, a),
      accrualAmount: i64(C.A_AMOUNT, a),
      accrualPrice: i64(C.A_PRICE, a),
      accrualFromMs: f64(C.A_FROM, a),
      accrualToMs: f64(C.A_TO, a),
      eventCount: e,
      eventKind: u32(C.E_KIND, e),
      eventSlot: u32(C.E_SLOT, e),
      eventAccount: u32(C.E_ACCOUNT, e),
      eventRec: u32(C.E_REC, e),
      eventValue: i64(C.E_VALUE, e),
    };
  }

  settle(account: number, amountNano: bigint): CoreEvent[] {
    const known = Number.isInteger(account) && account >= 0 && account < this.m.ctrl(C.ACCT_COUNT);
    const unsettledAt = (): number => (this.m.ctrl(C.ACCT_PTR) + account * ACCT.SIZE + ACCT.UNSETTLED) >> 3;
    checkSettle(account, amountNano, known ? this.m.sync().u64[unsettledAt()] : undefined);
    const rearmed = this.m.ex.settle(account, amountNano);
    if (rearmed !== 1) return [];
    const tsMs = this.m.ex.clock();
    return [{ kind: EVENT_KINDS[EV_CREDIT_UNDER]!, account, tsMs, value: this.m.sync().u64[unsettledAt()]! }];
  }
}

/** build/core.wasm of this package, found from wherever this file runs (sources or build/). */
export function defaultWasmPath(): string {
  return path.join(packageRoot(), 'build', 'core.wasm');
}

const compiled = new Map<string, WasmModule>();

/**
 * Loads the WASM core synchronously: a fresh instance (own memory and state) on
 * each call; the compiled module is cached per path. Throws CoreLoadError when
 * the file is missing or does not fit this loader.
 */
export function loadWasmCore(wasmPath: string = defaultWasmPath()): WasmCore {
  const key = path.resolve(wasmPath);
  let module = compiled.get(key);
  if (module === undefined) {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(key);
    } catch (e) {
      throw new CoreLoadError(`cannot read the metering core ${key} (run npm run build:core)`, e);
    }
    try {
      module = new wasmApi.Module(bytes);
    } catch (e) {
      throw new CoreLoadError(`${key} is not a valid WebAssembly module`, e);
    }
    compiled.set(key, module);
  }
  return new WasmCore(module);
}
