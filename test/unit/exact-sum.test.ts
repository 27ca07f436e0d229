/**
 * The reading path sums i64 output columns without a BigInt per value
 * (gateway/meter/exact-sum.ts); the result must equal a BigInt sum to the
 * unit, on either side of the safe-integer range and across it.
 */
import { ExactSum, safeAt, wordsOf } from '../../gateway/meter/exact-sum';
import { loadWasmCore } from '../../gateway/core/wasm-core';
import { ReferenceCore } from '../../gateway/core/reference';
import { SqliteLedger } from '../../gateway/ledger/sqlite-store';
import type { MeterInput } from '../../gateway/meter/metering-service';
import { meterRig } from './meter-fixtures';

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A deterministic generator (xorshift) so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4_294_967_296;
  };
}

const edges = [
  0n,
  1n,
  -1n,
  SAFE,
  -SAFE,
  SAFE + 1n,
  -SAFE - 1n,
  2n ** 53n,
  2n ** 62n,
  -(2n ** 63n),
  2n ** 63n - 1n,
  2n ** 32n - 1n,
  2n ** 32n,
  -(2n ** 32n),
];

describe('ExactSum', () => {
  it('reads safe values as numbers and says NaN for the rest', () => {
    const col = BigInt64Array.from(edges);
    const w = wordsOf(col);
    edges.forEach((v, k) => {
      const x = safeAt(w, k);
      if (v >= -(2n ** 53n) && v < 2n ** 53n) expect(BigInt(x)).toBe(v);
      else expect(x).toBeNaN();
    });
  });

  it('equals the BigInt sum for edge values and 20 000 random ones of every size, in any order', () => {
    const next = rng(8);
    const values = [...edges];
    for (let i = 0; i < 20_000; i++) {
      const bits = Math.floor(next() * 62);
      const v = BigInt(Math.floor(next() * 2 ** 31)) * 2n ** BigInt(Math.max(0, bits - 31)) + BigInt(Math.floor(next() * 2 ** 20));
      values.push(next() < 0.2 ? -v : v);
    }
    const col = BigInt64Array.from(values);
    const w = wordsOf(col);
    const sum = new ExactSum();
    let expected = 0n;
    for (let k = 0; k < col.length; k++) {
      sum.addAt(w, col, k);
      expected += col[k]!;
    }
    expect(sum.value).toBe(expected);
    // Many values just under the limit: the running sum leaves the safe range again and again.
    const near = new ExactSum();
    for (let i = 0; i < 1000; i++) near.addSafe(Number.MAX_SAFE_INTEGER - i);
    let exp = 0n;
    for (let i = 0; i < 1000; i++) exp += SAFE - BigInt(i);
    expect(near.value).toBe(exp);
  });
});

describe('the metering service folds core columns exactly', () => {
  it('bills the same as the BigInt reference core when amounts pass 2^53 nano', () => {
    const T = Date.UTC(2026, 0, 5, 9, 0, 0);
    const spec = {
      devices: { big: ['energy'], small: ['energy'] },
      widthBits: 64 as const,
      tariffs: [
        { device: 'big', point: 'energy', payee: 'grid', priceNano: 987_654_321_987n },
        { device: 'small', point: 'energy', payee: 'grid', priceNano: 3n },
      ],
    };
    const totals = (core: ReferenceCore | ReturnType<typeof loadWasmCore>): unknown => {
      const ledger = SqliteLedger.inMemory();
      const rig = meterRig(core, ledger, spec, { flushMs: 100_000, commitMs: 0 });
      const next = rng(3);
      let big = 10n;
      let small = 10n;
      for (let s = 0; s < 200; s++) {
        big += BigInt(Math.floor(next() * 9_000)); // up to 9e3 units × ~1e12 nano: ~9e15 nano a reading, sums past 2^53
        small += BigInt(Math.floor(next() * 5));
        const r = (device: string, raw: bigint): MeterInput => ({
          device,
          point: 'energy',
          tsMs: T + s * 1000,
          value: String(raw),
          counterRaw: raw,
        });
        rig.metering.ingest([r('big', big), r('small', small)]);
        if (s % 7 === 0) rig.metering.flush();
      }
      rig.metering.flush();
      const out = { lines: ledger.ledgerTotals(), channels: ledger.channels(), accounts: ledger.accounts(), state: ledger.loadState() };
      ledger.close();
      return out;
    };
    const ref = totals(new ReferenceCore());
    expect(totals(loadWasmCore())).toEqual(ref);
    const amounts = (ref as { lines: Array<{ amountNano: bigint }> }).lines.map((l) => l.amountNano);
    expect(amounts.some((a) => a > SAFE)).toBe(true);
  });
});
