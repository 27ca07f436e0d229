/**
 * `m2m-gateway ledger verify`: walk the chain from genesis and check that
 * every stored row is what the chained bodies say.
 *
 * Per batch (in seq order): seq contiguous, prev_hash = previous hash,
 * hash = sha256(prev ‖ body), the body's own seq/atMs/policyVersion/counts
 * match the row, retained readings match the body's digest (batches at or
 * below the retention mark may have none), the events rows match the body.
 * Then the body contents are replayed (gateway/ledger/replay.ts) and the
 * totals, hourly buckets, channels, vouchers, policies and core state tables
 * must equal the replay exactly. Any raw-SQL edit of any row is reported.
 *
 * Runs read-only inside one read transaction (a consistent snapshot while a
 * daemon keeps committing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import canonicalize from 'canonicalize';
import Database from 'better-sqlite3';
import { LedgerOpenError } from './errors';
import { type BatchBody, GENESIS_HASH, chainHash, fromBody, sha256Hex, unpackText } from './hash-chain';
import { LedgerReplay, compareTables } from './replay';
import { prunedThroughSeq } from './retention';
import { SCHEMA_VERSION, schemaVersion } from './schema';
import type { EventRow } from './sqlite-queries';
import { LEDGER_FILE } from './sqlite-store';
import type { LedgerHead } from './store';

export interface LedgerVerifyResult {
  ok: boolean;
  /** Batches that verified, in chain order: all of them when ok, those before firstBadSeq otherwise. */
  batches: number;
  /** The last batch of the chain as stored. */
  head: LedgerHead;
  /** The first batch found bad, when the fault belongs to one. */
  firstBadSeq?: number;
  reason?: string;
}

class Bad extends Error {
  constructor(
    readonly reason: string,
    readonly seq?: number,
  ) {
    super(reason);
  }
}

interface BatchRow {
  seq: number;
  at_ms: number;
  policy_version: number;
  n_readings: number;
  n_deltas: number;
  n_accruals: number;
  n_events: number;
  n_vouchers: number;
  prev_hash: string;
  hash: string;
  body: Buffer;
}

/** The columns of an event row the verifier reads. */
type EventColumns = Omit<EventRow, 'id' | 'batch_seq'>;

const PAGE = 256;

/** Verify the ledger at `dbPath` (a ledger.db file, or a data directory holding one). */
export function verifyLedger(dbPath: string): LedgerVerifyResult {
  const file = fs.existsSync(dbPath) && fs.statSync(dbPath).isDirectory() ? path.join(dbPath, LEDGER_FILE) : dbPath;
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new LedgerOpenError(`cannot open ledger ${file}: ${(err as Error).message}`, err);
  }
  const state = { batches: 0, head: { seq: 0, hash: GENESIS_HASH } as LedgerHead };
  try {
    db.exec('BEGIN');
    try {
      walk(db, state);
    } finally {
      db.exec('COMMIT');
    }
    return { ok: true, batches: state.batches, head: state.head };
  } catch (err) {
    const head = safeHead(db);
    if (err instanceof Bad) {
      const r: LedgerVerifyResult = { ok: false, batches: state.batches, head, reason: err.reason };
      if (err.seq !== undefined) {
        r.firstBadSeq = err.seq;
        r.batches = Math.min(state.batches, err.seq - 1);
      }
      return r;
    }
    return { ok: false, batches: state.batches, head, reason: `cannot read the ledger: ${(err as Error).message}` };
  } finally {
    db.close();
  }
}

function safeHead(db: Database.Database): LedgerHead {
  try {
    const h = db.prepare('SELECT seq, hash FROM batches ORDER BY seq DESC LIMIT 1').get() as LedgerHead | undefined;
    return h ?? { seq: 0, hash: GENESIS_HASH };
  } catch {
    return { seq: 0, hash: GENESIS_HASH };
  }
}

function walk(db: Database.Database, progress: { batches: number; head: LedgerHead }): void {
  const version = schemaVersion(db);
  if (version !== SCHEMA_VERSION) throw new Bad(`schema version ${version}, this gateway verifies ${SCHEMA_VERSION}`);
  const prunedThrough = prunedThroughSeq(db);
  const page = db.prepare('SELECT * FROM batches WHERE seq > ? ORDER BY seq LIMIT ?');
  const readingsOf = db.prepare('SELECT n_readings, data FROM batch_readings WHERE batch_seq = ?');
  const eventsOf = db.prepare('SELECT kind, device, point, account, ts_ms, detail FROM events WHERE batch_seq = ? ORDER BY id');
  const replay = new LedgerReplay();
  let prev = GENESIS_HASH;
  let expected = 1;
  let readingRows = 0;
  let eventRows = 0;
  let chainPruned = 0;
  for (;;) {
    const rows = page.all(expected - 1, PAGE) as BatchRow[];
    if (rows.length === 0) break;
    for (const row of rows) {
      const seq = expected;
      if (row.seq !== seq) throw new Bad(`batch ${seq} is missing (next stored is ${row.seq})`, seq);
      if (row.prev_hash !== prev) throw new Bad(`batch ${seq}: prev_hash does not match batch ${seq - 1}`, seq);
      let text: string;
      try {
        text = unpackText(row.body);
      } catch {
        throw new Bad(`batch ${seq}: body cannot be decoded`, seq);
      }
      if (chainHash(prev, text) !== row.hash) throw new Bad(`batch ${seq}: hash does not match its body`, seq);
      let body: BatchBody;
      try {
        body = JSON.parse(text) as BatchBody;
      } catch {
        throw new Bad(`batch ${seq}: body is not JSON`, seq);
      }
      checkRow(row, body);
      if (body.pruned) {
        const t = body.pruned.throughSeq;
        if (!Number.isSafeInteger(t) || t >= seq || t < chainPruned) throw new Bad(`batch ${seq}: bad retention mark ${String(t)}`, seq);
        chainPruned = t;
      }
      readingRows += checkReadings(seq, body, readingsOf.get(seq) as ReadingsRow | undefined, prunedThrough);
      const events = eventsOf.all(seq) as EventColumns[];
      checkEvents(seq, body, events);
      eventRows += events.length;
      try {
        replay.apply(seq, fromBody(body));
      } catch (err) {
        throw new Bad(`batch ${seq}: ${(err as Error).message}`, seq);
      }
      prev = row.hash;
      progress.batches = seq;
      progress.head = { seq, hash: row.hash };
      expected++;
    }
  }
  if (prunedThrough !== chainPruned) {
    throw new Bad(`readings are marked pruned through batch ${prunedThrough}, the chain records ${chainPruned}`, Math.min(prunedThrough, chainPruned) + 1);
  }
  const counts = db.prepare('SELECT (SELECT count(*) FROM batch_readings) AS r, (SELECT count(*) FROM events) AS e').get() as { r: number; e: number };
  if (counts.r !== readingRows) throw new Bad(`batch_readings: ${counts.r - readingRows} rows belong to no batch`);
  if (counts.e !== eventRows) throw new Bad(`events: ${counts.e - eventRows} rows belong to no batch`);
  const diff = compareTables(db, replay);
  if (diff) throw new Bad(diff.reason, diff.seq);
}

function checkRow(row: BatchRow, body: BatchBody): void {
  const seq = row.seq;
  const fields: Array<[string, unknown, unknown]> = [
    ['body seq', body.seq, seq],
    ['at_ms', body.atMs, row.at_ms],
    ['policy_version', body.policyVersion, row.policy_version],
    ['n_readings', body.readings?.count, row.n_readings],
    ['n_deltas', body.deltas?.length, row.n_deltas],
    ['n_accruals', body.accruals?.length, row.n_accruals],
    ['n_events', body.events?.length, row.n_events],
    ['n_vouchers', body.vouchers?.length, row.n_vouchers],
  ];
  for (const [name, want, got] of fields) {
    if (want !== got) throw new Bad(`batch ${seq}: ${name} is ${String(got)}, the body says ${String(want)}`, seq);
  }
}

interface ReadingsRow {
  n_readings: number;
  data: Buffer;
}

function checkReadings(seq: number, body: BatchBody, row: ReadingsRow | undefined, prunedThrough: number): number {
  if (!row) {
    if (body.readings.count === 0 || seq <= prunedThrough) return 0;
    throw new Bad(`batch ${seq}: its ${body.readings.count} readings are missing`, seq);
  }
  let text: string;
  let count: number;
  try {
    text = unpackText(row.data);
    count = (JSON.parse(text) as unknown[]).length;
  } catch {
    throw new Bad(`batch ${seq}: readings cannot be decoded`, seq);
  }
  if (count !== body.readings.count || row.n_readings !== count || sha256Hex(text) !== body.readings.digest) {
    throw new Bad(`batch ${seq}: readings do not match the body's digest`, seq);
  }
  return 1;
}

function checkEvents(seq: number, body: BatchBody, rows: EventColumns[]): void {
  if (rows.length !== body.events.length) throw new Bad(`batch ${seq}: ${rows.length} event rows, the body has ${body.events.length}`, seq);
  rows.forEach((r, i) => {
    const e = body.events[i];
    let detail: string | undefined;
    try {
      detail = canonicalize(JSON.parse(r.detail));
    } catch {
      detail = undefined;
    }
    const same =
      r.kind === e.kind &&
      r.device === (e.device ?? null) &&
      r.point === (e.point ?? null) &&
      r.account === (e.account ?? null) &&
      r.ts_ms === e.tsMs &&
      detail === canonicalize(e.detail);
    if (!same) throw new Bad(`batch ${seq}: event ${i} does not match the body`, seq);
  });
}
