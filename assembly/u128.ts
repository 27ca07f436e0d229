// Exact 128-bit unsigned arithmetic on two u64 halves (hi:lo), carries explicit,
// in the manner of MaxGraey/as-bignum's u128. Results are returned through the
// globals below (AssemblyScript has no multi-value returns), which keeps the hot
// path free of allocations. "Checked" helpers return false instead of wrapping.

const MASK32: u64 = 0xffffffff;

/** High and low halves of the last 128-bit result. */
export let resHi: u64 = 0;
export let resLo: u64 = 0;
/** Remainder of the last division. */
export let resRem: u64 = 0;

/** resHi:resLo = a × b (exact, never overflows: the full product fits 128 bits). */
// @ts-ignore: decorator
@inline
export function mul64(a: u64, b: u64): void {
  const a0 = a & MASK32;
  const a1 = a >> 32;
  const b0 = b & MASK32;
  const b1 = b >> 32;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  // middle column: at most 3 × (2^32 - 1), no overflow
  const mid = (p00 >> 32) + (p01 & MASK32) + (p10 & MASK32);
  resLo = (mid << 32) | (p00 & MASK32);
  resHi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

/** resHi:resLo = (hi:lo) + b; returns false (result undefined) when the sum leaves 128 bits. */
// @ts-ignore: decorator
@inline
export function add64(hi: u64, lo: u64, b: u64): bool {
  const l = lo + b;
  const carry: u64 = l < lo ? 1 : 0;
  resLo = l;
  resHi = hi + carry;
  return !(carry != 0 && resHi == 0);
}

/** (aHi:aLo) <= (bHi:bLo), unsigned. */
// @ts-ignore: decorator
@inline
export function le128(aHi: u64, aLo: u64, bHi: u64, bLo: u64): bool {
  return aHi < bHi || (aHi == bHi && aLo <= bLo);
}

/**
 * Divides (u1:u0) by v where u1 < v (so the quotient fits 64 bits); returns the
 * quotient, remainder in resRem. Knuth's algorithm D on 32-bit digits, as in
 * Hacker's Delight `divlu`. v must be non-zero.
 */
export function divlu(u1: u64, u0: u64, v: u64): u64 {
  const b: u64 = 0x100000000;
  const s = clz<u64>(v); // normalise: top bit of v set
  v = v << s;
  const vn1 = v >> 32;
  const vn0 = v & MASK32;
  // (s == 0) would shift u0 by 64, which WebAssembly takes modulo 64
  const un32 = s == 0 ? u1 : (u1 << s) | (u0 >> (64 - s));
  const un10 = u0 << s;
  const un1 = un10 >> 32;
  const un0 = un10 & MASK32;

  let q1 = un32 / vn1;
  let rhat = un32 - q1 * vn1;
  while (q1 >= b || q1 * vn0 > b * rhat + un1) {
    q1 -= 1;
    rhat += vn1;
    if (rhat >= b) break;
  }
  const un21 = un32 * b + un1 - q1 * v; // exact modulo 2^64; the true value is < v

  let q0 = un21 / vn1;
  rhat = un21 - q0 * vn1;
  while (q0 >= b || q0 * vn0 > b * rhat + un0) {
    q0 -= 1;
    rhat += vn1;
    if (rhat >= b) break;
  }
  resRem = (un21 * b + un0 - q0 * v) >> s;
  return q1 * b + q0;
}

/** resHi:resLo = (hi:lo) / d, resRem = (hi:lo) % d; full 128-bit quotient. d must be non-zero. */
export function divmod128(hi: u64, lo: u64, d: u64): void {
  if (hi == 0) {
    const q = lo / d;
    resRem = lo - q * d;
    resHi = 0;
    resLo = q;
    return;
  }
  const qHi = hi / d;
  const qLo = divlu(hi - qHi * d, lo, d);
  resHi = qHi;
  resLo = qLo;
}

/**
 * Checked `floor((a × b + c) / d)` that must fit u64: returns false on
 * overflow (nothing written), else true with the quotient in resLo and the
 * remainder in resRem. d must be non-zero.
 */
export function mulAddDivChecked(a: u64, b: u64, c: u64, d: u64): bool {
  mul64(a, b);
  if (!add64(resHi, resLo, c)) return false;
  const hi = resHi;
  const lo = resLo;
  if (hi == 0) {
    const q = lo / d;
    resRem = lo - q * d;
    resLo = q;
    return true;
  }
  if (hi >= d) return false; // quotient >= 2^64
  resLo = divlu(hi, lo, d);
  return true;
}
