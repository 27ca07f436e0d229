/**
 * Exact sums of i64 values without a BigInt per addend (docs/architecture.md,
 * "The reading path"): the core's i64 output columns are read as two 32-bit
 * words, and a value that fits a safe integer is added as a number; the sum
 * moves into a bigint only when it would leave the safe range. The result is
 * the same bigint a BigInt sum would give, to the unit.
 */

/** 2^21: a high word in [-2^21, 2^21) makes |value| < 2^53, a safe integer. */
const HI_SAFE = 0x20_0000;
const WORD = 4_294_967_296;

/** The i64 column as 32-bit words (little-endian: low word at 2k, high at 2k + 1). One view per column, not per value. */
export function wordsOf(column: BigInt64Array): Int32Array {
  return new Int32Array(column.buffer, column.byteOffset, column.length * 2);
}

/** Value k of the column as a number, or NaN when it is not a safe integer (then read the bigint). */
export function safeAt(words: Int32Array, k: number): number {
  const hi = words[2 * k + 1]!;
  return hi >= -HI_SAFE && hi < HI_SAFE ? hi * WORD + (words[2 * k]! >>> 0) : Number.NaN;
}

export class ExactSum {
  private small = 0;
  private big = 0n;

  /** Add value k of `column` (`words` = wordsOf(column)). */
  addAt(words: Int32Array, column: BigInt64Array, k: number): void {
    const x = safeAt(words, k);
    if (Number.isNaN(x)) this.big += column[k]!;
    else this.addSafe(x);
  }

  /** Add a safe integer. */
  addSafe(x: number): void {
    const s = this.small + x;
    // Both are safe integers, so s is exact unless it is outside the safe range.
    if (s > Number.MAX_SAFE_INTEGER || s < -Number.MAX_SAFE_INTEGER) {
      this.big += BigInt(this.small);
      this.small = x;
    } else {
      this.small = s;
    }
  }

  add(x: bigint): void {
    this.big += x;
  }

  get value(): bigint {
    return this.big + BigInt(this.small);
  }
}
