/**
 * Read queries whose SQL depends on the filter (closed hours, events, vouchers).
 * Each distinct SQL text is prepared once per connection and reused.
 */
import type Database from 'better-sqlite3';
import { LedgerDamagedError, LedgerQueryError } from './errors';
import { unpackText } from './hash-chain';
import type { EventDetailValue, LedgerEventRecord, LedgerEventsFilter, LedgerVoucherRecord, LedgerVouchersFilter } from './store';

type Db = Database.Database;

const cache = new WeakMap<Db, Map<string, Database.Statement>>();

function prepared(db: Db, sql: string): Database.Statement {
  let m = cache.get(db);
  if (!m) cache.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) m.set(sql, (s = db.prepare(sql)));
  return s;
}

/**
 * Closed hours of the window [fromMs rounded down, toMs rounded up to the
 * hour) per line id; the open hours are the store's to add (state-cache.ts).
 */
export function queryClosedHours(
  db: Db,
  fromMs: number | null,
  toMs: number | null,
): Array<{ lineId: number; quantityMicro: bigint; amountNano: bigint }> {
  const rows = prepared(db, 'SELECT line_id, quantity_micro, amount_nano FROM hours WHERE hour_ms >= ? AND hour_ms < ?').all(
    fromMs ?? Number.MIN_SAFE_INTEGER,
    toMs ?? Number.MAX_SAFE_INTEGER,
  ) as Array<{ line_id: number; quantity_micro: string; amount_nano: string }>;
  return rows.map((r) => ({ lineId: r.line_id, quantityMicro: BigInt(r.quantity_micro), amountNano: BigInt(r.amount_nano) }));
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
    'SELECT id, batch_seq, kind, device, point, account, ts_ms, detail FROM events' + (where.length ? ` WHERE ${where.join(' AND ')}` : '');
  const sql =
    f.sinceMs !== undefined && !f.newest
      ? `${base} ORDER BY ts_ms, id LIMIT ?`
      : `SELECT * FROM (${base} ORDER BY ts_ms DESC, id DESC LIMIT ?) ORDER BY ts_ms, id`;
  return (prepared(db, sql).all(...args, limit) as EventRow[]).map(eventFromRow);
}

/** Ids of the events batch `batchSeq` recorded, in order. */
export function queryEventIds(db: Db, batchSeq: number): number[] {
  return (prepared(db, 'SELECT id FROM events WHERE batch_seq = ? ORDER BY id').all(batchSeq) as Array<{ id: number | bigint }>).map((r) =>
    Number(r.id),
  );
}

/**
 * Vouchers ordered by (channel, seq), of one channel or one payee; `sinceSeq` exclusive,
 * `sinceMs` (issued at or after) inclusive; with `limit`, only the oldest `limit` by issue time, and every other one issued
 * in the same millisecond as the last of them, and of the next millisecond when all of them
 * are of `sinceMs`'s (so paging by `sinceMs` = the newest issue time received never skips one
 * and always moves on). The signed JSON comes from the body of the batch that recorded
 * each voucher (schema.ts, version 3): one body read per batch, not per voucher.
 */
export function queryVouchers(db: Db, f: LedgerVouchersFilter = {}): LedgerVoucherRecord[] {
  const { channel, sinceSeq, sinceMs, limit } = f;
  const where: string[] = [];
  const args: Array<string | number> = [];
  if (channel !== undefined) {
    where.push('channel = ?');
    args.push(channel);
  }
  if (f.payee !== undefined) {
    // channels are "payer>payee" (names never hold '>')
    where.push("substr(channel, instr(channel, '>') + 1) = ?");
    args.push(f.payee);
  }
  if (sinceSeq !== undefined) {
    where.push('seq > ?');
    args.push(sinceSeq);
  }
  if (sinceMs !== undefined) {
    where.push('issued_at_ms >= ?');
    args.push(sinceMs);
  }
  if (limit !== undefined) {
    const filter = where.length ? ` WHERE ${where.join(' AND ')}` : '';
    const last = prepared(db, `SELECT issued_at_ms AS t FROM vouchers${filter} ORDER BY issued_at_ms LIMIT 1 OFFSET ?`).get(
      ...args,
      Math.max(0, limit - 1),
    ) as { t: number } | undefined;
    if (last !== undefined) {
      // A page that would hold only the millisecond `sinceMs` names reaches into the next one:
      // paging with since = the newest issue time received always moves on.
      let cutoff = last.t;
      if (sinceMs !== undefined && cutoff <= sinceMs) {
        const next = prepared(db, `SELECT min(issued_at_ms) AS t FROM vouchers WHERE ${[...where, 'issued_at_ms > ?'].join(' AND ')}`).get(
          ...args,
          sinceMs,
        ) as {
          t: number | null;
        };
        cutoff = next.t ?? cutoff;
      }
      where.push('issued_at_ms <= ?');
      args.push(cutoff);
    }
  }
  const sql =
    'SELECT channel, seq, amount_nano, issued_at_ms, batch_seq FROM vouchers' +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
    ' ORDER BY channel, seq';
  type Row = { channel: string; seq: number; amount_nano: string; issued_at_ms: number; batch_seq: number };
  const rows = prepared(db, sql).all(...args) as Row[];
  const bodies = new Map<number, Map<string, string>>();
  return rows.map((r) => {
    let json = bodies.get(r.batch_seq);
    if (!json) bodies.set(r.batch_seq, (json = voucherJsonOfBatch(db, r.batch_seq)));
    const text = json.get(`${r.channel}#${r.seq}`);
    if (text === undefined) throw new LedgerDamagedError(`voucher ${r.channel}#${r.seq} is not in the body of batch ${r.batch_seq}`);
    return {
      channel: r.channel,
      seq: r.seq,
      amountNano: BigInt(r.amount_nano),
      json: text,
      issuedAtMs: r.issued_at_ms,
      batchSeq: r.batch_seq,
    };
  });
}

/** The signed JSON of the vouchers batch `seq` recorded, by "channel#seq" (body versions 1 and 2 alike). */
export function voucherJsonOfBatch(db: Db, seq: number): Map<string, string> {
  const row = prepared(db, 'SELECT body FROM batches WHERE seq = ?').get(seq) as { body: Buffer } | undefined;
  const out = new Map<string, string>();
  if (!row) return out;
  let body: { vouchers?: Array<{ channel: string; seq: number; json: string }> };
  try {
    body = JSON.parse(unpackText(row.body)) as typeof body;
  } catch (err) {
    throw new LedgerDamagedError(`batch ${seq}: body cannot be decoded (${(err as Error).message})`);
  }
  for (const v of body.vouchers ?? []) out.set(`${v.channel}#${v.seq}`, v.json);
  return out;
}
