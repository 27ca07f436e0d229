import { Backoff, DEFAULT_BACKOFF_CAP_MS } from '../../gateway/base/backoff';

describe('Backoff', () => {
  test('ceiling doubles from base and stops at the cap', () => {
    const b = new Backoff({ baseMs: 1000, capMs: 10_000 });
    expect([1, 2, 3, 4, 5, 6, 100, 5000].map((n) => b.ceilingMs(n))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000, 10_000, 10_000]);
    expect(new Backoff({ baseMs: 1000 }).ceilingMs(50)).toBe(DEFAULT_BACKOFF_CAP_MS);
  });

  test('full jitter: delay spans [0, ceiling] with the injected random', () => {
    const low = new Backoff({ baseMs: 100, capMs: 1000, random: () => 0 });
    const high = new Backoff({ baseMs: 100, capMs: 1000, random: () => 0.999999999 });
    const mid = new Backoff({ baseMs: 100, capMs: 1000, random: () => 0.5 });
    expect([1, 2, 3, 4, 5].map((n) => low.delayMs(n))).toEqual([0, 0, 0, 0, 0]);
    expect([1, 2, 3, 4, 5].map((n) => high.delayMs(n))).toEqual([100, 200, 400, 800, 1000]);
    expect([1, 2, 3, 4, 5].map((n) => mid.delayMs(n))).toEqual([50, 100, 200, 400, 500]);
  });

  test('minMs keeps a floor (a failing device is never polled faster than pollMs)', () => {
    const low = new Backoff({ baseMs: 500, minMs: 500, capMs: 4000, random: () => 0 });
    const high = new Backoff({ baseMs: 500, minMs: 500, capMs: 4000, random: () => 0.999999999 });
    expect([1, 2, 3, 4, 5].map((n) => low.delayMs(n))).toEqual([500, 500, 500, 500, 500]);
    expect([1, 2, 3, 4, 5].map((n) => high.delayMs(n))).toEqual([500, 1000, 2000, 4000, 4000]);
    // a floor above the cap is clamped to the cap
    expect(new Backoff({ baseMs: 100, minMs: 9000, capMs: 1000, random: () => 0 }).delayMs(3)).toBe(400);
  });

  test('every delay stays within [min, ceiling] for any random value', () => {
    let r = 0;
    const b = new Backoff({ baseMs: 250, minMs: 100, capMs: 30_000, random: () => r });
    for (let n = 1; n <= 20; n++) {
      for (const x of [0, 0.1, 0.37, 0.5, 0.9, 0.999999]) {
        r = x;
        const d = b.delayMs(n);
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(100);
        expect(d).toBeLessThanOrEqual(b.ceilingMs(n));
      }
    }
  });

  test('next() counts attempts, reset() starts over', () => {
    const b = new Backoff({ baseMs: 10, capMs: 1000, random: () => 0.999999999 });
    expect([b.next(), b.next(), b.next()]).toEqual([10, 20, 40]);
    expect(b.attempt).toBe(3);
    b.reset();
    expect(b.attempt).toBe(0);
    expect(b.next()).toBe(10);
  });

  test('rejects a non-positive base', () => {
    expect(() => new Backoff({ baseMs: 0 })).toThrow(RangeError);
  });
});
