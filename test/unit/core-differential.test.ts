/**
 * WasmCore against the BigInt oracle: random slot configs, policies (incl. time-of-use
 * bands around the Oslo 2026 DST changes) and streams with wraps, resets, held jumps,
 * duplicates and invalid values; settlements, policy swaps that grow the tables, and
 * snapshot/restore in between. Every call must give identical results.
 */
import fc from 'fast-check';
import { ReferenceCore } from '../../gateway/core/reference';
import type { CounterWidth, MeteringCore, PolicyTables, SlotConfig } from '../../gateway/core/types';
import { loadWasmCore } from '../../gateway/core/wasm-core';
import { EPOCHS, moveArb, policyArb, slotsArb, StreamBuilder, type Move } from './core-streams';

type Op =
  | { t: 'batch'; moves: Move[] }
  | { t: 'settle'; account: number; pct: number }
  | { t: 'policy'; tables: PolicyTables }
  | { t: 'restore' }
  | { t: 'reconfigure'; drop: number };

const MAX_SLOT = 5;

function opArb(slots: number[]): fc.Arbitrary<Op> {
  const pct = fc.oneof(fc.constant(100), fc.integer({ min: 0, max: 120 }));
  return fc.oneof(
    { weight: 10, arbitrary: fc.array(moveArb(MAX_SLOT, slots), { maxLength: 16 }).map((moves): Op => ({ t: 'batch', moves })) },
    {
      weight: 4,
      arbitrary: fc
        .record({ account: fc.oneof({ weight: 6, arbitrary: fc.nat(4) }, fc.integer({ min: -1, max: 6 })), pct })
        .map((o): Op => ({ t: 'settle', ...o })),
    },
    {
      weight: 1,
      arbitrary: fc
        .nat(1000)
        .chain((v) => policyArb(MAX_SLOT, v, 2, 2))
        .map((tables): Op => ({ t: 'policy', tables })),
    },
    { weight: 1, arbitrary: fc.constant<Op>({ t: 'restore' }) },
    { weight: 1, arbitrary: fc.nat(MAX_SLOT).map((drop): Op => ({ t: 'reconfigure', drop })) },
  );
}

/** Runs f on both cores: both must return the same value or throw the same error class. */
function same<T>(ref: MeteringCore, wasm: MeteringCore, f: (c: MeteringCore) => T): void {
  const run = (c: MeteringCore): { ok: T } | { err: string } => {
    try {
      return { ok: f(c) };
    } catch (e) {
      return { err: (e as Error).constructor.name };
    }
  };
  expect(run(wasm)).toStrictEqual(run(ref));
}

describe('WasmCore equals ReferenceCore', () => {
  test('random scenarios', () => {
    fc.assert(
      fc.property(
        slotsArb(MAX_SLOT + 1).chain((slots) =>
          fc.tuple(fc.constant(slots), fc.array(opArb(slots.map((s) => s.slot)), { minLength: 1, maxLength: 14 })),
        ),
        fc.constantFrom(...EPOCHS),
        policyArb(MAX_SLOT, 1, 1),
        ([slots, ops]: [SlotConfig[], Op[]], epoch, tables) => {
          const ref = new ReferenceCore();
          const wasm = loadWasmCore();
          let configured = slots;
          same(ref, wasm, (c) => c.configureSlots(configured));
          same(ref, wasm, (c) => c.setPolicy(tables));
          const widths = new Map(slots.map((s) => [s.slot, s.widthBits]));
          const stream = new StreamBuilder(epoch, (s) => widths.get(s) ?? (64 as CounterWidth));
          for (const op of ops) {
            switch (op.t) {
              case 'batch': {
                const readings = op.moves.map((m) => stream.reading(m));
                same(ref, wasm, (c) => c.process(readings));
                break;
              }
              case 'settle': {
                const unsettled = ref.snapshot().accounts.find((a) => a.account === op.account)?.unsettledNano ?? 0n;
                same(ref, wasm, (c) => c.settle(op.account, (unsettled * BigInt(op.pct)) / 100n));
                break;
              }
              case 'policy':
                same(ref, wasm, (c) => c.setPolicy(op.tables));
                break;
              case 'restore': {
                const snap = ref.snapshot();
                same(ref, wasm, (c) => c.restore(snap));
                break;
              }
              case 'reconfigure':
                configured = configured.filter((s) => s.slot !== op.drop);
                same(ref, wasm, (c) => c.configureSlots(configured));
                break;
            }
            expect(wasm.snapshot()).toStrictEqual(ref.snapshot());
          }
        },
      ),
      { numRuns: 250 },
    );
  });

  test('restore moves state between the implementations', () => {
    fc.assert(
      fc.property(
        slotsArb(MAX_SLOT + 1).chain((slots) => {
          const moves = fc.array(
            moveArb(
              MAX_SLOT,
              slots.map((s) => s.slot),
            ),
            { maxLength: 30 },
          );
          return fc.tuple(fc.constant(slots), moves, moves);
        }),
        policyArb(MAX_SLOT, 1, 1),
        ([slots, before, after], tables) => {
          const widths = new Map(slots.map((s) => [s.slot, s.widthBits]));
          const stream = new StreamBuilder(EPOCHS[1]!, (s) => widths.get(s) ?? (64 as CounterWidth));
          const ref = new ReferenceCore();
          ref.configureSlots(slots);
          ref.setPolicy(tables);
          ref.process(before.map((m) => stream.reading(m)));
          const wasm = loadWasmCore();
          wasm.configureSlots(slots);
          wasm.setPolicy(tables);
          wasm.restore(ref.snapshot());
          const tail = after.map((m) => stream.reading(m));
          expect(wasm.process(tail)).toStrictEqual(ref.process(tail));
          expect(wasm.snapshot()).toStrictEqual(ref.snapshot());
        },
      ),
      { numRuns: 100 },
    );
  });

  test('credit limits under accruals and settlements', () => {
    const step = fc.oneof(
      fc.record({ t: fc.constant('read' as const), inc: fc.bigInt(0n, 50n), dt: fc.integer({ min: -10, max: 120_000 }) }),
      fc.record({
        t: fc.constant('settle' as const),
        account: fc.nat(2),
        pct: fc.oneof(fc.constant(100), fc.integer({ min: 0, max: 100 })),
      }),
    );
    const limit = fc.record({ limitNano: fc.bigInt(0n, 2_000n * 10n ** 9n), rearmPct: fc.nat(100) });
    const three = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T[]> => fc.array(a, { minLength: 3, maxLength: 3 });
    fc.assert(
      fc.property(three(limit), three(fc.bigInt(10n ** 8n, 10n ** 10n)), fc.array(step, { maxLength: 60 }), (limits, prices, steps) => {
        const tables: PolicyTables = {
          version: 9,
          lines: prices.map((priceNano, line) => ({ line, slot: 0, channel: line, priceNano, segments: [] })),
          channels: prices.map((_p, channel) => ({ channel, account: channel })),
          creditLimits: limits.map((l, account) => ({
            account,
            limitNano: l.limitNano,
            rearmNano: (l.limitNano * BigInt(l.rearmPct)) / 100n,
          })),
        };
        const ref = new ReferenceCore();
        const wasm = loadWasmCore();
        same(ref, wasm, (c) => c.configureSlots([{ slot: 0, widthBits: 32, microPerCount: 1_000_000n, maxRateMicroPerS: 0n }]));
        same(ref, wasm, (c) => c.setPolicy(tables));
        let raw = 0n;
        let ts = EPOCHS[0]!;
        for (const s of steps) {
          if (s.t === 'read') {
            raw = (raw + s.inc) % (1n << 32n);
            ts += s.dt;
            same(ref, wasm, (c) => c.process([{ slot: 0, raw, tsMs: ts }]));
          } else {
            const unsettled = ref.snapshot().accounts.find((a) => a.account === s.account)?.unsettledNano ?? 0n;
            same(ref, wasm, (c) => c.settle(s.account, (unsettled * BigInt(s.pct)) / 100n));
          }
        }
        expect(wasm.snapshot()).toStrictEqual(ref.snapshot());
      }),
      { numRuns: 150 },
    );
  });

  test('large tables: memory grows between table writes and inside a batch', () => {
    const slots: SlotConfig[] = Array.from({ length: 12_000 }, (_, slot) => ({
      slot,
      widthBits: ([16, 32, 64, 0] as const)[slot % 4]!,
      microPerCount: 1_000n,
      maxRateMicroPerS: 0n,
    }));
    const segments = Array.from({ length: 30 }, (_, k) => ({
      fromMs: EPOCHS[0]! + k * 600_000,
      toMs: EPOCHS[0]! + k * 600_000 + 300_000,
      priceNano: 7n + BigInt(k),
    }));
    const tables: PolicyTables = {
      version: 2,
      lines: slots.flatMap((s) => [
        { line: 2 * s.slot, slot: s.slot, channel: s.slot % 300, priceNano: 12_000_000n, segments: s.slot % 7 === 0 ? segments : [] },
        { line: 2 * s.slot + 1, slot: s.slot, channel: (s.slot + 1) % 300, priceNano: 3n, segments: [] },
      ]),
      channels: Array.from({ length: 300 }, (_, channel) => ({ channel, account: channel })),
      creditLimits: [{ account: 299, limitNano: 1_000n, rearmNano: 0n }],
    };
    const ref = new ReferenceCore();
    const wasm = loadWasmCore();
    same(ref, wasm, (c) => c.configureSlots(slots));
    same(ref, wasm, (c) => c.setPolicy(tables));
    for (let round = 0; round < 3; round++) {
      const readings = Array.from({ length: 6_000 }, (_, i) => ({
        slot: (i * 7919) % 12_000,
        raw: BigInt(round * 1_000 + (i % 1_000)),
        tsMs: EPOCHS[0]! + round * 3_600_000 + i,
      }));
      same(ref, wasm, (c) => c.process(readings));
    }
    expect(wasm.snapshot()).toStrictEqual(ref.snapshot());
  });
});
