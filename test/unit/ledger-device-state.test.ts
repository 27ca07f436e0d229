/** The packed per-device state (device-state.ts) and its varints: exact round trips, deterministic bytes, compact. */
import fc from 'fast-check';
import { DeviceState } from '../../gateway/ledger/device-state';
import { ByteReader, ByteWriter } from '../../gateway/ledger/varint';

const HOUR = 3_600_000;
const big = fc.oneof(
  fc.bigInt({ min: -(2n ** 130n), max: 2n ** 130n }),
  fc.bigInt({ min: -1000n, max: 1000n }),
  fc.constantFrom(0n, 2n ** 64n - 1n, -(2n ** 63n), 10n ** 30n),
);
const time = fc.integer({ min: 0, max: 2 ** 44 });

describe('varints', () => {
  it('round-trip signed bigints and decimal-scaled bigints of any size', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            big,
            big,
            fc.integer({ min: -(2 ** 52) + 1, max: 2 ** 52 - 1 }),
            fc.oneof(fc.nat(), fc.constantFrom(2 ** 53 - 1, 2 ** 49, 2 ** 49 - 1)),
          ),
        ),
        (values) => {
          const w = new ByteWriter();
          for (const [a, b, i, u] of values) {
            w.big(a);
            w.dec(b);
            w.int(i);
            w.uint(u);
          }
          const r = new ByteReader(w.bytes());
          for (const [a, b, i, u] of values) expect([r.big(), r.dec(), r.int(), r.uint()]).toEqual([a, b, i, u]);
          expect(r.done).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('take one byte for small values and factor decimal zeros out', () => {
    const size = (f: (w: ByteWriter) => void): number => {
      const w = new ByteWriter();
      f(w);
      return w.bytes().length;
    };
    expect(size((w) => w.big(-64n))).toBe(1);
    expect(size((w) => w.big(63n))).toBe(1);
    expect(size((w) => w.big(64n))).toBe(2);
    expect(size((w) => w.big(7_200_000_000n))).toBe(5);
    expect(size((w) => w.dec(7_200_000_000n))).toBe(2); // 72 × 10^8
    expect(size((w) => w.dec(3n * 10n ** 15n))).toBe(1);
    expect(() => new ByteReader(Buffer.from([0x80])).big()).toThrow(RangeError);
    const w = new ByteWriter();
    w.int(2 ** 48); // zigzag 2^49: still a number
    w.uint(2 ** 53 - 1);
    const r = new ByteReader(w.bytes());
    expect([r.int(), r.uint()]).toEqual([2 ** 48, 2 ** 53 - 1]);
  });
});

const slotArb = fc.record({
  hasBaseline: fc.boolean(),
  lastRaw: big,
  lastTsMs: time,
  heldRaw: fc.option(big, { nil: null }),
  heldTsMs: time,
});
const openArb = fc.option(
  fc.record({ hourMs: fc.integer({ min: 0, max: 2 ** 30 }).map((h) => h * HOUR), quantityMicro: big, amountNano: big }),
  { nil: null },
);

describe('DeviceState', () => {
  it('decodes exactly what it encoded, with the same layout', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), slotArb, { maxKeys: 6 }),
        fc.array(
          fc.tuple(fc.string({ minLength: 1, maxLength: 4 }), fc.string({ minLength: 1, maxLength: 4 }), fc.string({ maxLength: 4 }), big),
          { maxLength: 5 },
        ),
        fc.array(fc.tuple(fc.nat({ max: 10_000 }), openArb), { maxLength: 6 }),
        (slots, rems, opens) => {
          const d = new DeviceState('dev');
          for (const [p, s] of Object.entries(slots)) d.putSlot(p, { ...s, heldTsMs: s.heldRaw === null ? 0 : s.heldTsMs });
          for (const [p, a, b, rem] of rems) d.putRemainder(p, a, b, rem);
          for (const [id, o] of opens) {
            d.openOf(id);
            d.open.set(id, o);
          }
          const bytes = d.encode();
          const back = DeviceState.decode('dev', d.layoutText(), bytes);
          expect([...back.slots]).toEqual([...d.slots]);
          expect(back.remainders).toEqual(d.remainders);
          expect([...back.open]).toEqual([...d.open]);
          expect(back.layoutText()).toBe(d.layoutText());
          expect(back.encode()).toEqual(bytes); // deterministic
        },
      ),
      { numRuns: 300 },
    );
  });

  it('packs a device read in one poll at about 15 bytes a priced counter', () => {
    const d = new DeviceState('meter-1');
    const ts = Date.UTC(2026, 0, 5, 9, 0, 3);
    for (let p = 0; p < 30; p++) {
      d.putSlot(`c${p}`, { hasBaseline: true, lastRaw: BigInt(40_000 + p * 777), lastTsMs: ts, heldRaw: null, heldTsMs: 0 });
      d.putRemainder(`c${p}`, 'meter-1', 'grid', BigInt(123_457 * (p + 1)) % 1_000_000n);
      d.openOf(p + 1);
      const q = BigInt(3600 + p) * 1_000_000n;
      d.open.set(p + 1, { hourMs: Date.UTC(2026, 0, 5, 9), quantityMicro: q, amountNano: (q * 12_345_678n) / 1_000_000n });
    }
    expect(d.encode().length).toBeLessThanOrEqual(30 * 15 + 10); // raw 3, remainder 3, quantity 2, amount 6, a header
  });

  it('refuses a malformed row', () => {
    const d = new DeviceState('x');
    d.putSlot('p', { hasBaseline: true, lastRaw: 5n, lastTsMs: 1000, heldRaw: null, heldTsMs: 0 });
    const bytes = d.encode();
    expect(() => DeviceState.decode('x', d.layoutText(), bytes.subarray(0, bytes.length - 1))).toThrow(RangeError);
    expect(() => DeviceState.decode('x', d.layoutText(), Buffer.concat([bytes, Buffer.from([0])]))).toThrow(/trailing/);
    expect(() => DeviceState.decode('x', '{"s":[]}', bytes)).toThrow(/layout/);
  });
});
