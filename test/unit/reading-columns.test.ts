/**
 * The column path into the core (gateway/meter/reading-columns.ts): readings
 * pushed as u32 halves and metered with WasmCore.processColumns must give
 * exactly what the BigInt reference gives for the same readings as objects —
 * deltas, accruals, events (with their raw values), wraps, resets, held jumps,
 * out-of-range raws of width-0 slots — and a full buffer is never overrun.
 */
import fc from 'fast-check';
import { ReferenceCore } from '../../gateway/core/reference';
import type { MeteringCore, Reading } from '../../gateway/core/types';
import { loadWasmCore } from '../../gateway/core/wasm-core';
import { meterColumns, ReadingColumns } from '../../gateway/meter/reading-columns';
import { EventBus } from '../../gateway/events';
import { flatLine, L, policy, slot } from './core-fixtures';

function configure(core: MeteringCore): MeteringCore {
  core.configureSlots([slot(0, 16), slot(1, 32, 10_000n), slot(2, 64), slot(3, 0, 1n), slot(4, 16, L, 5n * L)]);
  core.setPolicy(policy(1, [flatLine(0, 1_250_000_000n), flatLine(1, 7n), flatLine(2, 3n), flatLine(3, 999_999_999n), flatLine(4, 10n)]));
  return core;
}

const U64 = 1n << 64n;
const reading = fc.record({
  slot: fc.integer({ min: 0, max: 4 }),
  raw: fc.oneof(fc.bigInt({ min: 0n, max: 70_000n }), fc.bigInt({ min: 0n, max: U64 - 1n }), fc.bigInt({ min: -5n, max: U64 + 5n })),
  dt: fc.integer({ min: -500, max: 5000 }),
});

test('columns through processColumns equal the reference on objects, batch by batch', () => {
  fc.assert(
    fc.property(fc.array(fc.array(reading, { maxLength: 40 }), { minLength: 1, maxLength: 6 }), (batches) => {
      const ref = configure(new ReferenceCore());
      const wasm = configure(loadWasmCore());
      const cols = new ReadingColumns(64);
      let t = Date.UTC(2026, 0, 1);
      for (const batch of batches) {
        const readings: Reading[] = [];
        cols.clear();
        for (const r of batch) {
          t += r.dt;
          // width-limited slots only ever get raws of their width from a decoder; width 0 takes anything
          const raw =
            r.slot === 3 ? r.raw : ((r.raw % U64) + U64) % (r.slot === 0 || r.slot === 4 ? 1n << 16n : r.slot === 1 ? 1n << 32n : U64);
          readings.push({ slot: r.slot, raw, tsMs: t });
          cols.pushBig(r.slot, raw, t);
        }
        expect(meterColumns(wasm, cols)).toEqual(ref.process(readings));
      }
      expect(wasm.snapshot()).toEqual(ref.snapshot());
    }),
    { numRuns: 300 },
  );
});

test('push takes u32 halves without BigInt; a full buffer says so', () => {
  const cols = new ReadingColumns(2);
  cols.push(1, 0xdeadbeef, 0x1, 5);
  expect(cols.full).toBe(false);
  cols.push(2, 7, 0, 6);
  expect(cols.full).toBe(true);
  expect([cols.reading(0), cols.reading(1)]).toEqual([
    { slot: 1, raw: 0x1_deadbeefn, tsMs: 5 },
    { slot: 2, raw: 7n, tsMs: 6 },
  ]);
  cols.clear();
  expect([cols.length, cols.full]).toEqual([0, false]);
});

describe('EventBus reading interest', () => {
  test('nobody listening: null; a plain listener: everything; declared: only its devices and points', () => {
    const bus = new EventBus();
    expect(bus.readingInterest('m1')).toBeNull();
    const off = bus.onReadings(() => {}, { devices: (d) => d === 'm1', points: ['a'] });
    const off2 = bus.onReadings(() => {}, { devices: (d) => d.startsWith('m'), points: (d) => (d === 'm1' ? ['b'] : []) });
    expect(bus.readingInterest('m1')).toEqual(new Set(['a', 'b']));
    expect(bus.readingInterest('m2')).toBeNull(); // matched, but no point of it is looked at
    expect(bus.readingInterest('x')).toBeNull();
    const plain = (): void => {};
    bus.on('reading', plain);
    expect(bus.readingInterest('x')).toBe('all');
    bus.off('reading', plain);
    off();
    off2();
    expect(bus.readingInterest('m1')).toBeNull();
  });
});
