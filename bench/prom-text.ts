/**
 * Reading a gateway's /metrics (Prometheus text format 0.0.4) for the fleet
 * bench: samples by name and labels, sums over label sets, and quantiles of a
 * histogram (`<name>_bucket{le="…"}` cumulative counts, the Prometheus
 * convention) with histogram_quantile's linear interpolation.
 */

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/;
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

const parseValue = (v: string): number => (v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v));

export class PromText {
  readonly samples: PromSample[] = [];
  private readonly byName = new Map<string, PromSample[]>();

  constructor(text: string) {
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const m = LINE_RE.exec(line);
      if (!m) continue;
      const labels: Record<string, string> = {};
      if (m[3])
        for (const l of m[3].matchAll(LABEL_RE)) labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      const s: PromSample = { name: m[1]!, labels, value: parseValue(m[4]!) };
      this.samples.push(s);
      const list = this.byName.get(s.name);
      if (list) list.push(s);
      else this.byName.set(s.name, [s]);
    }
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Sum of a family's samples whose labels include `match` (all of them without). */
  sum(name: string, match: Record<string, string> = {}): number {
    let t = 0;
    for (const s of this.byName.get(name) ?? []) if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) t += s.value;
    return t;
  }

  /** The one sample of an unlabelled family, or null. */
  value(name: string): number | null {
    const list = this.byName.get(name);
    return list && list.length > 0 ? list[0]!.value : null;
  }

  /** Cumulative bucket counts of a histogram, by upper bound (summed over other labels); null when absent. */
  buckets(name: string): Map<number, number> | null {
    const list = this.byName.get(`${name}_bucket`);
    if (!list) return null;
    const out = new Map<number, number>();
    for (const s of list) {
      const le = parseValue(s.labels.le ?? '');
      if (Number.isNaN(le)) continue;
      out.set(le, (out.get(le) ?? 0) + s.value);
    }
    return out;
  }
}

/** Bucket counts observed between two scrapes (end − start). */
export function bucketDelta(start: Map<number, number> | null, end: Map<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [le, n] of end) out.set(le, n - (start?.get(le) ?? 0));
  return out;
}

/**
 * The q-quantile (0 … 1) of cumulative `buckets`, as Prometheus'
 * histogram_quantile: linear within the bucket it falls in, 0 as the lower
 * bound of the first bucket, the highest finite bound when it falls in +Inf.
 * null without observations.
 */
export function histogramQuantile(q: number, buckets: Map<number, number>): number | null {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  if (bounds.length === 0) return null;
  const total = buckets.get(bounds[bounds.length - 1]!) ?? 0;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const le of bounds) {
    const count = buckets.get(le)!;
    if (count >= rank) {
      if (le === Infinity) return prevBound;
      if (count === prevCount) return le;
      return prevBound + ((le - prevBound) * (rank - prevCount)) / (count - prevCount);
    }
    prevBound = le;
    prevCount = count;
  }
  return prevBound;
}
