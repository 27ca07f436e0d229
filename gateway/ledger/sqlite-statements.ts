/**
 * The prepared statements of the hot path, created once per connection.
 * Bigints go in and come out as decimal TEXT (see schema.ts).
 */
import type Database from 'better-sqlite3';

export interface HeadRow {
  seq: number;
  hash: string;
}
export interface AmountRow {
  quantity_micro: string;
  amount_nano: string;
}
export interface ChannelDbRow {
  channel: string;
  payer: string;
  payee: string;
  accrued_nano: string;
  vouchered_nano: string;
  last_seq: number;
}

/**
 * A multi-row upsert: `INSERT INTO t (cols) VALUES (..), (..), .. ON CONFLICT ..`
 * with up to CHUNK rows per statement (one prepared statement per row count,
 * made on first use). Rows are processed in order, so a later duplicate key
 * updates an earlier one. ~25% cheaper per row than one statement per row.
 */
export class BulkUpsert {
  static readonly CHUNK = 32;
  private readonly byRows = new Map<number, Database.Statement>();
  private readonly row: string;

  constructor(
    private readonly db: Database.Database,
    private readonly insert: string,
    private readonly width: number,
    private readonly onConflict: string,
  ) {
    this.row = `(${new Array(width).fill('?').join(', ')})`;
  }

  private statement(rows: number): Database.Statement {
    let s = this.byRows.get(rows);
    if (!s) {
      s = this.db.prepare(`${this.insert} VALUES ${new Array(rows).fill(this.row).join(', ')} ${this.onConflict}`);
      this.byRows.set(rows, s);
    }
    return s;
  }

  /** `values`: the rows' parameters back to back (a multiple of `width`). */
  run(values: unknown[]): void {
    const rows = values.length / this.width;
    for (let at = 0; at < rows; at += BulkUpsert.CHUNK) {
      const n = Math.min(BulkUpsert.CHUNK, rows - at);
      this.statement(n).run(n === rows ? values : values.slice(at * this.width, (at + n) * this.width));
    }
  }
}

export function prepareStatements(db: Database.Database) {
  return {
    head: db.prepare('SELECT seq, hash FROM batches ORDER BY seq DESC LIMIT 1'),
    body: db.prepare('SELECT body FROM batches WHERE seq = ?'),
    insertBatch: db.prepare(
      `INSERT INTO batches (seq, at_ms, policy_version, n_readings, n_deltas, n_accruals, n_events, n_vouchers, prev_hash, hash, body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertLine: db.prepare(
      'INSERT INTO lines (id, device, point, account, payee, quantity_micro, amount_nano, last_hour_ms) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)',
    ),
    putLineTotals: new BulkUpsert(
      db,
      'INSERT INTO lines (id, device, point, account, payee, quantity_micro, amount_nano, last_hour_ms)',
      8,
      'ON CONFLICT (id) DO UPDATE SET quantity_micro = excluded.quantity_micro, amount_nano = excluded.amount_nano, last_hour_ms = excluded.last_hour_ms',
    ),
    getHour: db.prepare('SELECT quantity_micro, amount_nano FROM hours WHERE hour_ms = ? AND line_id = ?'),
    putHours: new BulkUpsert(
      db,
      'INSERT INTO hours (hour_ms, line_id, quantity_micro, amount_nano)',
      4,
      'ON CONFLICT (hour_ms, line_id) DO UPDATE SET quantity_micro = excluded.quantity_micro, amount_nano = excluded.amount_nano',
    ),
    putLayout: db.prepare(
      'INSERT INTO device_layout (id, device, layout) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET layout = excluded.layout',
    ),
    putDeviceState: db.prepare('INSERT INTO device_state (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data'),
    putChannel: db.prepare(
      `INSERT INTO channels (channel, payer, payee, accrued_nano, vouchered_nano, last_seq) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (channel) DO UPDATE SET accrued_nano = excluded.accrued_nano, vouchered_nano = excluded.vouchered_nano,
       last_seq = excluded.last_seq`,
    ),
    voucherAmount: db.prepare('SELECT amount_nano FROM vouchers WHERE channel = ? AND seq = ?'),
    insertVoucher: db.prepare('INSERT INTO vouchers (channel, seq, amount_nano, issued_at_ms, batch_seq) VALUES (?, ?, ?, ?, ?)'),
    insertEvent: db.prepare('INSERT INTO events (batch_seq, kind, device, point, account, ts_ms, detail) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    latestPolicy: db.prepare('SELECT version, hash, flows_json, at_ms, batch_seq FROM policies ORDER BY version DESC LIMIT 1'),
    insertPolicy: db.prepare('INSERT INTO policies (version, hash, flows_json, at_ms, batch_seq) VALUES (?, ?, ?, ?, ?)'),
    putAccounts: new BulkUpsert(
      db,
      'INSERT INTO account_state (account, unsettled_nano, over_limit, batch_seq)',
      4,
      `ON CONFLICT (account) DO UPDATE SET unsettled_nano = excluded.unsettled_nano, over_limit = excluded.over_limit,
       batch_seq = excluded.batch_seq`,
    ),
    putAlarm: db.prepare(
      'INSERT INTO alarm_state (policy, device, point, since_ms) VALUES (?, ?, ?, ?) ON CONFLICT (policy, device) DO UPDATE SET point = excluded.point, since_ms = excluded.since_ms',
    ),
    deleteAlarm: db.prepare('DELETE FROM alarm_state WHERE policy = ? AND device = ?'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
