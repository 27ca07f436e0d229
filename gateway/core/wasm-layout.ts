/**
 * The JS view of build/core.wasm's linear memory: record offsets and control
 * block words mirrored from assembly/layout.ts (keep in step; LAYOUT_VERSION is
 * checked at load), the module's exports, and typed-array views over the whole
 * memory that are re-created whenever memory.grow replaced the buffer.
 */
export const LAYOUT_VERSION = 3;

export const SLOT = { SIZE: 64, FLAGS: 0, WIDTH: 4, LSTART: 8, LCOUNT: 12, MPC: 16, MAXRATE: 24, LAST: 32, LASTTS: 40, HELD: 48, HELDTS: 56 } as const;
export const F_CONFIGURED = 1;
export const F_BASELINE = 2;
export const F_HELD = 4;
export const LINE = { SIZE: 48, SLOT: 0, CHANNEL: 4, ACCOUNT: 8, SEGSTART: 12, SEGCOUNT: 16, PRICE: 24, REM: 32 } as const;
export const SEG = { SIZE: 24, FROM: 0, TO: 8, PRICE: 16 } as const;
export const ACCT = { SIZE: 32, UNSETTLED: 0, LIMIT: 8, REARM: 16, OVER: 24 } as const;
export const EV_CREDIT_OVER = 8;
export const EV_CREDIT_UNDER = 9;

/** Control block words (u32). */
export const C = {
  LAYOUT: 0,
  SLOT_PTR: 1,
  SLOT_COUNT: 2,
  LINE_PTR: 3,
  LINE_COUNT: 4,
  SEG_PTR: 5,
  SEG_COUNT: 6,
  LIDX_PTR: 7,
  LIDX_COUNT: 8,
  ACCT_PTR: 9,
  ACCT_COUNT: 10,
  IN_CAP: 11,
  IN_SLOT: 12,
  IN_RAW: 13,
  IN_TS: 14,
  IN_FLAG: 15,
  D_COUNT: 16,
  D_SLOT: 17,
  D_REC: 18,
  D_QTY: 19,
  D_FROM: 20,
  D_TO: 21,
  A_COUNT: 22,
  A_LINE: 23,
  A_SLOT: 24,
  A_CHANNEL: 25,
  A_REC: 26,
  A_QTY: 27,
  A_AMOUNT: 28,
  A_PRICE: 29,
  A_FROM: 30,
  A_TO: 31,
  E_COUNT: 32,
  E_KIND: 33,
  E_SLOT: 34,
  E_ACCOUNT: 35,
  E_REC: 36,
  E_VALUE: 37,
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
  resizeLineIndex(n: number): void;
  resizeAccounts(n: number): void;
  u128Mul(a: bigint, b: bigint): bigint;
  u128DivMod(hi: bigint, lo: bigint, d: bigint): bigint;
  u128MulAddDiv(a: bigint, b: bigint, c: bigint, d: bigint): bigint;
  u128Overflow(): number;
  u128Hi(): bigint;
  u128Rem(): bigint;
}

/** Whole-memory typed views; index = byte address >> log2(element size). Call sync() after every WASM call. */
export class CoreMemory {
  u8!: Uint8Array;
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
