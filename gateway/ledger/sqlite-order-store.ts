/**
 * Service orders on disk: `<dataDir>/orders.db` (better-sqlite3, WAL,
 * `synchronous=FULL`, mode 0600), next to the ledger and apart from it so the
 * ledger's own schema is untouched. Every transition is one statement that
 * commits before it returns, so an order opened, acknowledged or closed
 * survives kill -9 (and, with FULL, a power cut). The table is created with
 * `CREATE TABLE IF NOT EXISTS`; a newer schema is refused.
 */
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { ensurePrivateDir, touchPrivateFile } from '../base/private-files';
import { LedgerOpenError } from './errors';
import type { OrderListFilter, OrderRecord, OrderState, OrderStore } from './order-store';

export const ORDERS_FILE = 'orders.db';
const SCHEMA_VERSION = 1;

interface Row {
  id: string;
  gateway_id: string;
  policy: string;
  device: string;
  point: string;
  reason: string;
  value: string;
  predicted_days: string | null;
  provider: string;
  fee: string;
  payee: string | null;
  state: OrderState;
  opened_at_ms: number;
  acked_at_ms: number | null;
  closed_at_ms: number | null;
  billed: number;
}

const COLUMNS =
  'id, gateway_id, policy, device, point, reason, value, predicted_days, provider, fee, payee, state, opened_at_ms, acked_at_ms, closed_at_ms, billed';

function toRecord(r: Row): OrderRecord {
  return {
    id: r.id,
    gatewayId: r.gateway_id,
    policy: r.policy,
    device: r.device,
    point: r.point,
    reason: r.reason,
    value: r.value,
    predictedDays: r.predicted_days,
    provider: JSON.parse(r.provider) as string[],
    fee: r.fee,
    payee: r.payee,
    state: r.state,
    openedAtMs: r.opened_at_ms,
    ackedAtMs: r.acked_at_ms,
    closedAtMs: r.closed_at_ms,
    billed: r.billed === 1,
  };
}

export class SqliteOrderStore implements OrderStore {
  private conn: Database.Database | null;

  /** Open (creating if needed) `<dataDir>/orders.db`. */
  static open(dataDir: string): SqliteOrderStore {
    const file = path.join(dataDir, ORDERS_FILE);
    let db: Database.Database | undefined;
    try {
      ensurePrivateDir(dataDir);
      touchPrivateFile(file);
      db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 5000');
      const v = Number(db.pragma('user_version', { simple: true }));
      if (v > SCHEMA_VERSION) throw new Error(`schema version ${v} is newer than this build's ${SCHEMA_VERSION}`);
      db.exec(`
        CREATE TABLE IF NOT EXISTS service_orders (
          id TEXT PRIMARY KEY, gateway_id TEXT NOT NULL, policy TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL,
          reason TEXT NOT NULL, value TEXT NOT NULL, predicted_days TEXT, provider TEXT NOT NULL, fee TEXT NOT NULL, payee TEXT,
          state TEXT NOT NULL CHECK (state IN ('open', 'acked', 'closed')),
          opened_at_ms INTEGER NOT NULL, acked_at_ms INTEGER, closed_at_ms INTEGER, billed INTEGER NOT NULL DEFAULT 0
        ) STRICT;
        CREATE INDEX IF NOT EXISTS service_orders_state ON service_orders (state);
        PRAGMA user_version = ${SCHEMA_VERSION};
      `);
      return new SqliteOrderStore(db);
    } catch (err) {
      db?.close();
      throw new LedgerOpenError(`cannot open the orders store ${file}: ${(err as Error).message}`, err);
    }
  }

  private constructor(db: Database.Database) {
    this.conn = db;
  }

  open(o: OrderRecord): void {
    if (o.state !== 'open') throw new RangeError(`a new order is open, not ${o.state}`);
    this.db()
      .prepare(`INSERT INTO service_orders (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(
        o.id,
        o.gatewayId,
        o.policy,
        o.device,
        o.point,
        o.reason,
        o.value,
        o.predictedDays,
        JSON.stringify(o.provider),
        o.fee,
        o.payee,
        o.state,
        o.openedAtMs,
        o.ackedAtMs,
        o.closedAtMs,
        o.billed ? 1 : 0,
      );
  }

  acknowledge(id: string, atMs: number): boolean {
    return (
      this.db().prepare("UPDATE service_orders SET state = 'acked', acked_at_ms = ? WHERE id = ? AND state = 'open'").run(atMs, id)
        .changes === 1
    );
  }

  closeOrder(id: string, atMs: number, billed: boolean): boolean {
    return (
      this.db()
        .prepare("UPDATE service_orders SET state = 'closed', closed_at_ms = ?, billed = ? WHERE id = ? AND state != 'closed'")
        .run(atMs, billed ? 1 : 0, id).changes === 1
    );
  }

  get(id: string): OrderRecord | undefined {
    const r = this.db().prepare(`SELECT ${COLUMNS} FROM service_orders WHERE id = ?`).get(id) as Row | undefined;
    return r && toRecord(r);
  }

  active(): OrderRecord[] {
    return (
      this.db().prepare(`SELECT ${COLUMNS} FROM service_orders WHERE state != 'closed' ORDER BY opened_at_ms, id`).all() as Row[]
    ).map(toRecord);
  }

  list(f: OrderListFilter = {}): OrderRecord[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (f.state !== undefined) {
      where.push('state = ?');
      args.push(f.state);
    }
    if (f.device !== undefined) {
      where.push('device = ?');
      args.push(f.device);
    }
    const sql = `SELECT ${COLUMNS} FROM service_orders ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY opened_at_ms DESC, id DESC LIMIT ?`;
    return (
      this.db()
        .prepare(sql)
        .all(...args, f.limit ?? 100) as Row[]
    ).map(toRecord);
  }

  billedCount(device: string, point: string, payee: string): number {
    return this.db()
      .prepare('SELECT COUNT(*) FROM service_orders WHERE billed = 1 AND device = ? AND point = ? AND payee = ?')
      .pluck()
      .get(device, point, payee) as number;
  }

  close(): void {
    this.conn?.close();
    this.conn = null;
  }

  private db(): Database.Database {
    if (!this.conn) throw new LedgerOpenError('the orders store is closed');
    return this.conn;
  }
}
