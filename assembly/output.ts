// Output columns of a batch (structure of arrays): deltas, accruals, events.
// They grow geometrically inside a batch when full; the JS side re-reads the
// pointers from the control block after every call.
import {
  C_A_AMOUNT, C_A_CHANNEL, C_A_COUNT, C_A_FROM, C_A_LINE, C_A_PRICE, C_A_QTY, C_A_REC, C_A_SLOT, C_A_TO,
  C_D_COUNT, C_D_FROM, C_D_QTY, C_D_REC, C_D_SLOT, C_D_TO,
  C_E_ACCOUNT, C_E_COUNT, C_E_KIND, C_E_REC, C_E_SLOT, C_E_VALUE, setCtrl,
} from './layout';

let dCap: u32 = 0;
export let dCount: u32 = 0;
let dSlot: usize = 0;
let dRec: usize = 0;
let dQty: usize = 0;
let dFrom: usize = 0;
let dTo: usize = 0;

let aCap: u32 = 0;
export let aCount: u32 = 0;
let aLine: usize = 0;
let aSlot: usize = 0;
export let aChannel: usize = 0;
let aRec: usize = 0;
let aQty: usize = 0;
export let aAmount: usize = 0;
let aPrice: usize = 0;
let aFrom: usize = 0;
let aTo: usize = 0;

let eCap: u32 = 0;
export let eCount: u32 = 0;
let eKind: usize = 0;
let eSlot: usize = 0;
let eAccount: usize = 0;
let eRec: usize = 0;
let eValue: usize = 0;

/** A column of `cap` elements of 1 << shift bytes, its first `used` elements copied from `old`. */
function column(old: usize, used: u32, cap: u32, shift: u32): usize {
  const ptr = heap.alloc(<usize>cap << shift);
  if (used > 0) memory.copy(ptr, old, <usize>used << shift);
  return ptr;
}

function growDeltas(): void {
  const cap = max<u32>(1024, dCap << 1);
  dSlot = column(dSlot, dCount, cap, 2);
  dRec = column(dRec, dCount, cap, 2);
  dQty = column(dQty, dCount, cap, 3);
  dFrom = column(dFrom, dCount, cap, 3);
  dTo = column(dTo, dCount, cap, 3);
  dCap = cap;
}

function growAccruals(): void {
  const cap = max<u32>(1024, aCap << 1);
  aLine = column(aLine, aCount, cap, 2);
  aSlot = column(aSlot, aCount, cap, 2);
  aChannel = column(aChannel, aCount, cap, 2);
  aRec = column(aRec, aCount, cap, 2);
  aQty = column(aQty, aCount, cap, 3);
  aAmount = column(aAmount, aCount, cap, 3);
  aPrice = column(aPrice, aCount, cap, 3);
  aFrom = column(aFrom, aCount, cap, 3);
  aTo = column(aTo, aCount, cap, 3);
  aCap = cap;
}

function growEvents(): void {
  const cap = max<u32>(256, eCap << 1);
  eKind = column(eKind, eCount, cap, 2);
  eSlot = column(eSlot, eCount, cap, 2);
  eAccount = column(eAccount, eCount, cap, 2);
  eRec = column(eRec, eCount, cap, 2);
  eValue = column(eValue, eCount, cap, 3);
  eCap = cap;
}

export function beginOutput(): void {
  dCount = 0;
  aCount = 0;
  eCount = 0;
}

/** Drops the accruals from index `from` on (a delta whose billing overflowed). */
export function truncateAccruals(from: u32): void {
  aCount = from;
}

export function pushDelta(slot: u32, rec: u32, qty: u64, fromMs: i64, toMs: i64): void {
  if (dCount == dCap) growDeltas();
  const i = <usize>dCount;
  store<u32>(dSlot + (i << 2), slot);
  store<u32>(dRec + (i << 2), rec);
  store<u64>(dQty + (i << 3), qty);
  store<f64>(dFrom + (i << 3), <f64>fromMs);
  store<f64>(dTo + (i << 3), <f64>toMs);
  dCount++;
}

export function pushAccrual(line: u32, slot: u32, channel: u32, rec: u32, qty: u64, amount: u64, price: u64, fromMs: i64, toMs: i64): void {
  if (aCount == aCap) growAccruals();
  const i = <usize>aCount;
  store<u32>(aLine + (i << 2), line);
  store<u32>(aSlot + (i << 2), slot);
  store<u32>(aChannel + (i << 2), channel);
  store<u32>(aRec + (i << 2), rec);
  store<u64>(aQty + (i << 3), qty);
  store<u64>(aAmount + (i << 3), amount);
  store<u64>(aPrice + (i << 3), price);
  store<f64>(aFrom + (i << 3), <f64>fromMs);
  store<f64>(aTo + (i << 3), <f64>toMs);
  aCount++;
}

export function pushEvent(kind: u32, slot: u32, account: u32, rec: u32, value: u64): void {
  if (eCount == eCap) growEvents();
  const i = <usize>eCount;
  store<u32>(eKind + (i << 2), kind);
  store<u32>(eSlot + (i << 2), slot);
  store<u32>(eAccount + (i << 2), account);
  store<u32>(eRec + (i << 2), rec);
  store<u64>(eValue + (i << 3), value);
  eCount++;
}

/** Publishes counts and (possibly moved) column pointers to the control block. */
export function publishOutput(): void {
  setCtrl(C_D_COUNT, dCount);
  setCtrl(C_D_SLOT, <u32>dSlot);
  setCtrl(C_D_REC, <u32>dRec);
  setCtrl(C_D_QTY, <u32>dQty);
  setCtrl(C_D_FROM, <u32>dFrom);
  setCtrl(C_D_TO, <u32>dTo);
  setCtrl(C_A_COUNT, aCount);
  setCtrl(C_A_LINE, <u32>aLine);
  setCtrl(C_A_SLOT, <u32>aSlot);
  setCtrl(C_A_CHANNEL, <u32>aChannel);
  setCtrl(C_A_REC, <u32>aRec);
  setCtrl(C_A_QTY, <u32>aQty);
  setCtrl(C_A_AMOUNT, <u32>aAmount);
  setCtrl(C_A_PRICE, <u32>aPrice);
  setCtrl(C_A_FROM, <u32>aFrom);
  setCtrl(C_A_TO, <u32>aTo);
  setCtrl(C_E_COUNT, eCount);
  setCtrl(C_E_KIND, <u32>eKind);
  setCtrl(C_E_SLOT, <u32>eSlot);
  setCtrl(C_E_ACCOUNT, <u32>eAccount);
  setCtrl(C_E_REC, <u32>eRec);
  setCtrl(C_E_VALUE, <u32>eValue);
}
