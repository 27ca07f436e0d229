/**
 * Hostile input never traps, never throws from process(), and never changes what
 * a well-behaved slot meters: i64/u64 extremes, non-integer and non-finite
 * timestamps, impossible slot numbers, huge prices and multipliers, empty batches.
 */
import fc from 'fast-check';
import { ReferenceCore } from '../../gateway/core/reference';
import type { MeteringCore, PolicyTables, Reading, SlotConfig } from '../../gateway/core/types';
import { loadWasmCore } from '../../gateway/core/wasm-core';
import { DST_END_2026, osloBands } from './core-fixtures';

const I64_MAX = (1n << 63n) - 1n;
const SLOTS: SlotConfig[] = [
  { slot: 0, widthBits: 32, microPerCount: 1_000_000n, maxRateMicroPerS: 0n }, // the well-behaved control
  { slot: 1, widthBits: 64, microPerCount: I64_MAX, maxRateMicroPerS: 0n },
  { slot: 2, widthBits: 0, microPerCount: I64_MAX, maxRateMicroPerS: I64_MAX },
  { slot: 3, widthBits: 16, microPerCount: 1n, maxRateMicroPerS: 1n },
  { slot: 5, widthBits: 64, microPerCount: 1n, maxRateMicroPerS: 0n },
];
const TABLES: PolicyTables = {
  version: 4,
  lines: [
    { line: 0, slot: 0, channel: 0, priceNano: 12_000_000n, segments: [] },
    { line: 1, slot: 0, channel: 0, priceNano: 1_000_000n, segments: osloBands(2026, 10, 23, 5, 7, 22, 3_000_000n) },
    { line: 2, slot: 1, channel: 1, priceNano: I64_MAX, segments: [] },
    { line: 3, slot: 2, channel: 1, priceNano: I64_MAX, segments: [{ fromMs: -(2 ** 53) + 1, toMs: 2 ** 53 - 1, priceNano: I64_MAX }] },
    { line: 4, slot: 5, channel: 1, priceNano: I64_MAX, segments: [] },
    { line: 5, slot: 9, channel: 1, priceNano: 1n, segments: [] },
  ],
  channels: [
    { channel: 0, account: 0 },
    { channel: 1, account: 1 },
  ],
  creditLimits: [{ account: 1, limitNano: 0n, rearmNano: 0n }],
};

const hostileSlot = fc.constantFrom(1, 2, 3, 4, 5, 9, -1, 1.5, Number.NaN, 2 ** 31, 2 ** 32, 2 ** 32 - 1, 2 ** 53);
const hostileRaw = fc.oneof(
  fc.constantFrom(-(1n << 63n), -1n, 0n, 1n, I64_MAX, 1n << 63n, (1n << 64n) - 1n, 1n << 64n, 1n << 200n, 65_535n, 65_536n),
  fc.bigInt(-(1n << 70n), 1n << 70n),
);
const hostileTs = fc.oneof(
  fc.constantFrom(
    Number.NaN,
    Infinity,
    -Infinity,
    2 ** 53,
    -(2 ** 53),
    Number.MAX_SAFE_INTEGER,
    -Number.MAX_SAFE_INTEGER,
    -0,
    0,
    1.5,
    1e300,
  ),
  fc.integer({ min: DST_END_2026 - 86_400_000, max: DST_END_2026 + 86_400_000 }),
);

function meterAll(core: MeteringCore, batches: Reading[][]): { deltas: unknown[]; accruals: unknown[] } {
  core.configureSlots(SLOTS);
  core.setPolicy(TABLES);
  const out = { deltas: [] as unknown[], accruals: [] as unknown[] };
  for (const b of batches) {
    const res = core.process(b);
    out.deltas.push(...res.deltas.filter((d) => d.slot === 0));
    out.accruals.push(...res.accruals.filter((a) => a.slot === 0));
  }
  return out;
}

test('hostile readings interleaved with a clean stream: no trap, same as the oracle, control slot untouched', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ inc: fc.bigInt(0n, 5_000n), dt: fc.integer({ min: 1, max: 3_600_000 }) }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.record({ at: fc.nat(40), slot: hostileSlot, raw: hostileRaw, tsMs: hostileTs }), { maxLength: 40 }),
      fc.array(fc.nat(80), { maxLength: 6 }),
      (steps, hostile, cuts) => {
        let raw = 4_294_000_000n;
        let ts = DST_END_2026 - 86_400_000;
        const clean: Reading[] = [{ slot: 0, raw, tsMs: ts }];
        for (const s of steps) {
          raw = (raw + s.inc) % (1n << 32n);
          ts += s.dt;
          clean.push({ slot: 0, raw, tsMs: ts });
        }
        const mixed: Reading[] = [];
        clean.forEach((r, i) => {
          for (const h of hostile) if (h.at === i) mixed.push({ slot: h.slot, raw: h.raw, tsMs: h.tsMs });
          mixed.push(r);
        });
        const bounds = [0, ...cuts.map((c) => c % (mixed.length + 1)).sort((a, b) => a - b), mixed.length];
        const batches = bounds.slice(1).map((end, i) => mixed.slice(bounds[i], end));

        const alone = meterAll(new ReferenceCore(), [clean]);
        const ref = new ReferenceCore();
        const wasm = loadWasmCore();
        for (const core of [ref, wasm]) {
          core.configureSlots(SLOTS);
          core.setPolicy(TABLES);
        }
        const control = { deltas: [] as unknown[], accruals: [] as unknown[] };
        for (const b of batches) {
          const expected = ref.process(b);
          expect(wasm.process(b)).toStrictEqual(expected);
          control.deltas.push(...expected.deltas.filter((d) => d.slot === 0));
          control.accruals.push(...expected.accruals.filter((a) => a.slot === 0));
        }
        expect(control).toStrictEqual(alone);
        const snap = ref.snapshot();
        expect(wasm.snapshot()).toStrictEqual(snap);
        expect(snap.accounts[0]!.unsettledNano).toBe(
          alone.accruals.reduce((s: bigint, a) => s + (a as { amountNano: bigint }).amountNano, 0n),
        );
      },
    ),
    { numRuns: 200 },
  );
});

test('extreme but valid readings produce overflow events, never a wrap', () => {
  for (const core of [new ReferenceCore(), loadWasmCore()]) {
    core.configureSlots(SLOTS);
    core.setPolicy(TABLES);
    core.process([
      { slot: 1, raw: 0n, tsMs: 0 },
      { slot: 2, raw: 0n, tsMs: 0 },
      { slot: 5, raw: 0n, tsMs: 0 },
    ]);
    const res = core.process([
      { slot: 1, raw: 1n, tsMs: 1 }, // qty 2^63-1 at 2^63-1 nano: amount ~2^106
      { slot: 1, raw: 3n, tsMs: 2 }, // qty 2 × (2^63-1): beyond i64
      { slot: 2, raw: I64_MAX, tsMs: 1 }, // (2^63-1)^2 micro-units in 1 ms: above any rate, held
      { slot: 2, raw: I64_MAX, tsMs: 2 }, // confirmed: beyond i64
      { slot: 5, raw: (1n << 64n) - 1n, tsMs: 1 }, // 2^64-1 counts
    ]);
    expect(res.events.map((e) => [e.kind, e.slot])).toEqual([
      ['overflow', 1],
      ['overflow', 1],
      ['held', 2],
      ['confirmed', 2],
      ['overflow', 2],
      ['overflow', 5],
    ]);
    expect(res.accruals).toEqual([]);
    expect(core.snapshot().accounts[1]).toEqual({ account: 1, unsettledNano: 0n, overLimit: false });
  }
});

test('zero-length batches and empty configurations are harmless', () => {
  for (const core of [new ReferenceCore(), loadWasmCore()]) {
    expect(core.process([])).toEqual({ deltas: [], accruals: [], events: [] });
    expect(core.process([{ slot: 0, raw: 1n, tsMs: 1 }]).events.map((e) => e.kind)).toEqual(['unknown-slot']);
    core.configureSlots([]);
    core.setPolicy({ version: 0, lines: [], channels: [], creditLimits: [] });
    expect(core.snapshot()).toEqual({ slots: [], lines: [], accounts: [] });
    expect(() => core.settle(0, 0n)).toThrow();
  }
});

test('-0 as slot or time is 0 for both cores', () => {
  const batch: Reading[] = [
    { slot: -0, raw: 5n, tsMs: -0 },
    { slot: 0, raw: 9n, tsMs: 1000 },
    { slot: -0, raw: 12n, tsMs: 2000 },
  ];
  const [ref, wasm] = [new ReferenceCore(), loadWasmCore()];
  for (const core of [ref, wasm]) {
    core.configureSlots(SLOTS);
    core.setPolicy(TABLES);
  }
  const expected = ref.process(batch);
  expect(expected.deltas.map((d) => [d.slot, d.fromMs, d.qtyMicro])).toStrictEqual([
    [0, 0, 4_000_000n],
    [0, 1000, 3_000_000n],
  ]);
  expect(wasm.process(batch)).toStrictEqual(expected);
  expect(wasm.snapshot()).toStrictEqual(ref.snapshot());
});

test('time differences beyond 2^53 are exact (rate check and time-of-use split)', () => {
  const from = -(2 ** 53 - 2);
  const to = 2 ** 53 - 1; // to - from = 2^54 - 3: not a double
  const span = (1n << 54n) - 3n;
  const results = [new ReferenceCore(), loadWasmCore()].map((core) => {
    core.configureSlots([{ slot: 0, widthBits: 64, microPerCount: 1n, maxRateMicroPerS: 1000n }]); // qty <= dt allowed
    core.setPolicy({
      version: 1,
      lines: [{ line: 0, slot: 0, channel: 0, priceNano: 1n, segments: [{ fromMs: 1, toMs: 2, priceNano: 5n }] }],
      channels: [{ channel: 0, account: 0 }],
      creditLimits: [],
    });
    core.process([{ slot: 0, raw: 0n, tsMs: from }]);
    return core.process([{ slot: 0, raw: span, tsMs: to }]);
  });
  expect(results[0]!.events).toEqual([]); // exactly at the rate limit: not held
  expect(results[0]!.accruals.map((a) => a.qtyMicro)).toEqual([2n ** 53n - 1n, 1n, 2n ** 53n - 3n]);
  expect(results[1]).toStrictEqual(results[0]);
});
