/**
 * Encoding for writes: an engineering value -> the registers (or coil state)
 * that make the device hold it. The inverse of decode.ts:
 *   raw = (value − offset) / scale, exactly, then laid out in the point's word order.
 * Rejections are coded and name the point:
 *  - GW_ERR_ENCODE_VALUE   not a number / boolean / latin1 string of the right length;
 *  - GW_ERR_ENCODE_RANGE   raw outside the type (e.g. 70000 for uint16, 1e39 for float32);
 *  - GW_ERR_ENCODE_INEXACT the point cannot hold it exactly: (value − offset) not a
 *                          multiple of scale, or a float that would read back differently
 *                          (checked by decoding the encoded words: what we write is what
 *                          the read-back must show).
 * Numbers given as JS numbers are taken at their shortest decimal form (0.1 is "0.1").
 */
import { decodePoint } from './decode';
import { EncodeInexactError, EncodeRangeError, EncodeValueError } from './errors';
import type { ResolvedPoint } from './point';
import {
  floatToWords,
  integerRange,
  integerToWords,
  isFloatType,
  isIntegerType,
  reorderStringWords,
  reorderWords,
  bytesToWords,
} from './registers';
import { parseExact, sameValue, widen, type ExactDecimal } from './scaling';

export type WriteValue = string | number | boolean;

function toBoolean(point: ResolvedPoint, value: WriteValue): boolean {
  if (typeof value === 'boolean') return value;
  const s = String(value).trim().toLowerCase();
  if (s === '1' || s === 'true' || s === 'on') return true;
  if (s === '0' || s === 'false' || s === 'off') return false;
  throw new EncodeValueError(point.name, `expected a boolean, got ${JSON.stringify(value)}`);
}

function toExact(point: ResolvedPoint, value: WriteValue): ExactDecimal {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new EncodeValueError(point.name, `expected a finite number, got ${value}`);
  }
  const d = typeof value === 'boolean' ? null : parseExact(String(value));
  if (d === null) throw new EncodeValueError(point.name, `expected a number, got ${JSON.stringify(value)}`);
  return d;
}

/** (value − offset) and scale over a common denominator. */
function unscale(point: ResolvedPoint, v: ExactDecimal): { num: bigint; den: bigint } {
  const scale = parseExact(point.scale);
  const offset = parseExact(point.offset);
  if (scale === null || offset === null) throw new EncodeValueError(point.name, 'scale/offset are not decimals');
  const f = Math.max(v.frac, scale.frac, offset.frac);
  const den = widen(scale, f);
  if (den === 0n) throw new EncodeValueError(point.name, 'scale is 0: the point cannot be written');
  return { num: widen(v, f) - widen(offset, f), den };
}

function encodeString(point: ResolvedPoint, value: WriteValue): Uint16Array {
  if (typeof value !== 'string') throw new EncodeValueError(point.name, 'expected a string');
  if (value.length > point.length) {
    throw new EncodeRangeError(point.name, `${value.length} characters do not fit string(${point.length})`);
  }
  // eslint-disable-next-line no-control-regex -- NUL is exactly what is refused
  if (/[^\x01-\xff]/.test(value)) throw new EncodeValueError(point.name, 'only latin1 characters (no NUL) can be written');
  const bytes = new Uint8Array(2 * Math.ceil(point.length / 2));
  bytes.set(Buffer.from(value, 'latin1'));
  return Uint16Array.from(reorderStringWords(bytesToWords(bytes), point.wordOrder));
}

function encodeNumber(point: ResolvedPoint, value: WriteValue): Uint16Array {
  const t = point.type;
  const v = toExact(point, value);
  const { num, den } = unscale(point, v);
  let canonical: number[];
  if (isIntegerType(t)) {
    if (num % den !== 0n) {
      throw new EncodeInexactError(
        point.name,
        `${String(value)} is not representable: (value − ${point.offset}) must be a whole multiple of scale ${point.scale}`,
      );
    }
    const raw = num / den;
    const { min, max } = integerRange(t);
    if (raw < min || raw > max) {
      throw new EncodeRangeError(point.name, `${String(value)} needs raw ${raw}, outside ${t} [${min}, ${max}]`);
    }
    canonical = integerToWords(raw, t);
  } else if (isFloatType(t)) {
    const x = Number(num) / Number(den);
    const stored = t === 'float32' ? Math.fround(x) : x;
    if (!Number.isFinite(stored)) throw new EncodeRangeError(point.name, `${String(value)} overflows ${t}`);
    canonical = floatToWords(stored, t);
  } else {
    throw new EncodeValueError(point.name, `type ${t} cannot take a number`);
  }
  const words = Uint16Array.from(reorderWords(canonical, point.wordOrder));
  const back = decodePoint(point, words).value as string;
  const backExact = parseExact(back);
  if (backExact === null || !sameValue(backExact, v)) {
    throw new EncodeInexactError(point.name, `${String(value)} is not representable: the device would hold ${back}`);
  }
  return words;
}

/**
 * Registers (holding) or a coil state for writing `value` to `point`.
 * Throws EncodeValueError / EncodeRangeError / EncodeInexactError.
 */
export function encodePoint(point: ResolvedPoint, value: WriteValue): Uint16Array | boolean {
  if (point.area === 'coil' || point.area === 'discrete') return toBoolean(point, value);
  if (point.type === 'bool') return Uint16Array.of(toBoolean(point, value) ? 1 : 0);
  if (point.type === 'string') return encodeString(point, value);
  return encodeNumber(point, value);
}
