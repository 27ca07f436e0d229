/**
 * DeviceFrame (gateway/poll/device-frame.ts) takes register blocks into
 * columns without decoding integers; what it gives back must be exactly what
 * decodePoint gives for the same registers: the value, the counter raw (as two
 * u32 halves) and which points fail. Checked over every type and word order.
 */
import fc from 'fast-check';
import { decodePoint, type DecodedValue } from '../../gateway/devices/decode';
import { pointWidth, pointWith, type ResolvedPoint, type ScalarType, type WordOrder } from '../../gateway/devices/point';
import { DeviceFrame } from '../../gateway/poll/device-frame';
import { planReads } from '../../gateway/poll/planner';

const ORDERS: WordOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA'];
const TYPES: ScalarType[] = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'bool', 'string'];

/** A point of `type` at `address`; integer and float types may be counters. */
function pointOf(name: string, type: ScalarType, order: WordOrder, address: number, counter: boolean, scale: string): ResolvedPoint {
  const canCount = type !== 'bool' && type !== 'string';
  return pointWith(name, {
    type,
    wordOrder: order,
    address,
    length: type === 'string' ? 6 : 0,
    kind: counter && canCount ? 'counter' : 'gauge',
    scale: type === 'bool' || type === 'string' ? '1' : scale,
  });
}

function expected(p: ResolvedPoint, words: Uint16Array): DecodedValue | Error {
  try {
    return decodePoint(p, words.subarray(p.address, p.address + pointWidth(p)));
  } catch (e) {
    return e as Error;
  }
}

const joined = (f: DeviceFrame, i: number): bigint => (BigInt(f.rawHi[i]!) << 32n) | BigInt(f.rawLo[i]!);

test('values, counter raws and failures equal decodePoint for every type and word order', () => {
  const spec = fc.record({
    types: fc.array(
      fc.record({
        type: fc.constantFrom(...TYPES),
        order: fc.constantFrom(...ORDERS),
        counter: fc.boolean(),
        scale: fc.constantFrom('1', '0.01', '2.5'),
      }),
      { minLength: 1, maxLength: 6 },
    ),
    words: fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 32, maxLength: 32 }),
    nan: fc.boolean(),
  });
  fc.assert(
    fc.property(spec, ({ types, words, nan }) => {
      let address = 0;
      const points = types.map((t, k) => {
        const p = pointOf(`p${k}`, t.type, t.order, address, t.counter, t.scale);
        address += pointWidth(p);
        return p;
      });
      const regs = Uint16Array.from(words);
      if (nan) regs.fill(0xffff, 0, 4); // a NaN float where a float point sits first
      const frame = new DeviceFrame('dev', points);
      frame.beginCycle();
      for (const req of planReads(points)) frame.take(req, regs.subarray(req.address, req.address + req.count));
      frame.endCycle(1000);
      points.forEach((p, i) => {
        const want = expected(p, regs);
        if (want instanceof Error) {
          expect([p.name, frame.fresh[i]]).toEqual([p.name, 0]);
          expect(frame.value(i)).toBeNull();
          return;
        }
        expect([p.name, frame.fresh[i]]).toEqual([p.name, 1]);
        expect(frame.value(i)).toEqual(want.value);
        expect(frame.decodedAt(i)).toEqual(want);
        if (want.counterRaw === undefined) return;
        const fits = want.counterRaw >= 0n && want.counterRaw < 1n << 64n;
        expect([frame.rawBad[i], fits ? joined(frame, i) : 0n]).toEqual([fits ? 0 : 1, fits ? want.counterRaw : 0n]);
      });
    }),
    { numRuns: 400 },
  );
});

test('a failed point keeps its last good value and time; the failure order is kept', () => {
  const a = pointWith('a', { address: 0, kind: 'counter' });
  const b = pointWith('b', { address: 1, type: 'float32' });
  const frame = new DeviceFrame('dev', [a, b]);
  const [req] = planReads([a, b]);
  frame.beginCycle();
  frame.take(req!, Uint16Array.from([7, 0x3f80, 0]));
  frame.endCycle(100);
  expect([frame.value(0), frame.value(1), frame.at[1]]).toEqual(['7', '1', 100]);
  frame.beginCycle();
  expect(frame.take(req!, Uint16Array.from([8, 0x7fc0, 0]))?.message).toMatch(/not a finite number/);
  frame.endCycle(200);
  expect([frame.value(0), frame.value(1), frame.at[0], frame.at[1]]).toEqual(['8', '1', 200, 100]);
  expect(frame.failedNames()).toEqual(['b']);
  expect([frame.rawLo[0], frame.freshCount, frame.lastReadMs]).toEqual([8, 1, 200]);
});

test('bits decode from booleans; a block of the wrong kind fails its points', () => {
  const c = pointWith('c', { area: 'coil', address: 3, type: 'bool' });
  const frame = new DeviceFrame('dev', [c]);
  const [req] = planReads([c]);
  frame.beginCycle();
  frame.take(req!, [true]);
  frame.endCycle(5);
  expect(frame.value(0)).toBe(true);
  frame.beginCycle();
  expect(frame.take(req!, Uint16Array.from([1]))).toBeInstanceOf(Error);
  frame.endCycle(6);
  expect([frame.fresh[0], frame.value(0), frame.failedNames()]).toEqual([0, true, ['c']]);
});
