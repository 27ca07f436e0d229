/**
 * The ledger's SQLite schema and its migrations (one per version, applied in
 * a transaction each, recorded in `schema_migrations`; a new file goes
 * through all of them). docs/ledger.md describes the tables.
 *
 * Number storage: every bigint (quantities, money, raw counter values up to
 * 2^64-1, remainders) is TEXT holding a decimal integer, and all arithmetic
 * on them happens in JS bigint — exact at any size, never a float, never a
 * wrap (SQLite's own integer `+` silently turns into REAL on overflow).
 * Times and sequence numbers are INTEGER (they fit a JS number).
 *
 * Tables (version 2, "the ledger keeps money, not readings"):
 *  - batches: the hash chain, one row per commit; `body` is its canonical
 *    JSON (hash-chain.ts), raw-deflated. The n_* columns count what the
 *    commit summarises (readings, deltas, accruals metered; events, vouchers).
 *  - lines: one row per (device, point, account, payee) with an id, the
 *    totals of its closed hours and the latest of them; hours: (hour, line) → quantity and amount
 *    of each closed hour. Totals = closed hours + the open hour.
 *  - device_layout / device_state: the packed core state of each device
 *    (device-state.ts): slots, remainders, open hours. Only devices that
 *    changed are rewritten by a commit.
 *  - account_state: unsettled amount and credit flag per account.
 *  - alarm_state: raised alarms (alarm-state.ts).
 *  - channels: closed accrued amount, vouchered amount and last seq.
 *  - events, policies: kept in full (also in the bodies).
 *  - vouchers (version 3): channel, seq, amount, issue time and the batch that
 *    recorded it; the signed JSON itself only in that batch's body, where it
 *    is chained (sqlite-queries.ts reads it from there), not a second time.
 *    Indexed by issue time for `GET /api/vouchers?since=`.
 *  - history: downsampled readings when `ledger.history` is on (history.ts).
 *  - meta: key/value.
 * Version 1 (kept below, never edited) stored every reading and every delta
 * and accrual; migrate-v1.ts moves a v1 ledger to version 2.
 */
import type Database from 'better-sqlite3';
import { LedgerSchemaError } from './errors';
import { migrateV1Data } from './migrate-v1';

export interface Migration {
  version: number;
  description: string;
  sql: string;
  /** Data steps after `sql`, in the same transaction. */
  run?: (db: Database.Database, nowMs: number) => void;
}

const V1 = `
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE batches (
  seq INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  policy_version INTEGER NOT NULL,
  n_readings INTEGER NOT NULL,
  n_deltas INTEGER NOT NULL,
  n_accruals INTEGER NOT NULL,
  n_events INTEGER NOT NULL,
  n_vouchers INTEGER NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  body BLOB NOT NULL
);
CREATE INDEX batches_by_time ON batches(at_ms);

CREATE TABLE batch_readings (
  batch_seq INTEGER PRIMARY KEY,
  n_readings INTEGER NOT NULL,
  data BLOB NOT NULL
);

CREATE TABLE totals (
  device TEXT NOT NULL,
  point TEXT NOT NULL,
  account TEXT NOT NULL,
  payee TEXT NOT NULL,
  quantity_micro TEXT NOT NULL,
  amount_nano TEXT NOT NULL,
  PRIMARY KEY (device, point, account, payee)
) WITHOUT ROWID;

CREATE TABLE hourly (
  device TEXT NOT NULL,
  point TEXT NOT NULL,
  account TEXT NOT NULL,
  payee TEXT NOT NULL,
  hour_ms INTEGER NOT NULL,
  quantity_micro TEXT NOT NULL,
  amount_nano TEXT NOT NULL,
  PRIMARY KEY (device, point, account, payee, hour_ms)
) WITHOUT ROWID;
CREATE INDEX hourly_by_hour ON hourly(hour_ms);

CREATE TABLE channels (
  channel TEXT PRIMARY KEY,
  payer TEXT NOT NULL,
  payee TEXT NOT NULL,
  accrued_nano TEXT NOT NULL,
  vouchered_nano TEXT NOT NULL,
  last_seq INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE vouchers (
  channel TEXT NOT NULL,
  seq INTEGER NOT NULL,
  amount_nano TEXT NOT NULL,
  json TEXT NOT NULL,
  issued_at_ms INTEGER NOT NULL,
  batch_seq INTEGER NOT NULL,
  PRIMARY KEY (channel, seq)
) WITHOUT ROWID;

CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  batch_seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  device TEXT,
  point TEXT,
  account TEXT,
  ts_ms INTEGER NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX events_by_time ON events(ts_ms);
CREATE INDEX events_by_device ON events(device, ts_ms);
CREATE INDEX events_by_batch ON events(batch_seq);

CREATE TABLE policies (
  version INTEGER PRIMARY KEY,
  hash TEXT NOT NULL,
  flows_json TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  batch_seq INTEGER NOT NULL
);

CREATE TABLE slot_state (
  device TEXT NOT NULL,
  point TEXT NOT NULL,
  has_baseline INTEGER NOT NULL,
  last_raw TEXT NOT NULL,
  last_ts_ms INTEGER NOT NULL,
  held_raw TEXT,
  held_ts_ms INTEGER NOT NULL,
  batch_seq INTEGER NOT NULL,
  PRIMARY KEY (device, point)
) WITHOUT ROWID;

CREATE TABLE line_state (
  device TEXT NOT NULL,
  point TEXT NOT NULL,
  account TEXT NOT NULL,
  payee TEXT NOT NULL,
  remainder TEXT NOT NULL,
  batch_seq INTEGER NOT NULL,
  PRIMARY KEY (device, point, account, payee)
) WITHOUT ROWID;

CREATE TABLE account_state (
  account TEXT PRIMARY KEY,
  unsettled_nano TEXT NOT NULL,
  over_limit INTEGER NOT NULL,
  batch_seq INTEGER NOT NULL
) WITHOUT ROWID;
`;

const V2 = `
CREATE TABLE lines (
  id INTEGER PRIMARY KEY,
  device TEXT NOT NULL,
  point TEXT NOT NULL,
  account TEXT NOT NULL,
  payee TEXT NOT NULL,
  quantity_micro TEXT NOT NULL,
  amount_nano TEXT NOT NULL,
  last_hour_ms INTEGER
);
CREATE UNIQUE INDEX lines_by_key ON lines(device, point, account, payee);

CREATE TABLE hours (
  hour_ms INTEGER NOT NULL,
  line_id INTEGER NOT NULL,
  quantity_micro TEXT NOT NULL,
  amount_nano TEXT NOT NULL,
  PRIMARY KEY (hour_ms, line_id)
) WITHOUT ROWID;

CREATE TABLE device_layout (
  id INTEGER PRIMARY KEY,
  device TEXT NOT NULL UNIQUE,
  layout TEXT NOT NULL
);

CREATE TABLE device_state (
  id INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);

CREATE TABLE alarm_state (
  policy TEXT NOT NULL,
  device TEXT NOT NULL,
  point TEXT NOT NULL,
  since_ms INTEGER NOT NULL,
  PRIMARY KEY (policy, device)
) WITHOUT ROWID;

CREATE TABLE history (
  at_ms INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);
`;

/**
 * Version 3: each voucher's JSON was kept twice, in its row and in its batch's
 * body (about 400 of the 770 bytes a voucher cost); the body keeps it. A
 * collector's `?since=` poll read every voucher ever issued; it reads the new
 * ones by the index.
 */
const V3 = `
ALTER TABLE vouchers DROP COLUMN json;
CREATE INDEX vouchers_by_time ON vouchers(issued_at_ms);
`;

/** One entry per schema version, in order. Never edit a released entry: add the next one. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: 'initial ledger schema', sql: V1 },
  { version: 2, description: 'the ledger keeps money, not readings', sql: V2, run: migrateV1Data },
  { version: 3, description: 'vouchers: the signed JSON only in the batch body; indexed by issue time', sql: V3 },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  description TEXT NOT NULL,
  applied_at_ms INTEGER NOT NULL
)`;

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** The schema version of an open database: 0 for an empty file. Throws for a file that is not a ledger. */
export function schemaVersion(db: Database.Database): number {
  if (!hasTable(db, 'schema_migrations')) {
    const n = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
    if (n.n > 0) throw new LedgerSchemaError('the database has tables but no schema_migrations: not a ledger');
    return 0;
  }
  const row = db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

/** Bring the schema up to SCHEMA_VERSION. Refuses a database written by a newer gateway. */
export function migrate(db: Database.Database, nowMs: number = Date.now()): number {
  for (const m of MIGRATIONS) {
    db.transaction(() => {
      // Read the version inside the write transaction: two processes opening
      // the same new file cannot both apply a migration.
      const current = schemaVersion(db);
      if (current > SCHEMA_VERSION) {
        throw new LedgerSchemaError(`ledger schema version ${current} is newer than this gateway supports (${SCHEMA_VERSION})`);
      }
      if (m.version <= current) return;
      db.exec(MIGRATIONS_TABLE);
      db.exec(m.sql);
      m.run?.(db, nowMs);
      db.prepare('INSERT INTO schema_migrations (version, description, applied_at_ms) VALUES (?, ?, ?)').run(
        m.version,
        m.description,
        nowMs,
      );
    }).immediate();
  }
  return SCHEMA_VERSION;
}
