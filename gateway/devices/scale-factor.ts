/**
 * SunSpec-style scale factors: a point whose value register(s) are followed,
 * `scaleFactorOffset` registers after its address, by an int16 power of ten
 * (SunSpec type `sunssf`). The planner reads the whole span in one request
 * (pointWidth covers it), so value and scale factor always come from the
 * same answer.
 *
 *   value = raw × scale × 10^sf + offset        (exact decimal string)
 *
 * The number of fraction digits follows the point's scale/offset and the
 * scale factor (raw 2301, sf -1 -> "230.1"; raw 2300 -> "230.0"), like
 * integer points without a scale factor.
 *
 * SunSpec "not implemented" values fail the point (never a value): a scale
 * factor of 0x8000, and a value of 0x8000 (int16), 0xFFFF (uint16) or
 * 0x80000000 (int32). Scale factors outside -10..10 (SunSpec's range) fail
 * the point too. Unsigned 32/64-bit values are taken as they are: they carry
 * SunSpec accumulators (acc32/acc64), whose "not accumulated" 0 is also a
 * meter's legitimate first count.
 *
 * Counters: the scale factor may change between readings (a meter switching
 * resolution), so the core gets the engineering value in micro-units (width
 * 0, like float counters), rounded half-even once when it has more than six
 * fraction digits; see counterWidth / microPerCount in decode.ts.
 */
import { QTY_FRAC, formatDecimal } from '../base/decimal';
import { DecodeError } from './errors';
import { valueWidth, type ResolvedPoint } from './point';
import { isIntegerType, reorderWords, wordsToInteger } from './registers';
import { divRoundHalfEven, scaleMicro, significantFrac } from './scaling';

/** SunSpec's range for sunssf. */
export const SCALE_FACTOR_MIN = -10;
export const SCALE_FACTOR_MAX = 10;
/** Largest span value + scale factor (one Modbus read). */
export const MAX_SCALE_FACTOR_OFFSET = 124;

const NOT_IMPLEMENTED: Partial<Record<ResolvedPoint['type'], { raw: bigint; text: string }>> = {
  int16: { raw: -0x8000n, text: '0x8000' },
  uint16: { raw: 0xffffn, text: '0xFFFF' },
  int32: { raw: -0x80000000n, text: '0x80000000' },
};

export interface ScaledValue {
  raw: bigint;
  /** The scale factor read with the value (power of ten). */
  scaleFactor: number;
  value: string;
  /** The engineering value in micro-units (what a counter hands the core). */
  micro: bigint;
}

/** The int16 scale factor of a point from the words of its span (address order). */
export function readScaleFactor(point: ResolvedPoint, words: readonly number[]): number {
  const at = point.scaleFactorOffset;
  if (at === undefined) throw new DecodeError(point.name, 'has no scale factor register');
  const w = words[at];
  if (w === undefined) throw new DecodeError(point.name, `scale factor register +${at} was not read`);
  const sf = w >= 0x8000 ? w - 0x10000 : w;
  if (sf === -0x8000) throw new DecodeError(point.name, 'scale factor not implemented (0x8000)');
  if (sf < SCALE_FACTOR_MIN || sf > SCALE_FACTOR_MAX) {
    throw new DecodeError(point.name, `scale factor ${sf} outside ${SCALE_FACTOR_MIN}..${SCALE_FACTOR_MAX}`);
  }
  return sf;
}

/** Decode a scale-factor point from the words of its whole span (address order). */
export function decodeScaled(point: ResolvedPoint, words: readonly number[]): ScaledValue {
  const t = point.type;
  if (!isIntegerType(t)) throw new DecodeError(point.name, `a scale factor applies to integer types, not ${t}`);
  const sf = readScaleFactor(point, words);
  const raw = wordsToInteger(reorderWords(words.slice(0, valueWidth(point)), point.wordOrder), t);
  const absent = NOT_IMPLEMENTED[t];
  if (absent?.raw === raw) throw new DecodeError(point.name, `value not implemented (SunSpec ${t} ${absent.text})`);
  // Work at QTY_FRAC + k fraction digits, k = digits the negative power adds: everything is an integer there.
  const k = Math.max(0, -sf);
  const exact = raw * scaleMicro(point.scale) * 10n ** BigInt(sf + k) + scaleMicro(point.offset) * 10n ** BigInt(k);
  const frac = Math.max(significantFrac(point.scale) + k, significantFrac(point.offset));
  // frac <= QTY_FRAC + k, and no digit beyond `frac` is non-zero: this division is exact.
  const shown = exact / 10n ** BigInt(QTY_FRAC + k - frac);
  return {
    raw,
    scaleFactor: sf,
    value: formatDecimal(shown, frac),
    micro: divRoundHalfEven(exact, 10n ** BigInt(k)),
  };
}
