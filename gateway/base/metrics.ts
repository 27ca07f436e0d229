/**
 * The gateway's Prometheus registry, two engines under one name space:
 *
 *  - counters and gauges of our own, rendered in text format 0.0.4, whose
 *    values are `number | bigint` so money-sized totals stay exact on the wire
 *    (prom-client keeps only float64);
 *  - prom-client (`prom`) for histograms and the standard `process_*` and
 *    `nodejs_*` metrics (base/process-metrics.ts), so a scraper sees the names
 *    it expects and the bucket maths is a well-kept library's.
 *
 * `exposition()` renders both; a name present twice is an error, as
 * Prometheus rejects duplicate families. Counter names should end in `_total`.
 */
import * as client from 'prom-client';
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
      throw new MetricsError(`${this.name}: labels {${names.join(',')}} do not match declared {${this.labelNames.join(',')}}`);
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

export interface HistogramOptions extends MetricOptions {
  /** Upper bounds of the buckets, seconds for latencies (+Inf is implied). */
  buckets: readonly number[];
}

/** A prom-client histogram behind our label-object call style. */
export class Histogram {
  constructor(private readonly h: client.Histogram<string>) {}
  observe(labels: Labels | undefined, value: number): void {
    if (!Number.isFinite(value)) return; // a clock glitch never poisons _sum
    if (labels && Object.keys(labels).length > 0) this.h.observe(labels, value);
    else this.h.observe(value);
  }
}

/** Latency buckets from 1 ms to 10 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** A set of metrics rendered together. Names are unique within a registry. */
export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();
  /** prom-client's registry: histograms and the default process / Node.js metrics. */
  readonly prom = new client.Registry();

  counter(opts: MetricOptions): Counter {
    return this.register(new Counter(opts));
  }

  gauge(opts: GaugeOptions): Gauge {
    return this.register(new Gauge(opts));
  }

  histogram(opts: HistogramOptions): Histogram {
    if (!NAME_RE.test(opts.name)) throw new MetricsError(`invalid metric name ${JSON.stringify(opts.name)}`);
    if (this.names().includes(opts.name)) throw new MetricsError(`metric ${opts.name} registered twice`);
    return new Histogram(
      new client.Histogram({
        name: opts.name,
        help: opts.help,
        labelNames: [...(opts.labelNames ?? [])],
        buckets: [...opts.buckets],
        registers: [this.prom],
      }),
    );
  }

  /** The metric registered under `name`, if any. */
  get(name: string): Counter | Gauge | undefined {
    return this.metrics.get(name) as Counter | Gauge | undefined;
  }

  /** Every family name, ours and prom-client's. */
  names(): string[] {
    return [...this.metrics.keys(), ...this.prom.getMetricsAsArray().map((m) => m.name)];
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

  /** Ours and prom-client's families, in text format 0.0.4. */
  async exposition(): Promise<string> {
    // prom-client separates families by blank lines and answers "\n" when empty; one family after another is all we serve
    const prom = (await this.prom.metrics())
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => `${l}\n`)
      .join('');
    return this.render() + prom;
  }

  private register<M extends Metric>(m: M): M {
    if (this.names().includes(m.name)) throw new MetricsError(`metric ${m.name} registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }
}

/**
 * Render several registries as one exposition (the daemon's and the API's own).
 * A name present in two registries is an error: Prometheus rejects duplicate families.
 */
export function renderRegistries(registries: readonly MetricsRegistry[]): string {
  assertDisjoint(registries);
  return registries.map((r) => r.render()).join('');
}

/** Like renderRegistries, with each registry's prom-client families too: what GET /metrics serves. */
export async function exposeRegistries(registries: readonly MetricsRegistry[]): Promise<string> {
  assertDisjoint(registries);
  const parts = await Promise.all(registries.map((r) => r.exposition()));
  return parts.join('');
}

function assertDisjoint(registries: readonly MetricsRegistry[]): void {
  const seen = new Set<string>();
  for (const r of registries) {
    for (const n of r.names()) {
      if (seen.has(n)) throw new MetricsError(`metric ${n} present in two registries`);
      seen.add(n);
    }
  }
}
