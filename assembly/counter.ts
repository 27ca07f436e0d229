// One reading of one counter slot: validity, baseline, duplicates, rollover vs
// reset, held jumps and their confirmation, then the delta and its billing.
// Mirrors gateway/core/reference.ts step by step (see its header).
import {
  COLD_SIZE, coldPtr, EV_BASELINE, EV_CONFIRMED, EV_HELD, EV_IGNORED, EV_OVERFLOW, EV_RESET, EV_ROLLOVER,
  EV_UNKNOWN_SLOT, F_BASELINE, F_CONFIGURED, F_HELD, F_RATE, K_HELD, K_HELDTS, K_MAXRATE, S_FLAGS, S_LAST,
  S_LASTTS, S_MPC, S_WIDTH, SLOT_SIZE, slotCount, slotPtr,
} from './layout';
import { pushDelta, pushEvent } from './output';
import { billDelta } from './tariff';
import { divmod128, le128, mul64, resHi, resLo } from './u128';

const I64_MAX: u64 = 0x7fffffffffffffff;
const MAX_SAFE: f64 = 9007199254740991.0;

const NORMAL: i32 = 0;
const ROLLOVER: i32 = 1;
const RESET: i32 = 2;

/** Raw delta of the last step(). */
let stepDelta: u64 = 0;

/** How the counter moved from last to raw: NORMAL / ROLLOVER / RESET, raw delta in stepDelta. */
// @ts-ignore: decorator
@inline
function step(last: u64, raw: u64, width: u32): i32 {
  if (raw >= last) {
    stepDelta = raw - last;
    return NORMAL;
  }
  if (width != 0) {
    const mask: u64 = width == 64 ? <u64>-1 : (<u64>1 << width) - 1;
    const wrapped = (raw - last) & mask; // raw + 2^W - last
    if (wrapped < <u64>1 << (width - 1)) {
      stepDelta = wrapped;
      return ROLLOVER;
    }
  }
  stepDelta = 0; // a reset: raw is the new baseline and bills nothing (docs/architecture.md §3)
  return RESET;
}

/**
 * rawDelta × microPerCount × 1000 <= maxRate × dtMs, exactly, for a slot with a
 * rate limit (no limit: always within, checked by the caller via F_RATE).
 */
function withinRate(rawDelta: u64, mpc: u64, cold: usize, dtMs: i64): bool {
  mul64(rawDelta, mpc);
  const qHi = resHi;
  const qLo = resLo;
  mul64(load<u64>(cold + K_MAXRATE), <u64>dtMs);
  const lHi = resHi;
  const lLo = resLo;
  if (qHi == 0) {
    mul64(qLo, 1000);
    return le128(resHi, resLo, lHi, lLo);
  }
  // qty >= 2^64: compare qty <= floor(maxRate × dt / 1000) instead (qty × 1000 may not fit 128 bits)
  divmod128(lHi, lLo, 1000);
  return le128(qHi, qLo, resHi, resLo);
}

// @ts-ignore: decorator
@inline
function stepEvent(kind: i32): u32 {
  return kind == ROLLOVER ? EV_ROLLOVER : EV_RESET;
}

/** Records the delta and bills it; 'overflow' when qty or an amount leaves i64. */
function meter(sp: usize, slot: u32, rec: u32, raw: u64, rawDelta: u64, carry: bool, mpc: u64, fromMs: i64, toMs: i64): void {
  if (carry) {
    pushEvent(EV_OVERFLOW, slot, 0, rec, raw);
    return;
  }
  let qty: u64;
  if ((rawDelta | mpc) >> 32 == 0) {
    qty = rawDelta * mpc; // both below 2^32: fits u64, and i64 unless >= 2^63
  } else {
    mul64(rawDelta, mpc);
    if (resHi != 0) {
      pushEvent(EV_OVERFLOW, slot, 0, rec, raw);
      return;
    }
    qty = resLo;
  }
  if (qty > I64_MAX) {
    pushEvent(EV_OVERFLOW, slot, 0, rec, raw);
    return;
  }
  pushDelta(slot, rec, qty, fromMs, toMs);
  if (!billDelta(sp, slot, rec, qty, fromMs, toMs)) pushEvent(EV_OVERFLOW, slot, 0, rec, raw);
}

/** Meters reading `rec` of the batch. `badRaw`: the JS side found the raw value out of range. */
export function meterReading(rec: u32, slot: u32, raw: u64, tsF: f64, badRaw: bool): void {
  if (slot >= slotCount) {
    pushEvent(EV_UNKNOWN_SLOT, slot, 0, rec, raw);
    return;
  }
  const sp = slotPtr + <usize>slot * SLOT_SIZE;
  let flags = <u32>load<u8>(sp + S_FLAGS);
  if (!(flags & F_CONFIGURED)) {
    pushEvent(EV_UNKNOWN_SLOT, slot, 0, rec, raw);
    return;
  }
  const width = <u32>load<u8>(sp + S_WIDTH);
  const rawOk = width == 64 || (width == 0 ? raw >> 63 == 0 : raw >> width == 0);
  if (badRaw || !rawOk || !(tsF >= -MAX_SAFE && tsF <= MAX_SAFE && floor<f64>(tsF) == tsF)) {
    pushEvent(EV_IGNORED, slot, 0, rec, raw);
    return;
  }
  const ts = <i64>tsF;
  if (!(flags & F_BASELINE)) {
    store<u8>(sp + S_FLAGS, <u8>((flags | F_BASELINE) & ~F_HELD));
    store<u64>(sp + S_LAST, raw);
    store<i64>(sp + S_LASTTS, ts);
    pushEvent(EV_BASELINE, slot, 0, rec, raw);
    return;
  }
  const mpc = load<u64>(sp + S_MPC);
  const last = load<u64>(sp + S_LAST);
  const lastTs = load<i64>(sp + S_LASTTS);
  const cold = coldPtr + <usize>slot * COLD_SIZE;

  if (flags & F_HELD) {
    const heldTs = load<i64>(cold + K_HELDTS);
    if (ts <= heldTs) {
      pushEvent(EV_IGNORED, slot, 0, rec, raw);
      return;
    }
    const held = load<u64>(cold + K_HELD);
    const fromHeld = step(held, raw, width);
    const d2 = stepDelta;
    if (fromHeld != RESET && ((flags & F_RATE) == 0 || withinRate(d2, mpc, cold, ts - heldTs))) {
      const toHeld = step(last, held, width);
      const d1 = stepDelta;
      pushEvent(EV_CONFIRMED, slot, 0, rec, raw);
      if (toHeld != NORMAL) pushEvent(stepEvent(toHeld), slot, 0, rec, raw);
      if (fromHeld != NORMAL) pushEvent(stepEvent(fromHeld), slot, 0, rec, raw);
      store<u8>(sp + S_FLAGS, <u8>(flags & ~F_HELD));
      store<u64>(sp + S_LAST, raw);
      store<i64>(sp + S_LASTTS, ts);
      const sum = d1 + d2;
      meter(sp, slot, rec, raw, sum, sum < d1, mpc, lastTs, ts);
      return;
    }
    // the held value was a glitch: forget it, meter this reading against last
    flags &= ~F_HELD;
    store<u8>(sp + S_FLAGS, <u8>flags);
  } else if (ts <= lastTs) {
    pushEvent(EV_IGNORED, slot, 0, rec, raw);
    return;
  }

  const kind = step(last, raw, width);
  const d = stepDelta;
  if ((flags & F_RATE) != 0 && !withinRate(d, mpc, cold, ts - lastTs)) {
    store<u8>(sp + S_FLAGS, <u8>(flags | F_HELD));
    store<u64>(cold + K_HELD, raw);
    store<i64>(cold + K_HELDTS, ts);
    pushEvent(EV_HELD, slot, 0, rec, raw);
    return;
  }
  if (kind != NORMAL) pushEvent(stepEvent(kind), slot, 0, rec, raw);
  store<u64>(sp + S_LAST, raw);
  store<i64>(sp + S_LASTTS, ts);
  meter(sp, slot, rec, raw, d, false, mpc, lastTs, ts);
}
