// Pricing one delta on the tariff lines of its slot: flat or split across
// time-of-use segments, remainder carried per line, amounts added to the
// payer accounts, credit limits checked. All of a delta or nothing: when an
// amount or an account total would leave i64 the delta's billing is undone.
import {
  A_LIMIT, A_OVER, A_UNSETTLED, ACCT_SIZE, acctPtr, EV_CREDIT_OVER, G_FROM, G_PRICE, G_TO, L_ACCOUNT, L_CHANNEL,
  L_PRICE, L_REM, L_SAVED, L_SEGCOUNT, L_SEGSTART, LINE_SIZE, lidxPtr, linePtr, S_LCOUNT, S_LSTART, SEG_SIZE, segPtr,
} from './layout';
import { aAmount, aCount, aLine, pushAccrual, pushEvent, truncateAccruals } from './output';
import { divlu, mulAddDivChecked, mul64, resHi, resLo, resRem } from './u128';

const MICRO: u64 = 1000000;
const I64_MAX: u64 = 0x7fffffffffffffff;

/** Bills qty at price on a line: amount = (qty × price + remainder) / 10^6. False (nothing changed) on overflow. */
function piece(lp: usize, line: u32, slot: u32, rec: u32, qty: u64, price: u64, fromMs: i64, toMs: i64): bool {
  if (qty == 0) return true;
  if (!mulAddDivChecked(qty, price, load<u64>(lp + L_REM), MICRO)) return false;
  const amount = resLo;
  if (amount > I64_MAX) return false;
  const ap = acctPtr + <usize>load<u32>(lp + L_ACCOUNT) * ACCT_SIZE;
  const unsettled = load<u64>(ap + A_UNSETTLED);
  if (amount > I64_MAX - unsettled) return false;
  store<u64>(ap + A_UNSETTLED, unsettled + amount);
  store<u64>(lp + L_REM, resRem);
  pushAccrual(line, slot, load<u32>(lp + L_CHANNEL), rec, qty, amount, price, fromMs, toMs);
  return true;
}

/**
 * Splits qty over [fromMs, toMs) across the line's segments in proportion to
 * time: piece i gets floor(qty × t_1..i / T) − floor(qty × t_1..i-1 / T), so the
 * pieces sum exactly to qty. Outside every segment the line price applies.
 */
function timeOfUse(lp: usize, line: u32, slot: u32, rec: u32, qty: u64, fromMs: i64, toMs: i64): bool {
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
    if (!piece(lp, line, slot, rec, through - qtySoFar, price, cur, pieceEnd)) return false;
    qtySoFar = through;
    cur = pieceEnd;
  }
  return true;
}

/** Bills a delta on every line of the slot (ascending line index). False: overflow, nothing billed. */
export function billDelta(sp: usize, slot: u32, rec: u32, qty: u64, fromMs: i64, toMs: i64): bool {
  const count = load<u32>(sp + S_LCOUNT);
  if (count == 0) return true;
  const first = load<u32>(sp + S_LSTART);
  const aStart = aCount;
  let k: u32 = 0;
  let ok = true;
  for (; k < count; k++) {
    const line = load<u32>(lidxPtr + (<usize>(first + k) << 2));
    const lp = linePtr + <usize>line * LINE_SIZE;
    store<u64>(lp + L_SAVED, load<u64>(lp + L_REM));
    if (load<u32>(lp + L_SEGCOUNT) == 0) ok = piece(lp, line, slot, rec, qty, load<u64>(lp + L_PRICE), fromMs, toMs);
    else ok = timeOfUse(lp, line, slot, rec, qty, fromMs, toMs);
    if (!ok) break;
  }
  if (!ok) {
    for (let j: u32 = 0; j <= k; j++) {
      const lp = linePtr + <usize>load<u32>(lidxPtr + (<usize>(first + j) << 2)) * LINE_SIZE;
      store<u64>(lp + L_REM, load<u64>(lp + L_SAVED));
    }
    for (let a = aStart; a < aCount; a++) {
      const lp = linePtr + <usize>load<u32>(aLine + (<usize>a << 2)) * LINE_SIZE;
      const ap = acctPtr + <usize>load<u32>(lp + L_ACCOUNT) * ACCT_SIZE;
      store<u64>(ap + A_UNSETTLED, load<u64>(ap + A_UNSETTLED) - load<u64>(aAmount + (<usize>a << 3)));
    }
    truncateAccruals(aStart);
    return false;
  }
  for (let a = aStart; a < aCount; a++) {
    const account = load<u32>(linePtr + <usize>load<u32>(aLine + (<usize>a << 2)) * LINE_SIZE + L_ACCOUNT);
    const ap = acctPtr + <usize>account * ACCT_SIZE;
    if (load<u32>(ap + A_OVER) != 0) continue;
    const unsettled = load<u64>(ap + A_UNSETTLED);
    if (unsettled > load<u64>(ap + A_LIMIT)) {
      store<u32>(ap + A_OVER, 1);
      pushEvent(EV_CREDIT_OVER, slot, account, rec, unsettled);
    }
  }
  return true;
}
