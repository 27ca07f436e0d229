// Test-only entry, compiled to build/core-test.wasm by `npm run build:core-test`
// (never shipped): the memory layout constants of layout.ts as exported globals
// (test/unit/core-layout.test.ts compares them with gateway/core/wasm-layout.ts)
// and probes of the 128-bit arithmetic (test/unit/core-u128.test.ts).
import { divmod128, mul64, mulAddDivChecked, resHi, resLo, resRem } from './u128';

export * from './layout';

/** Low half of a × b; high half via u128Hi(). */
export function u128Mul(a: u64, b: u64): u64 {
  mul64(a, b);
  return resLo;
}
/** Low half of (hi:lo) / d; high half via u128Hi(), remainder via u128Rem(). d = 0 returns 0. */
export function u128DivMod(hi: u64, lo: u64, d: u64): u64 {
  if (d == 0) return 0;
  divmod128(hi, lo, d);
  return resLo;
}
/** floor((a × b + c) / d) if it fits u64 (remainder via u128Rem()), else u128Overflow() is 1. */
export function u128MulAddDiv(a: u64, b: u64, c: u64, d: u64): u64 {
  overflowFlag = d == 0 || !mulAddDivChecked(a, b, c, d);
  return overflowFlag ? 0 : resLo;
}
let overflowFlag = false;
export function u128Overflow(): i32 {
  return overflowFlag ? 1 : 0;
}
export function u128Hi(): u64 {
  return resHi;
}
export function u128Rem(): u64 {
  return resRem;
}
