/**
 * The JS view of build/core.wasm's linear memory: record offsets and control
 * block words mirrored from assembly/layout.ts (LAYOUT_VERSION is checked at
 * load; test/unit/core-layout.test.ts compares every constant here with the
 * compiled value from assembly/layout.ts, both ways, so neither side can change
 * alone), the module's exports, and typed-array views over the whole memory
 * that are re-created whenever memory.grow replaced the buffer.
 */
export const LAYOUT_VERSION = 4;

/** Slot record, hot part (32 bytes): flags u8, width u8, line count u16, first line u32, mpc, last raw, last ts. */
export const SLOT = { SIZE: 32, FLAGS: 0, WIDTH: 1, LCOUNT: 2, LSTART: 4, MPC: 8, LAST: 16, LASTTS: 24 } as const;
/** Slot record, cold part (32 bytes): max rate, held raw, held ts. */
export const COLD = { SIZE: 32, MAXRATE: 0, HELD: 8, HELDTS: 16 } as const;
export const F_CONFIGURED = 1;
export const F_BASELINE = 2;
export const F_HELD = 4;
export const F_RATE = 8;
/** Tariff line record (32 bytes), stored grouped by slot, ascending line index within a slot. */
export const LINE = { SIZE: 32, PRICE: 0, REM: 8, LINE: 16, CHANNEL: 20, SEGSTART: 24, SEGCOUNT: 28 } as const;
export const SEG = { SIZE: 24, FROM: 0, TO: 8, PRICE: 16 } as const;
export const ACCT = { SIZE: 32, UNSETTLED: 0, LIMIT: 8, REARM: 16, OVER: 24 } as const;
export const EV_CREDIT_OVER = 8;
export const EV_CREDIT_UNDER = 9;

/** Control block words (u32). */
export const C = {
  LAYOUT: 0,
  SLOT_PTR: 1,
  SLOT_COUNT: 2,
  COLD_PTR: 3,
  LINE_PTR: 4,
  LINE_COUNT: 5,
  SEG_PTR: 6,
  SEG_COUNT: 7,
  CHAN_PTR: 8,
  CHAN_COUNT: 9,
  ACCT_PTR: 10,
  ACCT_COUNT: 11,
  SCRATCH_PTR: 12,
  SCRATCH_COUNT: 13,
  IN_CAP: 14,
  IN_SLOT: 15,
  IN_RAW: 16,
  IN_TS: 17,
  IN_FLAG: 18,
  D_COUNT: 19,
  D_SLOT: 20,
  D_REC: 21,
  D_QTY: 22,
  D_FROM: 23,
  D_TO: 24,
  A_COUNT: 25,
  A_LINE: 26,
  A_SLOT: 27,
  A_CHANNEL: 28,
  A_REC: 29,
  A_QTY: 30,
  A_AMOUNT: 31,
  A_PRICE: 32,
  A_FROM: 33,
  A_TO: 34,
  E_COUNT: 35,
  E_KIND: 36,
  E_SLOT: 37,
  E_ACCOUNT: 38,
  E_REC: 39,
  E_VALUE: 40,
} as const;

/** The few WebAssembly API types used here (tsconfig's lib has no WebAssembly declarations). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
export type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: object };
}
export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export interface CoreExports {
  memory: WasmMemory;
  control(): number;
  processBatch(n: number, hasFlags: number): number;
  settle(account: number, amount: bigint): number;
  clock(): number;
  reserveInput(n: number): void;
  resizeSlots(n: number): void;
  resizeLines(n: number): void;
  resizeSegments(n: number): void;
  resizeChannels(n: number): void;
  resizeAccounts(n: number): void;
  resizeScratch(n: number): void;
}

/** Whole-memory typed views; index = byte address >> log2(element size). Call sync() after every WASM call. */
export class CoreMemory {
  u8!: Uint8Array;
  u16!: Uint16Array;
  u32!: Uint32Array;
  i64!: BigInt64Array;
  u64!: BigUint64Array;
  f64!: Float64Array;
  private buffer: ArrayBuffer | null = null;
  private readonly ctrlWord: number;

  constructor(readonly ex: CoreExports) {
    this.ctrlWord = ex.control() >>> 2;
    this.sync();
  }

  /** Re-creates the views when memory.grow has replaced the buffer. */
  sync(): this {
    const buf = this.ex.memory.buffer;
    if (buf !== this.buffer) {
      this.buffer = buf;
      this.u8 = new Uint8Array(buf);
      this.u16 = new Uint16Array(buf);
      this.u32 = new Uint32Array(buf);
      this.i64 = new BigInt64Array(buf);
      this.u64 = new BigUint64Array(buf);
      this.f64 = new Float64Array(buf);
    }
    return this;
  }

  /** A control block word; safe after any WASM call (re-syncs the views when memory grew). */
  ctrl(word: number): number {
    if (this.ex.memory.buffer !== this.buffer) this.sync();
    return this.u32[this.ctrlWord + word]!;
  }
}
