/**
 * `m2m-gateway ledger verify`: walk the chain from genesis and check that
 * every stored row is what the chained bodies say (docs/ledger.md, "Verify").
 *
 * Per commit (in seq order): seq contiguous, prev_hash = previous hash,
 * hash = sha256(prev ‖ body), the body's own seq/atMs/policyVersion/counts
 * match the row, the events rows match the body. Then the bodies are
 * replayed (replay.ts): lines and their closed totals, closed hours,
 * channels, vouchers, policies and raised alarms must equal the replay
 * exactly; the device and account state must hash to the head commit's
 * digests; and the totals — closed hours plus open hours — must equal what
 * the chain accrued. v1 batches of a migrated ledger are replayed from their
 * full bodies. Any raw-SQL edit of any row is reported.
 *
 * What it cannot prove any more: the state between two commits (it is not
 * kept), and the readings behind a commit (they are not kept either).
 *
 * Runs read-only inside one read transaction (a consistent snapshot while a
 * daemon keeps committing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import canonicalize from 'canonicalize';
import Database from 'better-sqlite3';
import { type BatchBodyV1, fromBodyV1 } from './body-v1';
import { LedgerOpenError } from './errors';
import { type CommitBody, GENESIS_HASH, chainHash, fromBody, unpackText } from './hash-chain';
import { LedgerReplay, compareTables } from './replay';
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
  /** When ok: the ledger lines whose totals were proven (closed hours + open hours). */
  lines?: number;
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
  const state = { batches: 0, head: { seq: 0, hash: GENESIS_HASH } as LedgerHead, lines: 0 };
  try {
    db.exec('BEGIN');
    try {
      walk(db, state);
    } finally {
      db.exec('COMMIT');
    }
    return { ok: true, batches: state.batches, head: state.head, lines: state.lines };
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

function walk(db: Database.Database, progress: { batches: number; head: LedgerHead; lines: number }): void {
  const version = schemaVersion(db);
  if (version === 1)
    throw new Bad('schema version 1 (a ledger of an older release): start the gateway once to migrate it (a backup is kept), then verify');
  if (version !== SCHEMA_VERSION) throw new Bad(`schema version ${version}, this gateway verifies ${SCHEMA_VERSION}`);
  const page = db.prepare('SELECT * FROM batches WHERE seq > ? ORDER BY seq LIMIT ?');
  const eventsOf = db.prepare('SELECT kind, device, point, account, ts_ms, detail FROM events WHERE batch_seq = ? ORDER BY id');
  const replay = new LedgerReplay();
  let prev = GENESIS_HASH;
  let expected = 1;
  let eventRows = 0;
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
      let body: CommitBody | BatchBodyV1;
      try {
        body = JSON.parse(text) as CommitBody | BatchBodyV1;
      } catch {
        throw new Bad(`batch ${seq}: body is not JSON`, seq);
      }
      const events = eventsOf.all(seq) as EventColumns[];
      try {
        if (body.v === 1) {
          checkRow(row, body, [body.readings?.count, body.deltas?.length, body.accruals?.length]);
          checkEvents(seq, body, events);
          replay.applyV1(seq, fromBodyV1(body));
        } else if (body.v === 2) {
          checkRow(row, body, [body.metered?.readings, body.metered?.deltas, body.metered?.accruals]);
          checkEvents(seq, body, events);
          replay.applyV2(seq, fromBody(body));
        } else {
          throw new Bad(`batch ${seq}: unknown body version ${String((body as { v?: unknown }).v)}`, seq);
        }
      } catch (err) {
        if (err instanceof Bad) throw err;
        throw new Bad(`batch ${seq}: ${(err as Error).message}`, seq);
      }
      eventRows += events.length;
      prev = row.hash;
      progress.batches = seq;
      progress.head = { seq, hash: row.hash };
      expected++;
    }
  }
  const counts = db.prepare('SELECT count(*) AS e FROM events').get() as { e: number };
  if (counts.e !== eventRows) throw new Bad(`events: ${counts.e - eventRows} rows belong to no batch`);
  const diff = compareTables(db, replay);
  if (diff) throw new Bad(diff.reason);
  progress.lines = replay.lines.size;
}

function checkRow(
  row: BatchRow,
  body: { seq: number; atMs: number; policyVersion: number; events: unknown[]; vouchers: unknown[] },
  counts: unknown[],
): void {
  const seq = row.seq;
  const fields: Array<[string, unknown, unknown]> = [
    ['body seq', body.seq, seq],
    ['at_ms', body.atMs, row.at_ms],
    ['policy_version', body.policyVersion, row.policy_version],
    ['n_readings', counts[0], row.n_readings],
    ['n_deltas', counts[1], row.n_deltas],
    ['n_accruals', counts[2], row.n_accruals],
    ['n_events', body.events?.length, row.n_events],
    ['n_vouchers', body.vouchers?.length, row.n_vouchers],
  ];
  for (const [name, want, got] of fields) {
    if (want !== got) throw new Bad(`batch ${seq}: ${name} is ${String(got)}, the body says ${String(want)}`, seq);
  }
}

function checkEvents(
  seq: number,
  body: { events: Array<{ kind: string; device?: string; point?: string; account?: string; tsMs: number; detail: unknown }> },
  rows: EventColumns[],
): void {
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
