// Memory layout shared with gateway/core/wasm-layout.ts: table records, the
// control block (pointers, capacities and counts the JS side reads after each
// call) and the output columns the batch writes. Keep the two files in step:
// test/unit/core-layout.test.ts compares every exported upper-case constant here
// (compiled into build/core-test.wasm) with wasm-layout.ts, both ways.
// LAYOUT_VERSION guards against a stale build/core.wasm.

export const LAYOUT_VERSION: u32 = 4;

// ---- slot record, hot part (32 bytes; the table is 64-byte aligned, two slots per cache line) ----
export const SLOT_SIZE: usize = 32;
export const S_FLAGS: usize = 0; // u8: F_*
export const S_WIDTH: usize = 1; // u8: 0 | 16 | 32 | 64
export const S_LCOUNT: usize = 2; // u16: number of lines pricing this slot
export const S_LSTART: usize = 4; // u32: its first line record (lines are stored grouped by slot)
export const S_MPC: usize = 8; // u64: micro-units per count
export const S_LAST: usize = 16; // u64: last accepted raw
export const S_LASTTS: usize = 24; // i64: its timestamp
// ---- slot record, cold part (32 bytes, same index, separate table) ----
export const COLD_SIZE: usize = 32;
export const K_MAXRATE: usize = 0; // u64: micro-units per second (read only when F_RATE)
export const K_HELD: usize = 8; // u64: held raw (when F_HELD)
export const K_HELDTS: usize = 16; // i64: its timestamp
export const F_CONFIGURED: u32 = 1;
export const F_BASELINE: u32 = 2;
export const F_HELD: u32 = 4;
export const F_RATE: u32 = 8; // maxRate > 0

// ---- tariff line record (32 bytes), stored grouped by slot, ascending line index within a slot ----
export const LINE_SIZE: usize = 32;
export const L_PRICE: usize = 0; // u64: nano per unit outside every segment
export const L_REM: usize = 8; // u64: carried remainder, < 10^6
export const L_LINE: usize = 16; // u32: the line's index in the policy
export const L_CHANNEL: usize = 20; // u32
export const L_SEGSTART: usize = 24; // u32: first time-of-use segment (identical lists are shared)
export const L_SEGCOUNT: usize = 28; // u32

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

// ---- channel: u32 payer account ----
// ---- scratch: u64 per line of the slot being billed (remainders before the delta, for undo) ----

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
export const C_COLD_PTR = 3;
export const C_LINE_PTR = 4;
export const C_LINE_COUNT = 5;
export const C_SEG_PTR = 6;
export const C_SEG_COUNT = 7;
export const C_CHAN_PTR = 8;
export const C_CHAN_COUNT = 9;
export const C_ACCT_PTR = 10;
export const C_ACCT_COUNT = 11;
export const C_SCRATCH_PTR = 12;
export const C_SCRATCH_COUNT = 13;
export const C_IN_CAP = 14;
export const C_IN_SLOT = 15; // u32[]
export const C_IN_RAW = 16; // u64[]
export const C_IN_TS = 17; // f64[]
export const C_IN_FLAG = 18; // u8[]: 1 = raw not representable (JS side found it out of range)
export const C_D_COUNT = 19;
export const C_D_SLOT = 20; // u32[]
export const C_D_REC = 21; // u32[]: index of the reading in the batch
export const C_D_QTY = 22; // i64[]
export const C_D_FROM = 23; // f64[]
export const C_D_TO = 24; // f64[]
export const C_A_COUNT = 25;
export const C_A_LINE = 26; // u32[]
export const C_A_SLOT = 27; // u32[]
export const C_A_CHANNEL = 28; // u32[]
export const C_A_REC = 29; // u32[]
export const C_A_QTY = 30; // i64[]
export const C_A_AMOUNT = 31; // i64[]
export const C_A_PRICE = 32; // i64[]
export const C_A_FROM = 33; // f64[]
export const C_A_TO = 34; // f64[]
export const C_E_COUNT = 35;
export const C_E_KIND = 36; // u32[]
export const C_E_SLOT = 37; // u32[]
export const C_E_ACCOUNT = 38; // u32[]
export const C_E_REC = 39; // u32[]
export const C_E_VALUE = 40; // i64[]: raw (counter events) or unsettled (credit events)
export const C_WORDS = 41;

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
export let coldPtr: usize = 0;
export let linePtr: usize = 0;
export let segPtr: usize = 0;
export let chanPtr: usize = 0;
export let acctPtr: usize = 0;
export let acctCount: u32 = 0;
export let scratchPtr: usize = 0;

export function loadTables(): void {
  slotPtr = <usize>ctrl(C_SLOT_PTR);
  slotCount = ctrl(C_SLOT_COUNT);
  coldPtr = <usize>ctrl(C_COLD_PTR);
  linePtr = <usize>ctrl(C_LINE_PTR);
  segPtr = <usize>ctrl(C_SEG_PTR);
  chanPtr = <usize>ctrl(C_CHAN_PTR);
  acctPtr = <usize>ctrl(C_ACCT_PTR);
  acctCount = ctrl(C_ACCT_COUNT);
  scratchPtr = <usize>ctrl(C_SCRATCH_PTR);
}

/** Capacity (in records) of each table. Internal to the WASM side. */
let slotCap: u32 = 0;
let coldCap: u32 = 0;
let lineCap: u32 = 0;
let segCap: u32 = 0;
let chanCap: u32 = 0;
let acctCap: u32 = 0;
let scratchCap: u32 = 0;

/**
 * Resizes a table to `count` records: the first min(old, count) records are
 * kept, records up to `count` beyond the old count are zeroed. Tables are
 * 64-byte aligned (a record never straddles a cache line); a grown table moves.
 */
function resizeTable(ptrWord: i32, oldCount: u32, cap: u32, count: u32, size: usize): u32 {
  let ptr = <usize>ctrl(ptrWord);
  if (count > cap) {
    const newCap = max<u32>(count, cap << 1);
    const fresh = (heap.alloc(<usize>newCap * size + 64) + 63) & ~(<usize>63);
    if (oldCount > 0) memory.copy(fresh, ptr, <usize>min<u32>(oldCount, count) * size);
    ptr = fresh;
    cap = newCap;
    setCtrl(ptrWord, <u32>ptr);
  }
  if (count > oldCount) memory.fill(ptr + <usize>oldCount * size, 0, <usize>(count - oldCount) * size);
  return cap;
}

/** Slot records (hot and cold parts). */
export function resizeSlots(n: u32): void {
  const old = ctrl(C_SLOT_COUNT);
  slotCap = resizeTable(C_SLOT_PTR, old, slotCap, n, SLOT_SIZE);
  coldCap = resizeTable(C_COLD_PTR, old, coldCap, n, COLD_SIZE);
  setCtrl(C_SLOT_COUNT, n);
}
export function resizeLines(n: u32): void {
  lineCap = resizeTable(C_LINE_PTR, ctrl(C_LINE_COUNT), lineCap, n, LINE_SIZE);
  setCtrl(C_LINE_COUNT, n);
}
export function resizeSegments(n: u32): void {
  segCap = resizeTable(C_SEG_PTR, ctrl(C_SEG_COUNT), segCap, n, SEG_SIZE);
  setCtrl(C_SEG_COUNT, n);
}
export function resizeChannels(n: u32): void {
  chanCap = resizeTable(C_CHAN_PTR, ctrl(C_CHAN_COUNT), chanCap, n, 4);
  setCtrl(C_CHAN_COUNT, n);
}
export function resizeAccounts(n: u32): void {
  acctCap = resizeTable(C_ACCT_PTR, ctrl(C_ACCT_COUNT), acctCap, n, ACCT_SIZE);
  setCtrl(C_ACCT_COUNT, n);
}
/** Room for the remainders of the most lines any one slot has. */
export function resizeScratch(n: u32): void {
  scratchCap = resizeTable(C_SCRATCH_PTR, ctrl(C_SCRATCH_COUNT), scratchCap, n, 8);
  setCtrl(C_SCRATCH_COUNT, n);
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
