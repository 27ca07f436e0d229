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
    insertBatch: db.prepare(
      `INSERT INTO batches (seq, at_ms, policy_version, n_readings, n_deltas, n_accruals, n_events, n_vouchers, prev_hash, hash, body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertReadings: db.prepare('INSERT INTO batch_readings (batch_seq, n_readings, data) VALUES (?, ?, ?)'),
    getTotal: db.prepare(
      'SELECT quantity_micro, amount_nano FROM totals WHERE device = ? AND point = ? AND account = ? AND payee = ?',
    ),
    putTotals: new BulkUpsert(
      db,
      'INSERT INTO totals (device, point, account, payee, quantity_micro, amount_nano)',
      6,
      `ON CONFLICT (device, point, account, payee) DO UPDATE SET quantity_micro = excluded.quantity_micro,
       amount_nano = excluded.amount_nano`,
    ),
    getHourly: db.prepare(
      'SELECT quantity_micro, amount_nano FROM hourly WHERE device = ? AND point = ? AND account = ? AND payee = ? AND hour_ms = ?',
    ),
    putHourly: new BulkUpsert(
      db,
      'INSERT INTO hourly (device, point, account, payee, hour_ms, quantity_micro, amount_nano)',
      7,
      `ON CONFLICT (device, point, account, payee, hour_ms) DO UPDATE SET quantity_micro = excluded.quantity_micro,
       amount_nano = excluded.amount_nano`,
    ),
    getChannel: db.prepare('SELECT channel, payer, payee, accrued_nano, vouchered_nano, last_seq FROM channels WHERE channel = ?'),
    putChannel: db.prepare(
      `INSERT INTO channels (channel, payer, payee, accrued_nano, vouchered_nano, last_seq) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (channel) DO UPDATE SET accrued_nano = excluded.accrued_nano, vouchered_nano = excluded.vouchered_nano,
       last_seq = excluded.last_seq`,
    ),
    insertVoucher: db.prepare(
      'INSERT INTO vouchers (channel, seq, amount_nano, json, issued_at_ms, batch_seq) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    insertEvent: db.prepare(
      'INSERT INTO events (batch_seq, kind, device, point, account, ts_ms, detail) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    latestPolicy: db.prepare('SELECT version, hash, flows_json, at_ms, batch_seq FROM policies ORDER BY version DESC LIMIT 1'),
    insertPolicy: db.prepare('INSERT INTO policies (version, hash, flows_json, at_ms, batch_seq) VALUES (?, ?, ?, ?, ?)'),
    putSlots: new BulkUpsert(
      db,
      'INSERT INTO slot_state (device, point, has_baseline, last_raw, last_ts_ms, held_raw, held_ts_ms, batch_seq)',
      8,
      `ON CONFLICT (device, point) DO UPDATE SET has_baseline = excluded.has_baseline, last_raw = excluded.last_raw,
       last_ts_ms = excluded.last_ts_ms, held_raw = excluded.held_raw, held_ts_ms = excluded.held_ts_ms, batch_seq = excluded.batch_seq`,
    ),
    putLines: new BulkUpsert(
      db,
      'INSERT INTO line_state (device, point, account, payee, remainder, batch_seq)',
      6,
      'ON CONFLICT (device, point, account, payee) DO UPDATE SET remainder = excluded.remainder, batch_seq = excluded.batch_seq',
    ),
    putAccount: db.prepare(
      `INSERT INTO account_state (account, unsettled_nano, over_limit, batch_seq) VALUES (?, ?, ?, ?)
       ON CONFLICT (account) DO UPDATE SET unsettled_nano = excluded.unsettled_nano, over_limit = excluded.over_limit,
       batch_seq = excluded.batch_seq`,
    ),
    allSlots: db.prepare(
      'SELECT device, point, has_baseline, last_raw, last_ts_ms, held_raw, held_ts_ms FROM slot_state ORDER BY device, point',
    ),
    allLines: db.prepare('SELECT device, point, account, payee, remainder FROM line_state ORDER BY device, point, account, payee'),
    allAccounts: db.prepare('SELECT account, unsettled_nano, over_limit FROM account_state ORDER BY account'),
    allChannels: db.prepare(
      'SELECT channel, payer, payee, accrued_nano, vouchered_nano, last_seq FROM channels ORDER BY channel',
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
