/**
 * Reading history (docs/ledger.md, "History"): off by default. Where
 * `ledger.history` is on, readings are downsampled per interval (`every`)
 * into one sample per point — count, last value, and for numeric points
 * min / max / mean — and the ledger keeps at most `maxBytes` of them, the
 * oldest intervals dropped first. History is not money: it stays outside the
 * hash chain, and nothing of the totals depends on it.
 *
 * Storage: one row per interval (`history`, keyed by the interval start),
 * its samples as raw-deflated JSON; the size bound counts those bytes.
 */
import type Database from 'better-sqlite3';
import { packText, unpackText } from './hash-chain';
import type { LedgerHistoryFilter, LedgerSample } from './store';

const NUMERIC = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

interface Acc {
  device: string;
  point: string;
  atMs: number;
  count: number;
  last: string;
  min: number;
  max: number;
  minText: string | null;
  maxText: string | null;
  sum: number;
  numeric: number;
}

/** Collects readings into per-interval samples (in memory, one accumulator per point and open interval). */
export class HistorySampler {
  private readonly open = new Map<string, Acc>();

  constructor(readonly everyMs: number) {
    if (!Number.isSafeInteger(everyMs) || everyMs < 1000) throw new RangeError('history interval must be at least 1 s');
  }

  observe(device: string, point: string, tsMs: number, value: string): void {
    const atMs = Math.floor(tsMs / this.everyMs) * this.everyMs;
    const key = `${device}\u0000${point}\u0000${atMs}`;
    let a = this.open.get(key);
    if (!a) {
      a = { device, point, atMs, count: 0, last: value, min: Infinity, max: -Infinity, minText: null, maxText: null, sum: 0, numeric: 0 };
      this.open.set(key, a);
    }
    a.count++;
    a.last = value;
    if (NUMERIC.test(value)) {
      const v = Number(value);
      if (!Number.isFinite(v)) return;
      a.numeric++;
      a.sum += v;
      if (v < a.min) [a.min, a.minText] = [v, value];
      if (v > a.max) [a.max, a.maxText] = [v, value];
    }
  }

  /** The samples of every interval that ended by `nowMs` (all of them with `all`), removed from the sampler. */
  take(nowMs: number, all = false): LedgerSample[] {
    const out: LedgerSample[] = [];
    for (const [k, a] of this.open) {
      if (!all && a.atMs + this.everyMs > nowMs) continue;
      this.open.delete(k);
      const numeric = a.numeric === a.count && a.numeric > 0;
      out.push({
        device: a.device,
        point: a.point,
        atMs: a.atMs,
        count: a.count,
        last: a.last,
        min: numeric ? a.minText : null,
        max: numeric ? a.maxText : null,
        mean: numeric ? String(a.sum / a.numeric) : null,
      });
    }
    return out;
  }
}

type Row = [string, string, number, string, string | null, string | null, string | null];

function decodeRow(atMs: number, data: Buffer): LedgerSample[] {
  return (JSON.parse(unpackText(data)) as Row[]).map(([device, point, count, last, min, max, mean]) => ({
    device,
    point,
    atMs,
    count,
    last,
    min,
    max,
    mean,
  }));
}

/** One sample of two of the same point and interval (readings that came after the first was written). */
function mergeSamples(a: LedgerSample, b: LedgerSample): LedgerSample {
  const numeric = a.mean !== null && b.mean !== null;
  const pick = (x: string | null, y: string | null, less: boolean): string | null =>
    x === null || y === null ? null : Number(y) < Number(x) === less ? y : x;
  return {
    ...b,
    count: a.count + b.count,
    min: numeric ? pick(a.min, b.min, true) : null,
    max: numeric ? pick(a.max, b.max, false) : null,
    mean: numeric ? String((Number(a.mean) * a.count + Number(b.mean) * b.count) / (a.count + b.count)) : null,
  };
}

/** Inside a write transaction: add samples (merged into their interval's row), then drop the oldest rows beyond `maxBytes`. Returns samples dropped. */
export function writeHistory(db: Database.Database, samples: readonly LedgerSample[], maxBytes: number): number {
  const byInterval = new Map<number, LedgerSample[]>();
  for (const s of samples) {
    const list = byInterval.get(s.atMs);
    if (list) list.push(s);
    else byInterval.set(s.atMs, [s]);
  }
  const get = db.prepare('SELECT data FROM history WHERE at_ms = ?');
  const put = db.prepare('INSERT INTO history (at_ms, data) VALUES (?, ?) ON CONFLICT (at_ms) DO UPDATE SET data = excluded.data');
  for (const [atMs, list] of byInterval) {
    const old = get.get(atMs) as { data: Buffer } | undefined;
    const merged = new Map<string, LedgerSample>();
    for (const s of old ? [...decodeRow(atMs, old.data), ...list] : list) {
      const k = `${s.device}\u0000${s.point}`;
      const prev = merged.get(k);
      merged.set(k, prev ? mergeSamples(prev, s) : s);
    }
    const rows: Row[] = [...merged.values()].map((s) => [s.device, s.point, s.count, s.last, s.min, s.max, s.mean]);
    put.run(atMs, packText(JSON.stringify(rows)));
  }
  let total = (db.prepare('SELECT coalesce(sum(length(data)), 0) AS n FROM history').get() as { n: number }).n;
  let dropped = 0;
  const oldest = db.prepare('SELECT at_ms, data FROM history ORDER BY at_ms LIMIT 1');
  const del = db.prepare('DELETE FROM history WHERE at_ms = ?');
  while (total > maxBytes) {
    const row = oldest.get() as { at_ms: number; data: Buffer } | undefined;
    if (!row) break;
    dropped += decodeRow(row.at_ms, row.data).length;
    total -= row.data.length;
    del.run(row.at_ms);
  }
  return dropped;
}

export function readHistory(db: Database.Database, f: LedgerHistoryFilter): LedgerSample[] {
  const rows = db
    .prepare('SELECT at_ms, data FROM history WHERE at_ms >= ? AND at_ms < ? ORDER BY at_ms')
    .all(f.fromMs ?? Number.MIN_SAFE_INTEGER, f.toMs ?? Number.MAX_SAFE_INTEGER) as Array<{ at_ms: number; data: Buffer }>;
  const out: LedgerSample[] = [];
  for (const r of rows) {
    const list = decodeRow(r.at_ms, r.data).filter(
      (s) => (f.device === undefined || s.device === f.device) && (f.point === undefined || s.point === f.point),
    );
    list.sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : a.point < b.point ? -1 : a.point > b.point ? 1 : 0));
    out.push(...list);
  }
  return out;
}
