/**
 * Register decoding: the words (or bits) a read returned -> a point's value.
 *
 * `decodePoint` takes exactly the registers of one point, in address order
 * (the planner slices them out of a merged read) and returns
 *  - raw:   integers as bigint, floats as number (their shortest decimal),
 *           bool as boolean, strings as string;
 *  - value: the engineering value raw × scale + offset as an exact decimal
 *           string (gateway/devices/scaling.ts), or a boolean for bits/bool;
 *  - counterRaw (kind 'counter' only): what the metering core receives —
 *           the unsigned register value for integer types (two's complement
 *           for signed types, wrapping at counterWidth bits), or for float
 *           counters the engineering value in micro-units (width 0).
 * Strings are latin1, cut at the first NUL and stripped of trailing spaces
 * (the usual padding). NaN/Infinity floats are a DecodeError: a sensor fault
 * is a failed point, never a value.
 * A point with a SunSpec scale factor (`scaleFactorOffset`) is decoded by
 * scale-factor.ts from its whole span; as a counter it hands the core
 * engineering micro-units (width 0), because the scale factor may change.
 */
import { CounterTypeError, DecodeError } from './errors';
import { pointWidth, type ResolvedPoint } from './point';
import { isFloatType, isIntegerType, reorderStringWords, reorderWords, wordsToBytes, wordsToFloat, wordsToInteger } from './registers';
import { decodeScaled } from './scale-factor';
import { floatMicro, formatMicroTrimmed, integerValue, scaleMicro, shortestFloat } from './scaling';

export interface DecodedValue {
  raw: bigint | number | boolean | string;
  value: string | boolean;
  /** Kind 'counter' only: unsigned raw (width 16/32/64) or engineering micro-units (float counters, width 0). */
  counterRaw?: bigint;
}

export type CounterWidthBits = 0 | 16 | 32 | 64;

const isBitArea = (p: Pick<ResolvedPoint, 'area'>): boolean => p.area === 'coil' || p.area === 'discrete';

/** Raw counter modulus for the metering core: 16/32/64 for integer types, 0 for floats and scale-factor points. */
export function counterWidth(point: ResolvedPoint): CounterWidthBits {
  if (isBitArea(point)) throw new CounterTypeError(point.name, `a ${point.area} cannot be a counter`);
  if (point.scaleFactorOffset !== undefined && isIntegerType(point.type)) return 0;
  switch (point.type) {
    case 'int16':
    case 'uint16':
      return 16;
    case 'int32':
    case 'uint32':
      return 32;
    case 'int64':
    case 'uint64':
      return 64;
    case 'float32':
    case 'float64':
      return 0;
    default:
      throw new CounterTypeError(point.name, `type ${point.type} cannot be a counter`);
  }
}

/** Micro-units per raw count: scale × 10^6 (exact); 1n for float and scale-factor counters, whose raw is already micro-units. */
export function microPerCount(point: ResolvedPoint): bigint {
  return isFloatType(point.type) || point.scaleFactorOffset !== undefined ? 1n : scaleMicro(point.scale);
}

export function decodePoint(point: ResolvedPoint, words: Uint16Array | readonly boolean[]): DecodedValue {
  const width = pointWidth(point);
  if (words.length < width) {
    throw new DecodeError(point.name, `needs ${width} ${isBitArea(point) ? 'bits' : 'registers'}, got ${words.length}`);
  }
  if (isBitArea(point)) {
    if (words instanceof Uint16Array) throw new DecodeError(point.name, `a ${point.area} decodes from bits, got registers`);
    const bit = Boolean(words[0]);
    return { raw: bit, value: bit };
  }
  if (!(words instanceof Uint16Array)) {
    throw new DecodeError(point.name, `a ${point.area} register decodes from words, got bits`);
  }
  const regs = Array.from(words.subarray(0, width));
  const t = point.type;

  if (t === 'bool') {
    const bit = regs[0] !== 0;
    return { raw: bit, value: bit };
  }
  if (t === 'string') {
    const bytes = wordsToBytes(reorderStringWords(regs, point.wordOrder)).subarray(0, point.length);
    const nul = bytes.indexOf(0);
    const text = Buffer.from(nul < 0 ? bytes : bytes.subarray(0, nul))
      .toString('latin1')
      .replace(/ +$/, '');
    return { raw: text, value: text };
  }
  if (point.scaleFactorOffset !== undefined) {
    const d = decodeScaled(point, regs);
    const out: DecodedValue = { raw: d.raw, value: d.value };
    if (point.kind === 'counter') out.counterRaw = d.micro;
    return out;
  }
  if (isIntegerType(t)) {
    const raw = wordsToInteger(reorderWords(regs, point.wordOrder), t);
    const out: DecodedValue = { raw, value: integerValue(raw, point.scale, point.offset) };
    if (point.kind === 'counter') out.counterRaw = BigInt.asUintN(counterWidth(point), raw);
    return out;
  }
  if (isFloatType(t)) {
    const x = wordsToFloat(reorderWords(regs, point.wordOrder), t);
    if (!Number.isFinite(x)) throw new DecodeError(point.name, `${t} is ${x}`);
    const shortest = shortestFloat(x, t === 'float32' ? 32 : 64);
    const micro = floatMicro(shortest, point.scale, point.offset);
    const out: DecodedValue = { raw: Number(shortest), value: formatMicroTrimmed(micro) };
    if (point.kind === 'counter') out.counterRaw = micro;
    return out;
  }
  throw new DecodeError(point.name, `unknown type ${String(t)}`);
}
