/**
 * Small numeric helpers of the fleet bench: least-squares slope, per-minute
 * rates from cumulative samples, rounding for the JSON.
 */

export const MiB = 1024 * 1024;
export const DAY_S = 86_400;

/** Round to `d` decimals (null stays null). */
export function rnd(x: number, d?: number): number;
export function rnd(x: number | null, d?: number): number | null;
export function rnd(x: number | null, d = 2): number | null {
  if (x === null || !Number.isFinite(x)) return x === null ? null : x;
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

/** Least-squares slope of y over x (units of y per unit of x); null with fewer than 2 distinct x. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number | null {
  const n = points.length;
  if (n < 2) return null;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den > 0 ? num / den : null;
}

/**
 * Rates of a cumulative quantity per whole minute of [t0, t1]: for minute k,
 * (value at the sample nearest t0 + 60(k+1)) − (value nearest t0 + 60k),
 * divided by the time between those samples. A last partial minute of at
 * least 20 s is included.
 */
export function perMinuteRates<S extends { tS: number }>(samples: readonly S[], t0: number, t1: number, value: (s: S) => number): number[] {
  const nearest = (t: number): S | undefined => {
    let best: S | undefined;
    for (const s of samples) if (!best || Math.abs(s.tS - t) < Math.abs(best.tS - t)) best = s;
    return best;
  };
  const out: number[] = [];
  for (let start = t0; start < t1 - 20; start += 60) {
    const a = nearest(start);
    const b = nearest(Math.min(start + 60, t1));
    if (!a || !b || b.tS <= a.tS) continue;
    out.push((value(b) - value(a)) / (b.tS - a.tS));
  }
  return out;
}

export const mean = (xs: readonly number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
