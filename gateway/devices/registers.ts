/**
 * Register layout: how a multi-byte value sits in 16-bit Modbus registers.
 *
 * The canonical form is big-endian bytes A B C D … (A = most significant).
 * Word orders (docs/config.md), for a value of n registers read in address order:
 *   ABCD  registers hold the bytes big-endian, high word first   (no change)
 *   CDAB  word swap: the register sequence is reversed (low word first);
 *         for 64-bit values that is GH EF CD AB (Modbus Poll's "little-endian byte swap")
 *   BADC  byte swap inside every register, high word first
 *   DCBA  both: fully little-endian (HG FE DC BA for 64-bit)
 * Both steps are involutions and commute, so the same function converts
 * device registers -> canonical words and canonical words -> device registers.
 *
 * Single-register types (int16/uint16/bool) honour only the byte swap
 * (BADC/DCBA); strings honour only the byte swap too: characters are stored
 * in register order, two per register, high byte first unless byte-swapped
 * (a "word swapped" string does not occur in practice).
 */
import type { ScalarType, WordOrder } from './point';

const swapsWords = (o: WordOrder): boolean => o === 'CDAB' || o === 'DCBA';
const swapsBytes = (o: WordOrder): boolean => o === 'BADC' || o === 'DCBA';

const swapBytes = (w: number): number => ((w & 0xff) << 8) | ((w >> 8) & 0xff);

/** Device registers <-> canonical big-endian words, for numeric types (the transform is its own inverse). */
export function reorderWords(words: ArrayLike<number>, order: WordOrder): number[] {
  const out = Array.from(words, (w) => w & 0xffff);
  if (swapsWords(order)) out.reverse();
  return swapsBytes(order) ? out.map(swapBytes) : out;
}

/** Device registers <-> canonical words for strings: only the byte swap applies. */
export function reorderStringWords(words: ArrayLike<number>, order: WordOrder): number[] {
  const out = Array.from(words, (w) => w & 0xffff);
  return swapsBytes(order) ? out.map(swapBytes) : out;
}

export function wordsToBytes(words: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(words.length * 2);
  words.forEach((w, i) => {
    bytes[2 * i] = (w >> 8) & 0xff;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

export function bytesToWords(bytes: Uint8Array): number[] {
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) words.push((bytes[i] << 8) | (bytes[i + 1] ?? 0));
  return words;
}

export type IntegerType = 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64';
export type FloatType = 'float32' | 'float64';

export const isIntegerType = (t: ScalarType): t is IntegerType =>
  t === 'int16' || t === 'uint16' || t === 'int32' || t === 'uint32' || t === 'int64' || t === 'uint64';
export const isFloatType = (t: ScalarType): t is FloatType => t === 'float32' || t === 'float64';

/** Bits of an integer type and whether it is signed. */
export function integerLayout(t: IntegerType): { bits: 16 | 32 | 64; signed: boolean } {
  const bits = Number(t.replace(/^u?int/, '')) as 16 | 32 | 64;
  return { bits, signed: !t.startsWith('u') };
}

/** Inclusive range of raw values an integer type holds. */
export function integerRange(t: IntegerType): { min: bigint; max: bigint } {
  const { bits, signed } = integerLayout(t);
  return signed ? { min: -(1n << BigInt(bits - 1)), max: (1n << BigInt(bits - 1)) - 1n } : { min: 0n, max: (1n << BigInt(bits)) - 1n };
}

/** Canonical big-endian words -> integer (two's complement for signed types). */
export function wordsToInteger(words: readonly number[], t: IntegerType): bigint {
  const { bits, signed } = integerLayout(t);
  let v = 0n;
  for (const w of words) v = (v << 16n) | BigInt(w & 0xffff);
  return signed ? BigInt.asIntN(bits, v) : BigInt.asUintN(bits, v);
}

/** Integer -> canonical big-endian words (the caller checked the range). */
export function integerToWords(v: bigint, t: IntegerType): number[] {
  const { bits } = integerLayout(t);
  let u = BigInt.asUintN(bits, v);
  const words: number[] = [];
  for (let i = 0; i < bits / 16; i++) {
    words.unshift(Number(u & 0xffffn));
    u >>= 16n;
  }
  return words;
}

/** Canonical big-endian words -> IEEE-754 number. */
export function wordsToFloat(words: readonly number[], t: FloatType): number {
  const view = new DataView(wordsToBytes(words).buffer);
  return t === 'float32' ? view.getFloat32(0, false) : view.getFloat64(0, false);
}

/** IEEE-754 number -> canonical big-endian words. */
export function floatToWords(x: number, t: FloatType): number[] {
  const bytes = new Uint8Array(t === 'float32' ? 4 : 8);
  const view = new DataView(bytes.buffer);
  if (t === 'float32') view.setFloat32(0, x, false);
  else view.setFloat64(0, x, false);
  return bytesToWords(bytes);
}
