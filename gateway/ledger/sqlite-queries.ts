/**
 * Read queries whose SQL depends on the filter (totals, events, vouchers).
 * Each distinct SQL text is prepared once per connection and reused.
 */
import type Database from 'better-sqlite3';
import { hourWindow, totalKey } from './batch-aggregates';
import { LedgerQueryError } from './errors';
import type {
  EventDetailValue,
  LedgerEventRecord,
  LedgerEventsFilter,
  LedgerTotal,
  LedgerTotalsFilter,
  LedgerVoucherRecord,
} from './store';

type Db = Database.Database;

const cache = new WeakMap<Db, Map<string, Database.Statement>>();

function prepared(db: Db, sql: string): Database.Statement {
  let m = cache.get(db);
  if (!m) cache.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) m.set(sql, (s = db.prepare(sql)));
  return s;
}

interface TotalRow {
  device: string;
  point: string;
  account: string;
  payee: string;
  quantity_micro: string;
  amount_nano: string;
}

/**
 * Without fromMs/toMs: all-time totals. With either: the sum of the hourly
 * buckets in [fromMs rounded down to the hour, toMs rounded up to the hour).
 */
export function queryTotals(db: Db, f: LedgerTotalsFilter): LedgerTotal[] {
  const where: string[] = [];
  const args: Array<string | number> = [];
  if (f.device !== undefined) {
    where.push('device = ?');
    args.push(f.device);
  }
  if (f.point !== undefined) {
    where.push('point = ?');
    args.push(f.point);
  }
  for (const k of ['fromMs', 'toMs'] as const) {
    if (f[k] !== undefined && !Number.isSafeInteger(f[k])) throw new LedgerQueryError(`ledger totals ${k} must be an integer (epoch ms)`);
  }
  const windowed = f.fromMs !== undefined || f.toMs !== undefined;
  if (windowed) {
    const w = hourWindow(f.fromMs, f.toMs);
    if (w.fromMs !== null) {
      where.push('hour_ms >= ?');
      args.push(w.fromMs);
    }
    if (w.toMs !== null) {
      where.push('hour_ms < ?');
      args.push(w.toMs);
    }
  }
  const sql =
    `SELECT device, point, account, payee, quantity_micro, amount_nano FROM ${windowed ? 'hourly' : 'totals'}` +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
    ' ORDER BY device, point, account, payee';
  const rows = prepared(db, sql).all(...args) as TotalRow[];
  const out = new Map<string, LedgerTotal>();
  for (const r of rows) {
    const k = totalKey(r);
    const t = out.get(k);
    if (t) {
      t.quantityMicro += BigInt(r.quantity_micro);
      t.amountNano += BigInt(r.amount_nano);
    } else {
      out.set(k, {
        device: r.device,
        point: r.point,
        account: r.account,
        payee: r.payee,
        quantityMicro: BigInt(r.quantity_micro),
        amountNano: BigInt(r.amount_nano),
      });
    }
  }
  return [...out.values()];
}

/** A row of the `events` table as SQLite returns it. */
export interface EventRow {
  id: number;
  batch_seq: number;
  kind: string;
  device: string | null;
  point: string | null;
  account: string | null;
  ts_ms: number;
  detail: string;
}

export const DEFAULT_EVENTS_LIMIT = 1000;

export function eventFromRow(r: EventRow): LedgerEventRecord {
  const e: LedgerEventRecord = {
    id: r.id,
    batchSeq: r.batch_seq,
    kind: r.kind,
    tsMs: r.ts_ms,
    detail: JSON.parse(r.detail) as Record<string, EventDetailValue>,
  };
  if (r.device !== null) e.device = r.device;
  if (r.point !== null) e.point = r.point;
  if (r.account !== null) e.account = r.account;
  return e;
}

/**
 * Events ordered by (tsMs, id). With `sinceMs`: those at or after it, the
 * oldest `limit` of them. Without: the newest `limit`. Always returned oldest first.
 */
export function queryEvents(db: Db, f: LedgerEventsFilter): LedgerEventRecord[] {
  const where: string[] = [];
  const args: Array<string | number> = [];
  if (f.kinds !== undefined) {
    if (f.kinds.length === 0) return [];
    where.push(`kind IN (${f.kinds.map(() => '?').join(', ')})`);
    args.push(...f.kinds);
  }
  if (f.device !== undefined) {
    where.push('device = ?');
    args.push(f.device);
  }
  if (f.account !== undefined) {
    where.push('account = ?');
    args.push(f.account);
  }
  if (f.sinceMs !== undefined) {
    if (!Number.isSafeInteger(f.sinceMs)) throw new LedgerQueryError('events sinceMs must be an integer (epoch ms)');
    where.push('ts_ms >= ?');
    args.push(f.sinceMs);
  }
  const limit = f.limit ?? DEFAULT_EVENTS_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 0) throw new LedgerQueryError('events limit must be a non-negative integer');
  const base =
    'SELECT id, batch_seq, kind, device, point, account, ts_ms, detail FROM events' +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '');
  const sql =
    f.sinceMs !== undefined && !f.newest
      ? `${base} ORDER BY ts_ms, id LIMIT ?`
      : `SELECT * FROM (${base} ORDER BY ts_ms DESC, id DESC LIMIT ?) ORDER BY ts_ms, id`;
  return (prepared(db, sql).all(...args, limit) as EventRow[]).map(eventFromRow);
}

/** Ids of the events batch `batchSeq` recorded, in order. */
export function queryEventIds(db: Db, batchSeq: number): number[] {
  return (prepared(db, 'SELECT id FROM events WHERE batch_seq = ? ORDER BY id').all(batchSeq) as Array<{ id: number | bigint }>).map((r) => Number(r.id));
}

/** Vouchers ordered by (channel, seq); `sinceSeq` exclusive. */
export function queryVouchers(db: Db, channel?: string, sinceSeq?: number): LedgerVoucherRecord[] {
  const where: string[] = [];
  const args: Array<string | number> = [];
  if (channel !== undefined) {
    where.push('channel = ?');
    args.push(channel);
  }
  if (sinceSeq !== undefined) {
    where.push('seq > ?');
    args.push(sinceSeq);
  }
  const sql =
    'SELECT channel, seq, amount_nano, json, issued_at_ms, batch_seq FROM vouchers' +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
    ' ORDER BY channel, seq';
  type Row = { channel: string; seq: number; amount_nano: string; json: string; issued_at_ms: number; batch_seq: number };
  return (prepared(db, sql).all(...args) as Row[]).map((r) => ({
    channel: r.channel,
    seq: r.seq,
    amountNano: BigInt(r.amount_nano),
    json: r.json,
    issuedAtMs: r.issued_at_ms,
    batchSeq: r.batch_seq,
  }));
}
