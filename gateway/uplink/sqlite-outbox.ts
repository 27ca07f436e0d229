/**
 * The outbox on disk: `<dataDir>/outbox.db` (better-sqlite3, WAL, mode 0600),
 * used the way the ledger uses SQLite (ledger/sqlite-store.ts).
 *
 * One row per queued message, keyed by its seq. The last seq handed out is kept
 * in `outbox_meta` and written in the same transaction as the row, so a seq is
 * never reused across restarts even after the queue was emptied. With
 * `synchronous=NORMAL` a put survives a process crash (kill -9) once it
 * returns; only an OS crash or power loss can lose the most recent ones.
 */
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { ensurePrivateDir, touchPrivateFile } from '../base/private-files';
import { OutboxClosedError, OutboxOpenError } from './errors';
import { checkMaxQueued, type Outbox, type OutboxEntry, type OutboxOptions, type PutResult } from './outbox';

export const OUTBOX_FILE = 'outbox.db';
const SCHEMA_VERSION = 1;

type Db = Database.Database;

function migrate(db: Db): void {
  const v = Number(db.pragma('user_version', { simple: true }));
  if (v === SCHEMA_VERSION) return;
  if (v !== 0) throw new OutboxOpenError(`outbox schema version ${v} is not supported by this build (expected ${SCHEMA_VERSION})`);
  db.exec(`
    CREATE TABLE outbox (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, body TEXT NOT NULL) STRICT;
    CREATE TABLE outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
    INSERT INTO outbox_meta (key, value) VALUES ('last_seq', 0);
    PRAGMA user_version = ${SCHEMA_VERSION};
  `);
}

export class SqliteOutbox implements Outbox {
  readonly maxQueued: number;
  private conn: Db | null;
  private last: number;
  private queued: number;
  private readonly putTx: (topic: string, body: string) => PutResult;
  private readonly st: {
    insert: Database.Statement<[number, string, string]>;
    setLast: Database.Statement<[number]>;
    dropOldest: Database.Statement<[number]>;
    peek: Database.Statement<[number, number], OutboxEntry>;
    del: Database.Statement<[number]>;
  };

  /** Open (creating if needed) `<dataDir>/outbox.db`; the data dir is created (0700) when missing. */
  static open(dataDir: string, opts: OutboxOptions = {}): SqliteOutbox {
    try {
      ensurePrivateDir(dataDir);
    } catch (err) {
      throw new OutboxOpenError(`cannot create data directory ${dataDir}: ${(err as Error).message}`, err);
    }
    return SqliteOutbox.openFile(path.join(dataDir, OUTBOX_FILE), opts);
  }

  /** Open an outbox file by path (created with mode 0600). */
  static openFile(file: string, opts: OutboxOptions = {}): SqliteOutbox {
    const maxQueued = checkMaxQueued(opts.maxQueued);
    let db: Db | undefined;
    try {
      touchPrivateFile(file);
      db = new Database(file);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (String(mode).toLowerCase() !== 'wal') throw new Error(`journal_mode is ${String(mode)}, not wal`);
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      migrate(db);
      return new SqliteOutbox(db, file, maxQueued);
    } catch (err) {
      db?.close();
      if (err instanceof OutboxOpenError) throw err;
      throw new OutboxOpenError(`cannot open outbox ${file}: ${(err as Error).message}`, err);
    }
  }

  private constructor(
    db: Db,
    readonly file: string,
    maxQueued: number,
  ) {
    this.conn = db;
    this.maxQueued = maxQueued;
    this.st = {
      insert: db.prepare('INSERT INTO outbox (seq, topic, body) VALUES (?, ?, ?)'),
      setLast: db.prepare("UPDATE outbox_meta SET value = ? WHERE key = 'last_seq'"),
      dropOldest: db.prepare('DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)'),
      peek: db.prepare('SELECT seq, topic, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?'),
      del: db.prepare('DELETE FROM outbox WHERE seq = ?'),
    };
    const meta = db.prepare("SELECT value FROM outbox_meta WHERE key = 'last_seq'").pluck().get() as number | undefined;
    const maxRow = db.prepare('SELECT MAX(seq) FROM outbox').pluck().get() as number | null;
    this.last = Math.max(meta ?? 0, maxRow ?? 0);
    this.queued = db.prepare('SELECT COUNT(*) FROM outbox').pluck().get() as number;
    this.putTx = db.transaction((topic: string, body: string): PutResult => {
      const over = this.queued + 1 - this.maxQueued;
      const dropped = over > 0 ? this.st.dropOldest.run(over).changes : 0;
      const seq = this.last + 1;
      this.st.insert.run(seq, topic, body);
      this.st.setLast.run(seq);
      return { seq, dropped };
    });
  }

  put(topic: string, body: string): PutResult {
    this.db();
    const r = this.putTx(topic, body);
    // Only after the commit: a failed transaction leaves the counters as they were.
    this.last = r.seq;
    this.queued += 1 - r.dropped;
    return r;
  }

  peek(limit: number, afterSeq = 0): OutboxEntry[] {
    this.db();
    if (limit <= 0) return [];
    return this.st.peek.all(afterSeq, limit);
  }

  del(seq: number): boolean {
    this.db();
    const gone = this.st.del.run(seq).changes > 0;
    if (gone) this.queued--;
    return gone;
  }

  count(): number {
    this.db();
    return this.queued;
  }

  lastSeq(): number {
    this.db();
    return this.last;
  }

  close(): void {
    if (!this.conn) return;
    this.conn.close();
    this.conn = null;
  }

  private db(): Db {
    if (!this.conn) throw new OutboxClosedError();
    return this.conn;
  }
}
