/**
 * Batching never changes the result: any split of a stream into batches gives the
 * same deltas, accruals, events and state; and a flat tariff bills exactly
 * floor(Σ qty_i × price / 10^6) per line, the remainder carried in between.
 */
import fc from 'fast-check';
import type { BatchResult, CounterWidth, MeteringCore, Reading } from '../../gateway/core/types';
import { CORES } from './core-fixtures';
import { EPOCHS, moveArb, policyArb, slotsArb, StreamBuilder } from './core-streams';

function inBatches(core: MeteringCore, readings: Reading[], cuts: number[]): BatchResult {
  const bounds = [0, ...cuts.map((c) => c % (readings.length + 1)).sort((a, b) => a - b), readings.length];
  const all: BatchResult = { deltas: [], accruals: [], events: [] };
  for (let i = 0; i + 1 < bounds.length; i++) {
    const res = core.process(readings.slice(bounds[i], bounds[i + 1])); // zero-length batches included
    all.deltas.push(...res.deltas);
    all.accruals.push(...res.accruals);
    all.events.push(...res.events);
  }
  return all;
}

describe.each(CORES)('%s', (_name, make) => {
  test('splitting a stream into batches at arbitrary points gives identical results and state', () => {
    fc.assert(
      fc.property(
        slotsArb(5).chain((slots) =>
          fc.tuple(
            fc.constant(slots),
            fc.array(
              moveArb(
                4,
                slots.map((s) => s.slot),
              ),
              { maxLength: 60 },
            ),
          ),
        ),
        policyArb(4, 1, 1),
        fc.constantFrom(...EPOCHS),
        fc.array(fc.nat(100), { maxLength: 8 }),
        ([slots, moves], tables, epoch, cuts) => {
          const widths = new Map(slots.map((s) => [s.slot, s.widthBits]));
          const stream = new StreamBuilder(epoch, (s) => widths.get(s) ?? (64 as CounterWidth));
          const readings = moves.map((m) => stream.reading(m));
          const [whole, split] = [make(), make()];
          for (const c of [whole, split]) {
            c.configureSlots(slots);
            c.setPolicy(tables);
          }
          expect(inBatches(split, readings, cuts)).toStrictEqual(whole.process(readings));
          expect(split.snapshot()).toStrictEqual(whole.snapshot());
        },
      ),
      { numRuns: 120 },
    );
  });

  test('flat tariff: each line bills exactly floor(Σ qty_i × price / 10^6)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<CounterWidth>(0, 16, 32, 64),
        fc.bigInt(1n, 1_000_000n),
        fc.array(fc.bigInt(0n, 1_000_000_000n), { minLength: 1, maxLength: 3 }),
        fc.array(fc.bigInt(0n, 1n << 24n), { minLength: 1, maxLength: 50 }),
        fc.array(fc.nat(60), { maxLength: 5 }),
        (width, microPerCount, prices, incs, cuts) => {
          const core = make();
          core.configureSlots([{ slot: 0, widthBits: width, microPerCount, maxRateMicroPerS: 0n }]);
          core.setPolicy({
            version: 1,
            lines: prices.map((priceNano, line) => ({ line, slot: 0, channel: 0, priceNano, segments: [] })),
            channels: [{ channel: 0, account: 0 }],
            creditLimits: [],
          });
          const half = width === 0 ? 1n << 62n : 1n << BigInt(width - 1);
          const mod = width === 0 ? 1n << 63n : 1n << BigInt(width);
          let raw = 17n % mod;
          const readings: Reading[] = [{ slot: 0, raw, tsMs: 0 }];
          incs.forEach((inc, i) => {
            raw = (raw + (inc % half)) % mod;
            readings.push({ slot: 0, raw, tsMs: (i + 1) * 1000 });
          });
          const res = inBatches(core, readings, cuts);
          const qtyTotal = res.deltas.reduce((s, d) => s + d.qtyMicro, 0n);
          expect(qtyTotal).toBe(incs.reduce((s, inc) => s + (inc % half), 0n) * microPerCount);
          prices.forEach((price, line) => {
            const billed = res.accruals.filter((a) => a.line === line).reduce((s, a) => s + a.amountNano, 0n);
            expect(billed).toBe((qtyTotal * price) / 1_000_000n);
            expect(core.snapshot().lines[line]!.remainder).toBe((qtyTotal * price) % 1_000_000n);
          });
          expect(res.events.map((e) => e.kind).filter((k) => k !== 'baseline' && k !== 'rollover')).toEqual([]);
        },
      ),
      { numRuns: 150 },
    );
  });

  test('time-of-use: the pieces of a delta sum to it and the line bills floor(Σ piece × price / 10^6)', () => {
    fc.assert(
      fc.property(
        policyArb(0, 1, 1),
        fc.array(fc.record({ inc: fc.bigInt(0n, 10_000n), dt: fc.integer({ min: 1, max: 7_200_000 }) }), { minLength: 1, maxLength: 40 }),
        fc.constantFrom(...EPOCHS),
        (tables, steps, epoch) => {
          const core = make();
          core.configureSlots([{ slot: 0, widthBits: 32, microPerCount: 1_000n, maxRateMicroPerS: 0n }]);
          const lines = tables.lines.map((l) => ({
            ...l,
            slot: 0,
            priceNano: l.priceNano % 10n ** 12n,
            segments: l.segments.map((s) => ({ ...s, priceNano: s.priceNano % 10n ** 12n })),
          }));
          core.setPolicy({ ...tables, lines });
          let raw = 0n;
          let ts = epoch;
          core.process([{ slot: 0, raw, tsMs: ts }]);
          const exact = new Map<number, bigint>();
          for (const s of steps) {
            raw += s.inc;
            ts += s.dt;
            const res = core.process([{ slot: 0, raw, tsMs: ts }]);
            for (const line of lines) {
              const pieces = res.accruals.filter((a) => a.line === line.line);
              expect(pieces.reduce((sum, a) => sum + a.qtyMicro, 0n)).toBe(s.inc * 1_000n);
              for (const a of pieces) exact.set(a.line, (exact.get(a.line) ?? 0n) + a.qtyMicro * a.priceNano);
            }
          }
          const snap = core.snapshot();
          for (const line of lines) {
            expect(snap.lines[line.line]!.remainder).toBe((exact.get(line.line) ?? 0n) % 1_000_000n);
          }
          const billed = snap.accounts.reduce((sum, a) => sum + a.unsettledNano, 0n);
          expect(billed).toBe(lines.reduce((sum, l) => sum + (exact.get(l.line) ?? 0n) / 1_000_000n, 0n));
        },
      ),
      { numRuns: 100 },
    );
  });
});
