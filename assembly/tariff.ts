// Pricing one delta on the tariff lines of its slot: flat or split across
// time-of-use segments, remainder carried per line, amounts added to the
// payer accounts, credit limits checked. All of a delta or nothing: when an
// amount or an account total would leave i64 the delta's billing is undone.
import {
  A_LIMIT, A_OVER, A_UNSETTLED, ACCT_SIZE, acctPtr, chanPtr, EV_CREDIT_OVER, G_FROM, G_PRICE, G_TO, L_CHANNEL,
  L_LINE, L_PRICE, L_REM, L_SEGCOUNT, L_SEGSTART, LINE_SIZE, linePtr, S_LCOUNT, S_LSTART, scratchPtr, SEG_SIZE,
  segPtr,
} from './layout';
import { aAmount, aChannel, aCount, pushAccrual, pushEvent, truncateAccruals } from './output';
import { divlu, mulAddDivChecked, mul64, resHi, resLo, resRem } from './u128';

const MICRO: u64 = 1000000;
const I64_MAX: u64 = 0x7fffffffffffffff;

/** Some account of the delta being billed went above its limit (checked in full only then). */
let creditCrossed = false;

// @ts-ignore: decorator
@inline
function accountOf(channel: u32): usize {
  return acctPtr + <usize>load<u32>(chanPtr + (<usize>channel << 2)) * ACCT_SIZE;
}

/** Bills qty at price on a line: amount = (qty × price + remainder) / 10^6. False (nothing changed) on overflow. */
function piece(lp: usize, slot: u32, rec: u32, qty: u64, price: u64, fromMs: i64, toMs: i64): bool {
  if (qty == 0) return true;
  const rem = load<u64>(lp + L_REM);
  let amount: u64;
  let newRem: u64;
  if ((qty | price) >> 32 == 0) {
    // both below 2^32: the product and remainder fit u64 (fast path)
    const exact = qty * price + rem;
    amount = exact / MICRO;
    newRem = exact - amount * MICRO;
  } else {
    if (!mulAddDivChecked(qty, price, rem, MICRO)) return false;
    amount = resLo;
    newRem = resRem;
    if (amount > I64_MAX) return false;
  }
  const channel = load<u32>(lp + L_CHANNEL);
  const ap = accountOf(channel);
  const unsettled = load<u64>(ap + A_UNSETTLED);
  if (amount > I64_MAX - unsettled) return false;
  const total = unsettled + amount;
  store<u64>(ap + A_UNSETTLED, total);
  store<u64>(lp + L_REM, newRem);
  if (total > load<u64>(ap + A_LIMIT)) creditCrossed = true;
  pushAccrual(load<u32>(lp + L_LINE), slot, channel, rec, qty, amount, price, fromMs, toMs);
  return true;
}

/**
 * Splits qty over [fromMs, toMs) across the line's segments in proportion to
 * time: piece i gets floor(qty × t_1..i / T) − floor(qty × t_1..i-1 / T), so the
 * pieces sum exactly to qty. Outside every segment the line price applies.
 */
function timeOfUse(lp: usize, slot: u32, rec: u32, qty: u64, fromMs: i64, toMs: i64): bool {
  const first = load<u32>(lp + L_SEGSTART);
  const end = first + load<u32>(lp + L_SEGCOUNT);
  const linePrice = load<u64>(lp + L_PRICE);
  // first segment ending after fromMs
  let lo = first;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (load<i64>(segPtr + <usize>mid * SEG_SIZE + G_TO) <= fromMs) lo = mid + 1;
    else hi = mid;
  }
  let i = lo;
  const total = <u64>(toMs - fromMs);
  let cur = fromMs;
  let timeSoFar: u64 = 0;
  let qtySoFar: u64 = 0;
  while (cur < toMs) {
    let pieceEnd = toMs;
    let price = linePrice;
    if (i < end) {
      const gp = segPtr + <usize>i * SEG_SIZE;
      const segFrom = load<i64>(gp + G_FROM);
      if (segFrom <= cur) {
        pieceEnd = min<i64>(load<i64>(gp + G_TO), toMs);
        price = load<u64>(gp + G_PRICE);
        i++;
      } else {
        pieceEnd = min<i64>(segFrom, toMs);
      }
    }
    timeSoFar += <u64>(pieceEnd - cur);
    let through = qty;
    if (timeSoFar < total) {
      mul64(qty, timeSoFar);
      through = divlu(resHi, resLo, total); // < qty, so the high half is < total
    }
    if (!piece(lp, slot, rec, through - qtySoFar, price, cur, pieceEnd)) return false;
    qtySoFar = through;
    cur = pieceEnd;
  }
  return true;
}

/** Bills a delta on every line of the slot (ascending line index). False: overflow, nothing billed. */
export function billDelta(sp: usize, slot: u32, rec: u32, qty: u64, fromMs: i64, toMs: i64): bool {
  const count = <u32>load<u16>(sp + S_LCOUNT);
  if (count == 0) return true;
  const first = linePtr + <usize>load<u32>(sp + S_LSTART) * LINE_SIZE;
  const aStart = aCount;
  creditCrossed = false;
  let k: u32 = 0;
  let ok = true;
  for (; k < count; k++) {
    const lp = first + <usize>k * LINE_SIZE;
    store<u64>(scratchPtr + (<usize>k << 3), load<u64>(lp + L_REM));
    if (load<u32>(lp + L_SEGCOUNT) == 0) ok = piece(lp, slot, rec, qty, load<u64>(lp + L_PRICE), fromMs, toMs);
    else ok = timeOfUse(lp, slot, rec, qty, fromMs, toMs);
    if (!ok) break;
  }
  if (!ok) {
    for (let j: u32 = 0; j <= k; j++) store<u64>(first + <usize>j * LINE_SIZE + L_REM, load<u64>(scratchPtr + (<usize>j << 3)));
    for (let a = aStart; a < aCount; a++) {
      const ap = accountOf(load<u32>(aChannel + (<usize>a << 2)));
      store<u64>(ap + A_UNSETTLED, load<u64>(ap + A_UNSETTLED) - load<u64>(aAmount + (<usize>a << 3)));
    }
    truncateAccruals(aStart);
    return false;
  }
  if (creditCrossed) {
    for (let a = aStart; a < aCount; a++) {
      const channel = load<u32>(aChannel + (<usize>a << 2));
      const account = load<u32>(chanPtr + (<usize>channel << 2));
      const ap = acctPtr + <usize>account * ACCT_SIZE;
      if (load<u32>(ap + A_OVER) != 0) continue;
      const unsettled = load<u64>(ap + A_UNSETTLED);
      if (unsettled > load<u64>(ap + A_LIMIT)) {
        store<u32>(ap + A_OVER, 1);
        pushEvent(EV_CREDIT_OVER, slot, account, rec, unsettled);
      }
    }
  }
  return true;
}
