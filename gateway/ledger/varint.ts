/**
 * Variable-length integers for the packed device state (device-state.ts):
 * LEB128 (7 bits a byte, low first) of the zigzag form of a signed value, so
 * small magnitudes of either sign take one or two bytes. Bigints of any size
 * round-trip exactly; values within ±2^52 take a number fast path.
 */

const SMALL = 2 ** 52;

/** One scratch buffer for every writer: encoding is synchronous, and `bytes()` copies out. */
let scratch = Buffer.allocUnsafe(64 * 1024);

export class ByteWriter {
  private buf = scratch;
  private at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = scratch = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.at++] = b;
  }

  /** A non-negative safe integer. */
  uint(v: number): void {
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.at++] = v;
  }

  /** A signed safe integer (zigzag). */
  int(v: number): void {
    this.uint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  /** A signed bigint of any size (zigzag). */
  big(v: bigint): void {
    if (v > -SMALL && v < SMALL) {
      this.int(Number(v));
      return;
    }
    let z = v >= 0n ? v * 2n : -v * 2n - 1n;
    while (z >= 0x80n) {
      this.byte(Number(z & 0x7fn) | 0x80);
      z >>= 7n;
    }
    this.byte(Number(z));
  }

  /**
   * A signed bigint with its trailing decimal zeros factored out: zigzag(m)·16 + k
   * for v = m·10^k (k ≤ 15). Quantities are mostly whole units (× 10^6 micro):
   * 7 200 000 000 takes 3 bytes instead of 5.
   */
  dec(v: bigint): void {
    if (v > -SMALL && v < SMALL) {
      let n = Number(v);
      let k = 0;
      while (k < 15 && n !== 0 && n % 10 === 0) {
        n /= 10;
        k++;
      }
      const x = (n >= 0 ? n * 2 : -n * 2 - 1) * 16 + k;
      if (x <= Number.MAX_SAFE_INTEGER) {
        this.uint(x);
        return;
      }
    }
    let k = 0;
    while (k < 15 && v !== 0n && v % 10n === 0n) {
      v /= 10n;
      k++;
    }
    const z = v >= 0n ? v * 2n : -v * 2n - 1n;
    let x = z * 16n + BigInt(k);
    if (x < 2n ** 52n) {
      this.uint(Number(x));
      return;
    }
    while (x >= 0x80n) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
  }

  /** A copy of what was written. */
  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.at));
  }
}

export class ByteReader {
  private at = 0;

  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.at >= this.buf.length;
  }

  byte(): number {
    if (this.at >= this.buf.length) throw new RangeError('packed state ends early');
    return this.buf[this.at++]!;
  }

  /** One LEB128 value: a number while it is a safe integer (below 2^53), else a bigint. */
  private raw(): number | bigint {
    let small = 0;
    let big: bigint | null = null;
    for (let shift = 0; ; shift += 7) {
      if (shift > 7 * 40) throw new RangeError('packed state: integer too long');
      const b = this.byte();
      const chunk = b & 0x7f;
      if (big === null && (shift < 49 || (shift === 49 && chunk < 16))) small += chunk * 2 ** shift;
      else {
        big ??= BigInt(small);
        big |= BigInt(chunk) << BigInt(shift);
      }
      if ((b & 0x80) === 0) return big ?? small;
    }
  }

  /** A signed value written by `big` (or `int`), exact at any size. */
  big(): bigint {
    const z = this.raw();
    if (typeof z === 'number') return z % 2 === 0 ? BigInt(z / 2) : -BigInt((z + 1) / 2);
    return (z & 1n) === 0n ? z >> 1n : -((z + 1n) >> 1n);
  }

  /** A value written by `dec`. */
  dec(): bigint {
    const raw = this.raw();
    const x = typeof raw === 'number' ? BigInt(raw) : raw;
    const k = x % 16n;
    const z = x / 16n;
    const m = (z & 1n) === 0n ? z >> 1n : -((z + 1n) >> 1n);
    return m * 10n ** k;
  }

  uint(): number {
    const z = this.raw();
    if (typeof z !== 'number') throw new RangeError('packed state: integer out of range');
    return z;
  }

  int(): number {
    const z = this.raw();
    if (typeof z !== 'number') throw new RangeError('packed state: integer out of range');
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
}
