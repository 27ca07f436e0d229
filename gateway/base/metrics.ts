/**
 * A tiny Prometheus registry: counters, gauges and (label-less) histograms,
 * rendered in the text exposition format 0.0.4 (`# HELP`, `# TYPE`, escaped
 * label values). No default process metrics: enough for a gateway, no
 * dependency (prom-client pulls in more than we need on a 1-core box).
 *
 * Values are `number | bigint`; bigint keeps large totals exact on the wire.
 * Counter names should end in `_total` (Prometheus convention, not enforced).
 */
import { MetricsError } from './errors';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;
export type MetricValue = number | bigint;

export interface MetricOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

export interface GaugeOptions extends MetricOptions {
  /** Called at every scrape to refresh the gauge (e.g. `g.set({}, queue.length)`). */
  collect?: (gauge: Gauge) => void;
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label value escaping: backslash, double quote and line feed. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escaping: backslash and line feed. */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Sample value as Prometheus writes it (`+Inf`, `-Inf`, `NaN`). */
export function formatSampleValue(v: MetricValue): string {
  if (typeof v === 'bigint') return v.toString();
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  abstract readonly type: 'counter' | 'gauge';
  protected readonly series = new Map<string, { labels: string[]; value: MetricValue }>();

  constructor(opts: MetricOptions) {
    if (!NAME_RE.test(opts.name)) throw new MetricsError(`invalid metric name ${JSON.stringify(opts.name)}`);
    const labelNames = opts.labelNames ?? [];
    for (const l of labelNames) {
      if (!LABEL_RE.test(l) || l.startsWith('__')) {
        throw new MetricsError(`${opts.name}: invalid label name ${JSON.stringify(l)}`);
      }
    }
    if (new Set(labelNames).size !== labelNames.length) {
      throw new MetricsError(`${opts.name}: duplicate label names`);
    }
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = [...labelNames];
  }

  protected key(labels: Labels | undefined): { key: string; values: string[] } {
    const given = labels ?? {};
    const names = Object.keys(given);
    if (names.length !== this.labelNames.length || names.some((n) => !this.labelNames.includes(n))) {
      throw new MetricsError(
        `${this.name}: labels {${names.join(',')}} do not match declared {${this.labelNames.join(',')}}`,
      );
    }
    const values = this.labelNames.map((n) => {
      const v = given[n];
      if (typeof v !== 'string') throw new MetricsError(`${this.name}: label ${n} must be a string`);
      return v;
    });
    return { key: JSON.stringify(values), values };
  }

  protected add(labels: Labels | undefined, by: MetricValue): void {
    const { key, values } = this.key(labels);
    const s = this.series.get(key);
    if (!s) {
      this.series.set(key, { labels: values, value: by });
    } else if (typeof s.value === 'bigint' || typeof by === 'bigint') {
      s.value = toBig(s.value, this.name) + toBig(by, this.name);
    } else {
      s.value += by;
    }
  }

  /** Current value of one series (0 when never touched). */
  get(labels?: Labels): MetricValue {
    return this.series.get(this.key(labels).key)?.value ?? 0;
  }

  /** Forget every series (e.g. a device removed from the config). */
  reset(): void {
    this.series.clear();
  }

  render(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    for (const s of this.series.values()) {
      let labelText = '';
      if (s.labels.length > 0) {
        labelText = `{${this.labelNames.map((n, i) => `${n}="${escapeLabelValue(s.labels[i] ?? '')}"`).join(',')}}`;
      }
      out += `${this.name}${labelText} ${formatSampleValue(s.value)}\n`;
    }
    return out;
  }
}

function toBig(v: MetricValue, name: string): bigint {
  if (typeof v === 'bigint') return v;
  if (!Number.isInteger(v)) throw new MetricsError(`${name}: cannot mix bigint with non-integer ${v}`);
  return BigInt(v);
}

function assertFinite(name: string, v: MetricValue): void {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new MetricsError(`${name}: value ${v} not finite`);
}

export class Counter extends Metric {
  readonly type = 'counter' as const;
  /** Add `by` (default 1, never negative) to the series with these labels. */
  inc(labels?: Labels, by: MetricValue = 1): void {
    assertFinite(this.name, by);
    if (by < 0) throw new MetricsError(`${this.name}: a counter cannot go down (inc by ${by})`);
    this.add(labels, by);
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge' as const;
  readonly collect: ((gauge: Gauge) => void) | undefined;
  constructor(opts: GaugeOptions) {
    super(opts);
    this.collect = opts.collect;
  }
  set(labels: Labels | undefined, value: MetricValue): void {
    const { key, values } = this.key(labels);
    this.series.set(key, { labels: values, value });
  }
  inc(labels?: Labels, by: MetricValue = 1): void {
    this.add(labels, by);
  }
  dec(labels?: Labels, by: MetricValue = 1): void {
    this.add(labels, -by);
  }
  /** Drop one series (a device that went away). */
  remove(labels?: Labels): void {
    this.series.delete(this.key(labels).key);
  }
}

/**
 * A histogram without labels: cumulative `_bucket{le="…"}` counts, `_sum`
 * and `_count`. Buckets are upper bounds, ascending; `+Inf` is added.
 */
export class Histogram {
  readonly type = 'histogram' as const;
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    if (!NAME_RE.test(name)) throw new MetricsError(`invalid metric name ${JSON.stringify(name)}`);
    if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))) {
      throw new MetricsError(`${name}: buckets must be finite and ascending`);
    }
    this.counts = new Array<number>(buckets.length).fill(0);
  }

  observe(v: number): void {
    assertFinite(this.name, v);
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
  }

  /** Observations so far. */
  get(): number {
    return this.count;
  }

  render(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} histogram\n`;
    this.buckets.forEach((b, i) => (out += `${this.name}_bucket{le="${formatSampleValue(b)}"} ${this.counts[i]}\n`));
    out += `${this.name}_bucket{le="+Inf"} ${this.count}\n${this.name}_sum ${formatSampleValue(this.sum)}\n${this.name}_count ${this.count}\n`;
    return out;
  }
}

/** A set of metrics rendered together. Names are unique within a registry. */
export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric | Histogram>();

  counter(opts: MetricOptions): Counter {
    return this.register(new Counter(opts));
  }

  gauge(opts: GaugeOptions): Gauge {
    return this.register(new Gauge(opts));
  }

  histogram(opts: { name: string; help: string; buckets: readonly number[] }): Histogram {
    return this.register(new Histogram(opts.name, opts.help, opts.buckets));
  }

  /** The metric registered under `name`, if any. */
  get(name: string): Counter | Gauge | Histogram | undefined {
    return this.metrics.get(name) as Counter | Gauge | Histogram | undefined;
  }

  names(): string[] {
    return [...this.metrics.keys()];
  }

  /** The whole registry in text format 0.0.4 (runs gauge collectors first). */
  render(): string {
    let out = '';
    for (const m of this.metrics.values()) {
      if (m instanceof Gauge && m.collect) m.collect(m);
      out += m.render();
    }
    return out;
  }

  private register<M extends Metric | Histogram>(m: M): M {
    if (this.metrics.has(m.name)) throw new MetricsError(`metric ${m.name} registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }
}

/**
 * Render several registries as one exposition (the daemon's and the API's own).
 * A name present in two registries is an error: Prometheus rejects duplicate families.
 */
export function renderRegistries(registries: readonly MetricsRegistry[]): string {
  const seen = new Set<string>();
  for (const r of registries) {
    for (const n of r.names()) {
      if (seen.has(n)) throw new MetricsError(`metric ${n} present in two registries`);
      seen.add(n);
    }
  }
  return registries.map((r) => r.render()).join('');
}
