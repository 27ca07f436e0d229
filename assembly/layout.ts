// Memory layout shared with gateway/core/wasm-layout.ts: table records, the
// control block (pointers, capacities and counts the JS side reads after each
// call) and the output columns the batch writes. Keep the two files in step;
// LAYOUT_VERSION guards against a stale build/core.wasm.

export const LAYOUT_VERSION: u32 = 3;

// ---- slot record (64 bytes) ----
export const SLOT_SIZE: usize = 64;
export const S_FLAGS: usize = 0; // u32: F_*
export const S_WIDTH: usize = 4; // u32: 0 | 16 | 32 | 64
export const S_LSTART: usize = 8; // u32: first entry of this slot's lines in the line index
export const S_LCOUNT: usize = 12; // u32: number of lines pricing this slot
export const S_MPC: usize = 16; // u64: micro-units per count
export const S_MAXRATE: usize = 24; // u64: micro-units per second, 0 = no limit
export const S_LAST: usize = 32; // u64: last accepted raw
export const S_LASTTS: usize = 40; // i64: its timestamp
export const S_HELD: usize = 48; // u64: held raw (when F_HELD)
export const S_HELDTS: usize = 56; // i64: its timestamp
export const F_CONFIGURED: u32 = 1;
export const F_BASELINE: u32 = 2;
export const F_HELD: u32 = 4;

// ---- tariff line record (48 bytes) ----
export const LINE_SIZE: usize = 48;
export const L_SLOT: usize = 0; // u32
export const L_CHANNEL: usize = 4; // u32
export const L_ACCOUNT: usize = 8; // u32: payer account of the channel
export const L_SEGSTART: usize = 12; // u32: first time-of-use segment
export const L_SEGCOUNT: usize = 16; // u32
export const L_PRICE: usize = 24; // u64: nano per unit outside every segment
export const L_REM: usize = 32; // u64: carried remainder, < 10^6
export const L_SAVED: usize = 40; // u64: remainder before the delta being billed (undo on overflow)

// ---- time-of-use segment (24 bytes) ----
export const SEG_SIZE: usize = 24;
export const G_FROM: usize = 0; // i64
export const G_TO: usize = 8; // i64
export const G_PRICE: usize = 16; // u64

// ---- account (32 bytes) ----
export const ACCT_SIZE: usize = 32;
export const A_UNSETTLED: usize = 0; // u64 (< 2^63)
export const A_LIMIT: usize = 8; // u64: credit-over when unsettled > limit (2^63-1 = no limit)
export const A_REARM: usize = 16; // u64: credit-under when unsettled <= rearm
export const A_OVER: usize = 24; // u32

// ---- event kinds (gateway/core/validate.ts EVENT_KINDS) ----
export const EV_BASELINE: u32 = 0;
export const EV_ROLLOVER: u32 = 1;
export const EV_RESET: u32 = 2;
export const EV_HELD: u32 = 3;
export const EV_CONFIRMED: u32 = 4;
export const EV_IGNORED: u32 = 5;
export const EV_OVERFLOW: u32 = 6;
export const EV_UNKNOWN_SLOT: u32 = 7;
export const EV_CREDIT_OVER: u32 = 8;
export const EV_CREDIT_UNDER: u32 = 9;

// ---- control block: u32 words ----
export const C_LAYOUT = 0;
export const C_SLOT_PTR = 1;
export const C_SLOT_COUNT = 2;
export const C_LINE_PTR = 3;
export const C_LINE_COUNT = 4;
export const C_SEG_PTR = 5;
export const C_SEG_COUNT = 6;
export const C_LIDX_PTR = 7;
export const C_LIDX_COUNT = 8;
export const C_ACCT_PTR = 9;
export const C_ACCT_COUNT = 10;
export const C_IN_CAP = 11;
export const C_IN_SLOT = 12; // u32[]
export const C_IN_RAW = 13; // u64[]
export const C_IN_TS = 14; // f64[]
export const C_IN_FLAG = 15; // u8[]: 1 = raw not representable (JS side found it out of range)
export const C_D_COUNT = 16;
export const C_D_SLOT = 17; // u32[]
export const C_D_REC = 18; // u32[]: index of the reading in the batch
export const C_D_QTY = 19; // i64[]
export const C_D_FROM = 20; // f64[]
export const C_D_TO = 21; // f64[]
export const C_A_COUNT = 22;
export const C_A_LINE = 23; // u32[]
export const C_A_SLOT = 24; // u32[]
export const C_A_CHANNEL = 25; // u32[]
export const C_A_REC = 26; // u32[]
export const C_A_QTY = 27; // i64[]
export const C_A_AMOUNT = 28; // i64[]
export const C_A_PRICE = 29; // i64[]
export const C_A_FROM = 30; // f64[]
export const C_A_TO = 31; // f64[]
export const C_E_COUNT = 32;
export const C_E_KIND = 33; // u32[]
export const C_E_SLOT = 34; // u32[]
export const C_E_ACCOUNT = 35; // u32[]
export const C_E_REC = 36; // u32[]
export const C_E_VALUE = 37; // i64[]: raw (counter events) or unsettled (credit events)
export const C_WORDS = 38;

export const CTRL: usize = memory.data(C_WORDS * 4, 16);

// @ts-ignore: decorator
@inline
export function ctrl(word: i32): u32 {
  return load<u32>(CTRL + (<usize>word << 2));
}
// @ts-ignore: decorator
@inline
export function setCtrl(word: i32, v: u32): void {
  store<u32>(CTRL + (<usize>word << 2), v);
}

/** Table pointers for the current call (refreshed by loadTables() at every entry point). */
export let slotPtr: usize = 0;
export let slotCount: u32 = 0;
export let linePtr: usize = 0;
export let segPtr: usize = 0;
export let lidxPtr: usize = 0;
export let acctPtr: usize = 0;
export let acctCount: u32 = 0;

export function loadTables(): void {
  slotPtr = <usize>ctrl(C_SLOT_PTR);
  slotCount = ctrl(C_SLOT_COUNT);
  linePtr = <usize>ctrl(C_LINE_PTR);
  segPtr = <usize>ctrl(C_SEG_PTR);
  lidxPtr = <usize>ctrl(C_LIDX_PTR);
  acctPtr = <usize>ctrl(C_ACCT_PTR);
  acctCount = ctrl(C_ACCT_COUNT);
}

/** Capacity (in records) of each table, by its pointer word. Internal to the WASM side. */
let slotCap: u32 = 0;
let lineCap: u32 = 0;
let segCap: u32 = 0;
let lidxCap: u32 = 0;
let acctCap: u32 = 0;

/**
 * Resizes a table to `count` records: the first min(old, count) records are
 * kept, records up to `count` beyond the old count are zeroed.
 */
function resizeTable(ptrWord: i32, countWord: i32, cap: u32, count: u32, size: usize): u32 {
  let ptr = <usize>ctrl(ptrWord);
  const old = ctrl(countWord);
  if (count > cap) {
    const newCap = max<u32>(count, cap << 1);
    ptr = ptr == 0 ? heap.alloc(<usize>newCap * size) : heap.realloc(ptr, <usize>newCap * size);
    cap = newCap;
    setCtrl(ptrWord, <u32>ptr);
  }
  if (count > old) memory.fill(ptr + <usize>old * size, 0, <usize>(count - old) * size);
  setCtrl(countWord, count);
  return cap;
}

export function resizeSlots(n: u32): void {
  slotCap = resizeTable(C_SLOT_PTR, C_SLOT_COUNT, slotCap, n, SLOT_SIZE);
}
export function resizeLines(n: u32): void {
  lineCap = resizeTable(C_LINE_PTR, C_LINE_COUNT, lineCap, n, LINE_SIZE);
}
export function resizeSegments(n: u32): void {
  segCap = resizeTable(C_SEG_PTR, C_SEG_COUNT, segCap, n, SEG_SIZE);
}
export function resizeLineIndex(n: u32): void {
  lidxCap = resizeTable(C_LIDX_PTR, C_LIDX_COUNT, lidxCap, n, 4);
}
export function resizeAccounts(n: u32): void {
  acctCap = resizeTable(C_ACCT_PTR, C_ACCT_COUNT, acctCap, n, ACCT_SIZE);
}

/** Makes room for a batch of n readings in the input columns (contents not kept). */
export function reserveInput(n: u32): void {
  if (n <= ctrl(C_IN_CAP)) return;
  const cap = max<u32>(n, ctrl(C_IN_CAP) << 1);
  setCtrl(C_IN_SLOT, <u32>heap.alloc(<usize>cap << 2));
  setCtrl(C_IN_RAW, <u32>heap.alloc(<usize>cap << 3));
  setCtrl(C_IN_TS, <u32>heap.alloc(<usize>cap << 3));
  setCtrl(C_IN_FLAG, <u32>heap.alloc(<usize>cap));
  setCtrl(C_IN_CAP, cap);
}
