/**
 * Exact engineering values: value = raw × scale + offset (docs/architecture.md §3).
 *
 * `scale` and `offset` are decimal strings with at most 6 fraction digits, so
 * everything is computed in bigint micro-units (10^-6) and never in floats:
 *  - integer raws give an exact decimal string with as many fraction digits as
 *    the point's scale/offset need ("0.1" -> one digit: 1234 -> "123.4");
 *  - float raws are first written as their shortest round-trip decimal (the
 *    float32 123.456 is "123.456", not 123.45600128…), then multiplied exactly
 *    and rounded once, half-even, to micro-units; the string keeps up to 6
 *    fraction digits with trailing zeros dropped.
 */
import { QTY_FRAC, formatDecimal, parseDecimal } from '../base/decimal';

/** An exact decimal: n × 10^-frac (frac >= 0). */
export interface ExactDecimal {
  n: bigint;
  frac: number;
}

const NUMBER_RE = /^([+-])?(\d+)?(?:\.(\d*))?(?:e([+-]?\d+))?$/i;

/** Parse "12.5", "-0.001", "1e-7", "1.5E+21" exactly. Returns null when it is not a number. */
export function parseExact(text: string): ExactDecimal | null {
  const m = NUMBER_RE.exec(text.trim());
  if (!m || (m[2] === undefined && !m[3])) return null;
  const intPart = m[2] ?? '';
  const fracPart = m[3] ?? '';
  const exp = m[4] === undefined ? 0 : Number(m[4]);
  let n = BigInt(intPart + fracPart || '0');
  let frac = fracPart.length - exp;
  if (frac < 0) {
    n *= 10n ** BigInt(-frac);
    frac = 0;
  }
  return { n: m[1] === '-' ? -n : n, frac };
}

/** Same value with `frac` fraction digits (frac >= d.frac). */
export function widen(d: ExactDecimal, frac: number): bigint {
  return d.n * 10n ** BigInt(frac - d.frac);
}

/** Drop trailing fraction zeros: {1500, 3} -> {15, 1}. */
export function normalize(d: ExactDecimal): ExactDecimal {
  let { n, frac } = d;
  while (frac > 0 && n % 10n === 0n) {
    n /= 10n;
    frac -= 1;
  }
  return { n, frac };
}

export function sameValue(a: ExactDecimal, b: ExactDecimal): boolean {
  const f = Math.max(a.frac, b.frac);
  return widen(a, f) === widen(b, f);
}

/** Fraction digits a decimal string needs ("0.10" -> 1, "5" -> 0). */
export function significantFrac(s: string): number {
  const d = parseExact(s);
  return d === null ? 0 : normalize(d).frac;
}

/** a / b rounded half to even (b > 0). */
export function divRoundHalfEven(a: bigint, b: bigint): bigint {
  let q = a / b;
  let r = a % b;
  if (r < 0n) {
    q -= 1n;
    r += b;
  }
  const twice = 2n * r;
  if (twice > b || (twice === b && (q & 1n) === 1n)) q += 1n;
  return q;
}

/** Scale and offset of a point in micro-units. */
export function scaleMicro(scale: string): bigint {
  return parseDecimal(scale, QTY_FRAC);
}

/** Engineering value of an integer raw, exact, with the fraction digits scale and offset need. */
export function integerValue(raw: bigint, scale: string, offset: string): string {
  const micro = raw * scaleMicro(scale) + scaleMicro(offset);
  const frac = Math.max(significantFrac(scale), significantFrac(offset));
  return formatDecimal(micro / 10n ** BigInt(QTY_FRAC - frac), frac);
}

/** Shortest decimal string that reads back as the same float32 (for float64, JS's own shortest form). */
export function shortestFloat(x: number, bits: 32 | 64): string {
  if (bits === 64 || !Number.isFinite(x)) return String(x);
  for (let p = 1; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return s;
  }
  return String(x);
}

/** Engineering value of a float raw in micro-units, rounded once, half-even. */
export function floatMicro(shortest: string, scale: string, offset: string): bigint {
  const d = parseExact(shortest);
  if (d === null) throw new Error(`not a finite number: ${shortest}`);
  const scaled = divRoundHalfEven(d.n * scaleMicro(scale), 10n ** BigInt(d.frac));
  return scaled + scaleMicro(offset);
}

/** Micro-units as a decimal string with up to 6 fraction digits ("123.4", "7"). */
export function formatMicroTrimmed(micro: bigint): string {
  const d = normalize({ n: micro, frac: QTY_FRAC });
  return formatDecimal(d.n, d.frac);
}
