/** Edge values of the WASM core's 128-bit arithmetic (assembly/u128.ts), checked against BigInt. */
import fc from 'fast-check';
import { loadCoreTestWasm, type U128Probes } from '../helper/core-test-wasm';

const U64 = (1n << 64n) - 1n;
const u = (x: bigint): bigint => BigInt.asUintN(64, x);
const EDGES = [
  0n,
  1n,
  2n,
  3n,
  999_999n,
  1_000_000n,
  (1n << 31n) - 1n,
  1n << 31n,
  (1n << 32n) - 1n,
  1n << 32n,
  (1n << 32n) + 1n,
  (1n << 63n) - 1n,
  1n << 63n,
  (1n << 63n) + 1n,
  U64 - 1n,
  U64,
];
const u64 = fc.oneof(fc.constantFrom(...EDGES), fc.bigInt(0n, U64), fc.bigInt(0n, 1n << 33n));

let ex: U128Probes;
beforeAll(() => {
  ex = loadCoreTestWasm() as unknown as U128Probes;
});

function mul(a: bigint, b: bigint): bigint {
  const lo = u(ex.u128Mul(a, b));
  return (u(ex.u128Hi()) << 64n) | lo;
}
function divmod(n: bigint, d: bigint): [bigint, bigint] {
  const lo = u(ex.u128DivMod(n >> 64n, n & U64, d));
  return [(u(ex.u128Hi()) << 64n) | lo, u(ex.u128Rem())];
}

describe('u128 multiply', () => {
  test('all pairs of edge values are exact', () => {
    for (const a of EDGES) for (const b of EDGES) expect(mul(a, b)).toBe(a * b);
  });
  test('(2^64-1)^2 = 2^128 - 2^65 + 1', () => {
    expect(mul(U64, U64)).toBe((1n << 128n) - (1n << 65n) + 1n);
  });
  test('random operands', () => {
    fc.assert(
      fc.property(u64, u64, (a, b) => mul(a, b) === a * b),
      { numRuns: 2000 },
    );
  });
});

describe('u128 divide by u64', () => {
  test('edge dividends and divisors', () => {
    const dividends = [
      0n,
      1n,
      U64,
      1n << 64n,
      (1n << 64n) + 1n,
      (1n << 127n) - 1n,
      1n << 127n,
      (1n << 128n) - 1n,
      ...EDGES.map((e) => e * e),
    ];
    for (const n of dividends) {
      for (const d of EDGES) {
        if (d === 0n) continue;
        expect(divmod(n, d)).toEqual([n / d, n % d]);
      }
    }
  });
  test('normalised divisors with a small low digit', () => {
    // divisors with a small second digit force the qhat correction loop
    const cases: [bigint, bigint][] = [
      [(1n << 127n) + (1n << 96n), (1n << 63n) + 1n],
      [((1n << 64n) - 1n) * ((1n << 63n) + 3n), (1n << 63n) + 3n],
      [(0x7fffffffn << 96n) | 0xffffffffn, 0x80000000_00000001n],
      [(1n << 95n) - 1n, (1n << 32n) + 1n],
    ];
    for (const [n, d] of cases) expect(divmod(n, d)).toEqual([n / d, n % d]);
  });
  test('random', () => {
    fc.assert(
      fc.property(
        fc.bigInt(0n, (1n << 128n) - 1n),
        u64.filter((d) => d > 0n),
        (n, d) => {
          const [q, r] = divmod(n, d);
          return q === n / d && r === n % d;
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('checked (a × b + c) / d', () => {
  function check(a: bigint, b: bigint, c: bigint, d: bigint): void {
    const exact = a * b + c;
    const q = u(ex.u128MulAddDiv(a, b, c, d));
    if (exact / d > U64) {
      expect(ex.u128Overflow()).toBe(1);
    } else {
      expect(ex.u128Overflow()).toBe(0);
      expect([q, u(ex.u128Rem())]).toEqual([exact / d, exact % d]);
    }
  }
  test('edges around the 64-bit quotient limit with d = 10^6', () => {
    const M = 1_000_000n;
    check(U64, M, M - 1n, M); // quotient exactly 2^64-1: fits
    check(U64, M, M, M); // quotient 2^64: overflow
    check(1n << 63n, 1n << 63n, 0n, M);
    check((1n << 63n) - 1n, (1n << 63n) - 1n, 999_999n, M);
    check(0n, U64, U64, M);
    for (const a of EDGES) for (const b of EDGES) check(a, b, 999_999n, M);
  });
  test('random', () => {
    fc.assert(
      fc.property(
        u64,
        u64,
        u64,
        u64.filter((d) => d > 0n),
        (a, b, c, d) => {
          check(a, b, c, d);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
