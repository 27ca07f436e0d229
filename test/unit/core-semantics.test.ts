/** Worked examples of the metering semantics, run against both cores. */
import { CoreConfigError, CoreLoadError, CorePolicyError, CoreSettleError, CoreStateError } from '../../gateway/core/errors';
import { loadWasmCore } from '../../gateway/core/wasm-core';
import type { CoreEvent, MeteringCore, Reading } from '../../gateway/core/types';
import { CORES, DST_END_2026, flatLine, L, NOK, osloBands, osloToUtc, policy, slot } from './core-fixtures';

const kinds = (events: CoreEvent[]): string[] => events.map((e) => e.kind);
const r = (s: number, raw: bigint, tsMs: number): Reading => ({ slot: s, raw, tsMs });

describe.each(CORES)('%s', (_name, make) => {
  let core: MeteringCore;
  beforeEach(() => {
    core = make();
  });

  test('uint16 counter 65530 -> 5 at 12 NOK/1000 L: 11 L, 132 000 000 nano', () => {
    core.configureSlots([slot(0, 16, 1_000_000n)]);
    core.setPolicy(policy(7, [flatLine(0, 12_000_000n)]));
    const first = core.process([r(0, 65530n, 1_000)]);
    expect(first).toEqual({ deltas: [], accruals: [], events: [{ kind: 'baseline', slot: 0, tsMs: 1_000, value: 65530n }] });
    const res = core.process([r(0, 5n, 61_000)]);
    expect(res.deltas).toEqual([{ slot: 0, qtyMicro: 11_000_000n, fromMs: 1_000, toMs: 61_000 }]);
    expect(res.accruals).toEqual([
      {
        line: 0,
        slot: 0,
        channel: 0,
        qtyMicro: 11_000_000n,
        amountNano: 132_000_000n,
        priceNano: 12_000_000n,
        fromMs: 1_000,
        toMs: 61_000,
        policyVersion: 7,
      },
    ]);
    expect(kinds(res.events)).toEqual(['rollover']);
    expect(core.snapshot().accounts).toEqual([{ account: 0, unsettledNano: 132_000_000n, overLimit: false }]);
  });

  test('deltas are reported without a tariff line; width 0 is already micro-units', () => {
    core.configureSlots([slot(0, 0, 1n), slot(1, 32, 1000n)]);
    const res = core.process([r(0, 500n, 1), r(1, 10n, 1), r(0, 1_500n, 2), r(1, 12n, 2), r(0, 1_500n, 3)]);
    expect(res.deltas).toEqual([
      { slot: 0, qtyMicro: 1_000n, fromMs: 1, toMs: 2 },
      { slot: 1, qtyMicro: 2_000n, fromMs: 1, toMs: 2 },
      { slot: 0, qtyMicro: 0n, fromMs: 2, toMs: 3 },
    ]);
    expect(res.accruals).toEqual([]);
    expect(kinds(res.events)).toEqual(['baseline', 'baseline']);
  });

  test('rollover vs reset at 16, 32 and 64 bits; width 0 decrease is a reset; a reset is a new baseline billing nothing', () => {
    core.configureSlots([slot(0, 16, 1n), slot(1, 32, 1n), slot(2, 64, 1n), slot(3, 0, 1n)]);
    core.process([r(0, 65_000n, 0), r(1, 4_294_967_000n, 0), r(2, (1n << 64n) - 10n, 0), r(3, 1_000n, 0)]);
    const wraps = core.process([r(0, 100n, 1), r(1, 4n, 1), r(2, 5n, 1), r(3, 999n, 1)]);
    expect(wraps.deltas.map((d) => d.qtyMicro)).toEqual([636n, 300n, 15n, 0n]);
    expect(kinds(wraps.events)).toEqual(['rollover', 'rollover', 'rollover', 'reset']);
    // 100 -> 40000: plain; 40000 -> 7000: wrapped 32536 < 32768 is a rollover; 7000 -> 6000: wrapped 64536 is a reset
    const more = core.process([r(0, 40_000n, 2), r(0, 7_000n, 3), r(0, 6_000n, 4)]);
    expect(more.deltas.map((d) => d.qtyMicro)).toEqual([39_900n, 32_536n, 0n]);
    // after the reset, 6000 is the baseline: the next reading bills from it
    expect(core.process([r(0, 6_250n, 5)]).deltas.map((d) => d.qtyMicro)).toEqual([250n]);
    expect(kinds(more.events)).toEqual(['rollover', 'reset']);
    const big = core.process([r(2, 1n << 63n, 2), r(2, 7n, 3)]);
    expect(big.deltas.map((d) => d.qtyMicro)).toEqual([(1n << 63n) - 5n, 0n]);
    expect(kinds(big.events)).toEqual(['reset']);
  });

  test('duplicate and out-of-order timestamps are ignored without a state change', () => {
    core.configureSlots([slot(0, 32)]);
    core.process([r(0, 10n, 100)]);
    const res = core.process([r(0, 11n, 100), r(0, 12n, 50), r(0, 13n, 200)]);
    expect(kinds(res.events)).toEqual(['ignored', 'ignored']);
    expect(res.deltas).toEqual([{ slot: 0, qtyMicro: 3n * L, fromMs: 100, toMs: 200 }]);
  });

  test('invalid raw values and timestamps are ignored; unknown slots reported, other slots untouched', () => {
    core.configureSlots([slot(0, 16), slot(2, 0)]);
    const res = core.process([
      r(1, 1n, 1),
      r(7, 1n, 1),
      r(0, 65_536n, 1),
      r(0, -1n, 1),
      r(2, 1n << 63n, 1),
      r(0, 1n, Number.NaN),
      r(0, 1n, 1.5),
      r(-1, 1n, 1),
      r(0, 3n, 10),
    ]);
    expect(kinds(res.events)).toEqual([
      'unknown-slot',
      'unknown-slot',
      'ignored',
      'ignored',
      'ignored',
      'ignored',
      'ignored',
      'unknown-slot',
      'baseline',
    ]);
    expect(res.events[7]).toEqual({ kind: 'unknown-slot', slot: -1, tsMs: 1, value: 1n });
    expect(core.process([]).events).toEqual([]);
  });

  test('a jump above maxRate is held, then confirmed by a plausible next reading and billed in one delta', () => {
    core.configureSlots([slot(0, 32, L, 10n * L)]); // at most 10 units/s
    core.setPolicy(policy(1, [flatLine(0, NOK)]));
    core.process([r(0, 100n, 0)]);
    const held = core.process([r(0, 1_100n, 1_000)]);
    expect(kinds(held.events)).toEqual(['held']);
    expect(held.deltas).toEqual([]);
    expect(core.snapshot().slots[0]).toEqual({ slot: 0, hasBaseline: true, lastRaw: 100n, lastTsMs: 0, heldRaw: 1_100n, heldTsMs: 1_000 });
    const ok = core.process([r(0, 1_105n, 2_000)]);
    expect(kinds(ok.events)).toEqual(['confirmed']);
    expect(ok.deltas).toEqual([{ slot: 0, qtyMicro: 1_005n * L, fromMs: 0, toMs: 2_000 }]);
    expect(ok.accruals.map((a) => a.amountNano)).toEqual([1_005n * NOK]);
  });

  test('a held value not continued plausibly is dropped as a glitch', () => {
    core.configureSlots([slot(0, 32, L, 10n * L)]);
    core.process([r(0, 100n, 0)]);
    core.process([r(0, 90_000n, 1_000)]);
    const res = core.process([r(0, 105n, 2_000)]); // back near last: glitch
    expect(kinds(res.events)).toEqual([]);
    expect(res.deltas).toEqual([{ slot: 0, qtyMicro: 5n * L, fromMs: 0, toMs: 2_000 }]);
    expect(core.snapshot().slots[0]!.heldRaw).toBeNull();
    // reading at or before the held time is ignored while a jump is held
    core.process([r(0, 90_000n, 3_000)]);
    expect(kinds(core.process([r(0, 90_001n, 3_000)]).events)).toEqual(['ignored']);
  });

  test('flat tariff carries the remainder per line', () => {
    core.configureSlots([slot(0, 32, 1n)]);
    core.setPolicy(policy(1, [flatLine(0, 3n)])); // 3 nano per unit: 1 micro-unit costs 3e-6 nano
    core.process([r(0, 0n, 0)]);
    let total = 0n;
    for (let i = 1; i <= 1000; i++) total += core.process([r(0, BigInt(i * 1000), i)]).accruals.reduce((s, a) => s + a.amountNano, 0n);
    expect(total).toBe((1_000_000n * 3n) / 1_000_000n);
    expect(core.snapshot().lines).toEqual([{ line: 0, remainder: 0n }]);
  });

  test('time-of-use: consumption split across segments in proportion to time, pieces sum exactly', () => {
    core.configureSlots([slot(0, 32, 1n)]);
    const line = { slot: 0, channel: 0, priceNano: 1_000_000n, segments: [{ fromMs: 100, toMs: 200, priceNano: 3_000_000n }] };
    core.setPolicy(policy(2, [line]));
    core.process([r(0, 0n, 0)]);
    const res = core.process([r(0, 1_000n, 300)]);
    expect(res.accruals.map((a) => [a.fromMs, a.toMs, a.qtyMicro, a.priceNano, a.amountNano])).toEqual([
      [0, 100, 333n, 1_000_000n, 333n],
      [100, 200, 333n, 3_000_000n, 999n],
      [200, 300, 334n, 1_000_000n, 334n],
    ]);
  });

  test('time-of-use bands across the Oslo autumn DST change: the night band is 7 real hours', () => {
    core.configureSlots([slot(0, 32, L)]);
    const night = osloBands(2026, 10, 25, 1, 0, 6, 2n * NOK);
    expect(night[0]!.toMs - night[0]!.fromMs).toBe(7 * 3_600_000);
    expect(night[0]!.fromMs).toBe(DST_END_2026 - 3 * 3_600_000);
    core.setPolicy(policy(1, [{ slot: 0, channel: 0, priceNano: NOK, segments: night }]));
    const from = osloToUtc(2026, 10, 24, 22);
    const to = osloToUtc(2026, 10, 25, 8); // 11 real hours, 7 of them at night
    core.process([r(0, 0n, from)]);
    const res = core.process([r(0, 1_100n, to)]);
    expect(res.accruals.map((a) => a.qtyMicro)).toEqual([200n * L, 700n * L, 200n * L]);
    expect(res.accruals.reduce((s, a) => s + a.amountNano, 0n)).toBe(1_800n * NOK);
  });

  test('credit limit: over once, under once after settle, policy version on accruals', () => {
    core.configureSlots([slot(0, 32, L)]);
    core.setPolicy(policy(3, [flatLine(0, NOK)], [0], [{ account: 0, limitNano: 10n * NOK, rearmNano: 5n * NOK }]));
    core.process([r(0, 0n, 0)]);
    const a = core.process([r(0, 8n, 1), r(0, 11n, 2), r(0, 12n, 3)]);
    expect(a.events).toEqual([{ kind: 'credit-over', account: 0, tsMs: 2, value: 11n * NOK }]);
    expect(a.accruals.every((x) => x.policyVersion === 3)).toBe(true);
    expect(core.settle(0, 6n * NOK)).toEqual([]);
    expect(core.settle(0, 1n * NOK)).toEqual([{ kind: 'credit-under', account: 0, tsMs: 3, value: 5n * NOK }]);
    expect(() => core.settle(0, 6n * NOK)).toThrow(CoreSettleError);
    expect(() => core.settle(9, 1n)).toThrow(CoreSettleError);
    expect(() => core.settle(0, -1n)).toThrow(CoreSettleError);
    expect(kinds(core.process([r(0, 20n, 4)]).events)).toEqual(['credit-over']);
  });

  test('setPolicy grows lines, channels and accounts; remainders and totals persist; bad tables rejected', () => {
    core.configureSlots([slot(0, 32, 1n), slot(1, 32, 1n)]);
    core.setPolicy(policy(1, [flatLine(0, 1n)]));
    core.process([r(0, 0n, 0), r(1, 0n, 0), r(0, 999_999n, 1)]);
    expect(core.snapshot().lines).toEqual([{ line: 0, remainder: 999_999n }]);
    core.setPolicy(policy(2, [flatLine(0, 1n), flatLine(1, 2n, 1)], [0, 1]));
    expect(() => core.setPolicy(policy(3, [flatLine(0, -1n)]))).toThrow(CorePolicyError);
    expect(() => core.setPolicy({ ...policy(3, [flatLine(0, 1n, 4)]) })).toThrow(CorePolicyError);
    const overlap = [
      { fromMs: 0, toMs: 10, priceNano: 1n },
      { fromMs: 5, toMs: 20, priceNano: 1n },
    ];
    expect(() => core.setPolicy(policy(3, [{ slot: 0, channel: 0, priceNano: 1n, segments: overlap }]))).toThrow(CorePolicyError);
    const tooMany = Array.from({ length: 65_536 }, () => flatLine(1, 1n));
    expect(() => core.setPolicy(policy(3, tooMany))).toThrow(CorePolicyError);
    const res = core.process([r(0, 1_000_000n, 2), r(1, 1_000_000n, 2)]);
    expect(res.accruals.map((a) => [a.line, a.amountNano, a.policyVersion])).toEqual([
      [0, 1n, 2],
      [1, 2n, 2],
    ]);
    expect(core.snapshot().accounts).toEqual([
      { account: 0, unsettledNano: 1n, overLimit: false },
      { account: 1, unsettledNano: 2n, overLimit: false },
    ]);
  });

  test('overflow: a qty or amount beyond i64 bills nothing and never wraps', () => {
    const max = (1n << 63n) - 1n;
    core.configureSlots([slot(0, 64, max), slot(1, 32, L)]);
    core.setPolicy(policy(1, [flatLine(0, 1n), flatLine(1, max)]));
    core.process([r(0, 0n, 0), r(1, 0n, 0)]);
    const res = core.process([r(0, 2n, 1), r(1, 5n, 1), r(0, 3n, 2)]);
    expect(kinds(res.events)).toEqual(['overflow', 'overflow']);
    expect(res.deltas).toEqual([
      { slot: 1, qtyMicro: 5n * L, fromMs: 0, toMs: 1 },
      { slot: 0, qtyMicro: max, fromMs: 1, toMs: 2 },
    ]);
    expect(res.accruals).toEqual([
      { line: 0, slot: 0, channel: 0, qtyMicro: max, amountNano: max / L, priceNano: 1n, fromMs: 1, toMs: 2, policyVersion: 1 },
    ]);
    expect(core.snapshot().lines).toEqual([
      { line: 0, remainder: max % L },
      { line: 1, remainder: 0n },
    ]);
  });

  test('snapshot/restore round trip, config changes reset only the changed slots', () => {
    core.configureSlots([slot(0, 32, L, 5n * L), slot(1, 16)]);
    core.setPolicy(policy(1, [flatLine(0, 7n)], [0], [{ account: 0, limitNano: 0n, rearmNano: 0n }]));
    core.process([r(0, 1n, 0), r(1, 1n, 0), r(0, 3n, 1_000), r(0, 500n, 2_000)]);
    const snap = core.snapshot();
    expect(snap.slots[0]!.heldRaw).toBe(500n);
    const other = make();
    other.configureSlots([slot(0, 32, L, 5n * L), slot(1, 16)]);
    other.setPolicy(policy(1, [flatLine(0, 7n)], [0], [{ account: 0, limitNano: 0n, rearmNano: 0n }]));
    other.restore(snap);
    expect(other.snapshot()).toEqual(snap);
    expect(other.process([r(0, 501n, 3_000)])).toEqual(core.process([r(0, 501n, 3_000)]));
    expect(() => other.restore({ ...snap, lines: [{ line: 0, remainder: 1_000_000n }] })).toThrow(CoreStateError);
    core.configureSlots([slot(0, 32, L, 5n * L), slot(1, 32)]);
    expect(core.snapshot().slots.map((s) => s.hasBaseline)).toEqual([true, false]);
    expect(() => core.configureSlots([slot(0, 32), slot(0, 16)])).toThrow(CoreConfigError);
    expect(() => core.configureSlots([slot(0, 24 as 16)])).toThrow(CoreConfigError);
  });
});

test('core errors carry distinct GW_ERR_CORE_* codes', () => {
  const errors = [
    new CoreConfigError('x'),
    new CorePolicyError('x'),
    new CoreStateError('x'),
    new CoreSettleError('x'),
    new CoreLoadError('x'),
  ];
  const codes = errors.map((e) => e.code);
  expect(new Set(codes).size).toBe(codes.length);
  for (const c of codes) expect(c).toMatch(/^GW_ERR_CORE_[A-Z]+$/);
});

test('loadWasmCore reports a missing file as CoreLoadError', () => {
  expect(() => loadWasmCore('/nonexistent/core.wasm')).toThrow(CoreLoadError);
});
