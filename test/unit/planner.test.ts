import fc from 'fast-check';
import type { ResolvedPoint, ScalarType } from '../../gateway/devices/point';
import { pointWidth } from '../../gateway/devices/point';
import type { Area } from '../../gateway/links/link';
import { planReads, sliceFor, splitRequest, unusedCount, type ReadRequest } from '../../gateway/poll/planner';

let seq = 0;
function pt(area: Area, address: number, type: ScalarType = 'uint16', length = 0): ResolvedPoint {
  return {
    name: `p${seq++}`,
    kind: 'gauge',
    area,
    address,
    type,
    length,
    wordOrder: 'ABCD',
    scale: '1',
    offset: '0',
    unit: '',
    writable: false,
    maxRate: '',
  };
}

const names = (r: ReadRequest) => r.points.map((p) => p.point.name);

/** Longest run of registers inside the request that no point uses. */
function longestUnusedRun(r: ReadRequest): number {
  const used = new Uint8Array(r.count);
  for (const p of r.points) used.fill(1, p.offset, p.offset + p.width);
  let best = 0;
  let run = 0;
  for (const u of used) {
    run = u ? 0 : run + 1;
    best = Math.max(best, run);
  }
  return best;
}

describe('planReads', () => {
  test('merges contiguous and near registers, keeps far ones apart', () => {
    const a = pt('holding', 0, 'uint32');
    const b = pt('holding', 2);
    const c = pt('holding', 11); // gap 8 after b: merged
    const d = pt('holding', 21); // gap 9 after c: new request
    const plan = planReads([d, c, b, a]);
    expect(plan).toHaveLength(2);
    expect(plan[0]).toMatchObject({ area: 'holding', address: 0, count: 12 });
    expect(names(plan[0])).toEqual([a.name, b.name, c.name]);
    expect(plan[0].points.map((p) => p.offset)).toEqual([0, 2, 11]);
    expect(plan[1]).toMatchObject({ address: 21, count: 1 });
  });

  test('areas are never mixed; bits use the bit limit', () => {
    const plan = planReads([pt('holding', 0), pt('input', 0), pt('coil', 0), pt('coil', 1999), pt('discrete', 5)]);
    expect(plan.map((r) => [r.area, r.address, r.count])).toEqual([
      ['holding', 0, 1],
      ['input', 0, 1],
      ['coil', 0, 1],
      ['coil', 1999, 1],
      ['discrete', 5, 1],
    ]);
    const wide = planReads([pt('coil', 0), pt('coil', 5), pt('coil', 1999)], { maxGap: 2000 });
    expect(wide.map((r) => [r.address, r.count])).toEqual([[0, 2000]]);
  });

  test('respects the register limit and maxGap 0', () => {
    const pts = Array.from({ length: 130 }, (_, i) => pt('holding', i));
    const plan = planReads(pts);
    expect(plan.map((r) => r.count)).toEqual([125, 5]);
    expect(planReads([pt('holding', 0), pt('holding', 2)], { maxGap: 0 })).toHaveLength(2);
    expect(planReads([pt('holding', 0), pt('holding', 1)], { maxGap: 0 })).toHaveLength(1);
    expect(planReads(pts, { maxRegisters: 10 }).map((r) => r.count)).toEqual(Array(13).fill(10));
  });

  test('overlapping points share a request', () => {
    const big = pt('holding', 10, 'uint64');
    const inner = pt('holding', 11);
    const plan = planReads([inner, big]);
    expect(plan).toHaveLength(1);
    expect(plan[0]).toMatchObject({ address: 10, count: 4 });
    expect(plan[0].points.find((p) => p.point === inner)?.offset).toBe(1);
  });

  test('a point wider than a learned limit is read alone', () => {
    const plan = planReads([pt('holding', 0, 'uint64'), pt('holding', 4)], { maxRegisters: 2 });
    expect(plan.map((r) => [r.address, r.count])).toEqual([
      [0, 4],
      [4, 1],
    ]);
  });

  test('sliceFor cuts a point out of a merged read', () => {
    const [r] = planReads([pt('holding', 0), pt('holding', 3, 'uint32')]);
    const data = Uint16Array.from([9, 0, 0, 7, 8]);
    expect(Array.from(sliceFor(data, r.points[1]))).toEqual([7, 8]);
    const [bits] = planReads([pt('coil', 2), pt('coil', 4)]);
    expect(sliceFor([true, false, false], bits.points[1])).toEqual([false]);
  });

  test('splitRequest halves by points and re-tightens the spans', () => {
    const pts = [pt('holding', 0), pt('holding', 3), pt('holding', 6, 'uint32'), pt('holding', 9)];
    const [r] = planReads(pts);
    expect(unusedCount(r)).toBe(5); // 1, 2, 4, 5, 8
    const [x, y] = splitRequest(r);
    expect([x.address, x.count, names(x)]).toEqual([0, 4, [pts[0].name, pts[1].name]]);
    expect([y.address, y.count, names(y)]).toEqual([6, 4, [pts[2].name, pts[3].name]]);
    expect(y.points.map((p) => p.offset)).toEqual([0, 3]);
    const [single] = splitRequest(x);
    expect(() => splitRequest(single)).toThrow(RangeError);
  });

  test('property: every point exactly once, within limits, no gap over maxGap', () => {
    const types: ScalarType[] = ['uint16', 'int32', 'float32', 'uint64', 'float64', 'string'];
    const arbPoint = fc.record({
      area: fc.constantFrom<Area>('holding', 'input', 'coil', 'discrete'),
      address: fc.integer({ min: 0, max: 400 }),
      type: fc.constantFrom(...types),
      length: fc.integer({ min: 1, max: 20 }),
    });
    fc.assert(
      fc.property(
        fc.array(arbPoint, { maxLength: 60 }),
        fc.integer({ min: 10, max: 125 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 12 }),
        (specs, maxRegisters, maxBits, maxGap) => {
          const points = specs.map((s) => pt(s.area, s.address, s.type, s.type === 'string' ? s.length : 0));
          const plan = planReads(points, { maxRegisters, maxBits, maxGap });
          const seen = new Map<ResolvedPoint, number>();
          for (const r of plan) {
            const limit = r.area === 'coil' || r.area === 'discrete' ? maxBits : maxRegisters;
            expect(r.count).toBeLessThanOrEqual(limit);
            expect(longestUnusedRun(r)).toBeLessThanOrEqual(maxGap);
            for (const p of r.points) {
              expect(p.point.area).toBe(r.area);
              expect(p.offset).toBe(p.point.address - r.address);
              expect(p.offset).toBeGreaterThanOrEqual(0);
              expect(p.offset + p.width).toBeLessThanOrEqual(r.count);
              expect(p.width).toBe(pointWidth(p.point));
              seen.set(p.point, (seen.get(p.point) ?? 0) + 1);
            }
            // the span is tight: it starts at a point and ends at a point
            expect(Math.min(...r.points.map((p) => p.offset))).toBe(0);
            expect(Math.max(...r.points.map((p) => p.offset + p.width))).toBe(r.count);
          }
          expect(seen.size).toBe(points.length);
          for (const n of seen.values()) expect(n).toBe(1);
          // splitting any merged request keeps every point exactly once
          for (const r of plan.filter((q) => q.points.length > 1)) {
            const [a, b] = splitRequest(r);
            expect([...names(a), ...names(b)].sort()).toEqual([...names(r)].sort());
            for (const half of [a, b]) {
              expect(half.address).toBeGreaterThanOrEqual(r.address);
              expect(half.address + half.count).toBeLessThanOrEqual(r.address + r.count);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
